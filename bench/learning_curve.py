"""The demo's pretrain stage as a learning curve: PSNR gain and detail kept on unseen scenes every few epochs.

    python bench/learning_curve.py                                   # bggan-demo's pretrain: 408 pairs, 30 epochs
    python bench/learning_curve.py --epochs 30 --every 5 trainer.precision=32-true
    python bench/learning_curve.py --epochs 20 --every 5 model.generator.c2=24 stage.lr_schedule=constant

It trains through the real code, ``bggan-train experiment=demo stage=pretrain`` at the demo's size and precision
(bf16-mixed where the CPU has bfloat16 instructions; ``trainer.precision=32-true`` overrides it) with
``--pairs`` pairs (the last 8 validate), keeps a checkpoint every ``--every`` epochs and scores each on
``--test-scenes`` scenes that no run has seen (the seeds after the pairs, as ``bggan-demo`` scores): the PSNR
gain over the identity baseline and the detail kept per band of the target's circle of confusion
(:mod:`bggan.evaluate.bands`). Further arguments are Hydra overrides of the training run, for levers. A cosine
schedule (the demo's) spans ``--epochs``, so its earlier rows are not runs of their own length.
The run folder is temporary unless ``--out`` names one; 2-3 minutes per 1000 steps
on 2 cores in bf16-mixed.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
import warnings
from pathlib import Path

from hydra.errors import HydraException

from bggan.cli.demo import compose, demo_size, quiet_known_warnings, size_overrides, training_precision
from bggan.errors import BgganError


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=408, help="synthetic pairs, the last 8 validate (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=30, help="default: %(default)s")
    p.add_argument("--every", type=int, default=10, help="epochs between scored checkpoints (default: %(default)s)")
    p.add_argument("--test-scenes", type=int, default=32, help="default: %(default)s")
    p.add_argument("--size", default="192x288", help="HxW of the pairs (default: %(default)s)")
    p.add_argument("--out", help="keep the run folder here (default: a temporary folder)")
    p.add_argument("overrides", nargs="*", help="Hydra overrides of the training run (key=value)")
    args = p.parse_args()
    if args.every < 1 or args.epochs < args.every or args.pairs < 9 or args.test_scenes < 1:
        p.error("need --every >= 1, --epochs >= --every, --pairs >= 9 and --test-scenes >= 1")
    warnings.filterwarnings("ignore")
    quiet_known_warnings()
    try:
        curve(args)
    except (BgganError, HydraException) as e:  # a bad --size or override, an --out that holds a run: one line
        p.error(str(e).splitlines()[0])


def curve(args: argparse.Namespace) -> None:
    from bggan.evaluate.compare import compare
    from bggan.train import build, train

    with tempfile.TemporaryDirectory(prefix="bggan-curve-") as tmp:
        run_dir = Path(args.out or tmp)
        cfg = compose(["experiment=demo", "stage=pretrain", "name=curve", *size_overrides(*demo_size(args.size)),
                       f"data.pairs.n={args.pairs}", f"trainer.max_epochs={args.epochs}",
                       f"trainer.check_val_every_n_epoch={args.every}", "trainer.enable_progress_bar=false",
                       "trainer.enable_model_summary=false", "checkpoint.monitor=null", "checkpoint.save_top_k=-1",
                       f"checkpoint.every_n_epochs={args.every}", "checkpoint.filename='epoch{epoch:03d}-step{step}'",
                       f"trainer.precision={training_precision('auto')}", *args.overrides])
        started = time.perf_counter()
        train(cfg, run_dir)
        minutes = (time.perf_counter() - started) / 60
        pairs = build(cfg.data.pairs, cache=False)
        test = pairs.unseen(args.test_scenes)
        # (epochs, optimizer steps) -> checkpoint, both as the trainer counted them
        checkpoints = {(int(m[1]) + 1, int(m[2])): c for c in (run_dir / "checkpoints").glob("epoch*.ckpt")
                       if (m := re.fullmatch(r"epoch(\d+)-step(\d+)", c.stem))}
        comparison = compare([test[i] for i in range(len(test))],
                             {f"epoch {e}": c for (e, _), c in sorted(checkpoints.items())})

    epochs, steps = min(checkpoints)
    print(f"\n{args.pairs - pairs.holdout} training pairs at {args.size}, {steps // epochs} steps per epoch, "
          f"{minutes:.1f} min of training (validation and checkpoints included); scored on {len(test)} unseen scenes "
          f"(seeds {test.seeds[0]}-{test.seeds[-1]}); {cfg.trainer.precision}; overrides: {' '.join(args.overrides) or 'none'}")
    print("| epochs | steps | PSNR gain (dB) | in focus: detail kept | out of focus: detail kept |\n|---:|---:|---:|---:|---:|")
    for epoch, steps in sorted(checkpoints):
        m = comparison.metrics(f"epoch {epoch}")
        detail = {name: band.detail for name, band in (m.bands or {}).items()}
        print(f"| {epoch} | {steps} | {m.psnr - comparison.identity.psnr:+.2f} | "
              f"{_value(detail.get('in_focus'))} | {_value(detail.get('out_of_focus'))} |")


def _value(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


if __name__ == "__main__":
    main()
