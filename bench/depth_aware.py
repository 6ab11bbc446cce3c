"""A depth-aware Glass-Net trained on this CPU and measured beside the classical renderer given the same depth.

    python bench/depth_aware.py                                          # the depth demo's pretrain
    python bench/depth_aware.py model.generator.stack=null               # the defocus map as an input channel only
    python bench/depth_aware.py --epochs 10 data.pairs.phone_depth=null  # trained on the true depth only
    python bench/depth_aware.py --weights runs/x/generator.safetensors   # score a generator, no training
    python bench/depth_aware.py --weights g.safetensors --synthetic-depths all --highlights 6

It trains through the real code, ``bggan-train experiment=depth_demo`` (the precision as ``bggan-demo`` picks it),
then scores the generator (:mod:`bggan.evaluate.depth_aware`) on ``--test-scenes`` synthetic scenes no run has seen
(the seeds after the pairs, none with no blur) with the true depth and as a phone delivers it, and on the real photo
with measured depth (Middlebury's Motorcycle, 85 mm f/1.8 focused on the motorcycle at 2.4 m) with the true depth,
an 8x smaller 8-bit map and a phone's mix of errors. Further arguments are Hydra overrides of the training run. The
run folder is temporary unless ``--out`` names one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

from hydra.errors import HydraException

from bggan.cli.demo import compose, quiet_known_warnings, training_precision
from bggan.errors import BgganError

#: The real photo's focus and lens (the motorcycle is 2.3-2.7 m away, the shelves behind it 4-5 m).
REAL_FOCUS_M, REAL_FOCAL_MM, REAL_F_NUMBER = 2.4, 85.0, 1.8


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=None, help="pretrain epochs (default: the experiment's)")
    p.add_argument("--test-scenes", type=int, default=32, help="default: %(default)s")
    p.add_argument("--test-seed", type=int, default=None,
                   help="the first test scene's seed (default: the one after the training pairs, as bggan-depth-demo)")
    p.add_argument("--weights", help="score this generator instead of training one")
    p.add_argument("--out", help="keep the run folder here (default: a temporary folder)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--synthetic-depths", default="clean,phone",
                   help="the depths given on the synthetic scenes, names of bggan.evaluate.depth_aware.DEPTHS or "
                        "'all' (default: %(default)s)")
    p.add_argument("--highlights", type=float, default=1.0,
                   help="the classical renderer's highlight gain (bggan-synth --highlights; default: 1, as shot)")
    p.add_argument("overrides", nargs="*", help="Hydra overrides of the training run (key=value)")
    args = p.parse_args()
    if args.test_scenes < 1 or (args.epochs is not None and args.epochs < 1):
        p.error("need --test-scenes >= 1 and --epochs >= 1")
    warnings.filterwarnings("ignore")
    quiet_known_warnings()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        run(args)
    except (BgganError, HydraException) as e:
        p.error(str(e).splitlines()[0])


def run(args: argparse.Namespace) -> None:
    from bggan.data.defocus import Lens
    from bggan.data.middlebury import motorcycle
    from bggan.evaluate.depth_aware import (
        DEPTHS,
        model_renderer,
        real_scores,
        real_table,
        synthetic_scores,
        synthetic_table,
    )
    from bggan.models import load_generator
    from bggan.train import build, train

    cfg = compose(["experiment=depth_demo", "name=depth", "trainer.enable_progress_bar=false",
                   "trainer.enable_model_summary=false", f"trainer.precision={training_precision('auto')}",
                   *([f"trainer.max_epochs={args.epochs}"] if args.epochs else []), *args.overrides])
    minutes = None
    with tempfile.TemporaryDirectory(prefix="bggan-depth-") as tmp:
        weights = args.weights
        if weights is None:
            started = time.perf_counter()
            weights = train(cfg, Path(args.out or tmp)).generator
            minutes = (time.perf_counter() - started) / 60
        model = load_generator(weights)
    render = model_renderer(model)
    pairs = build(cfg.data.pairs, cache=False, no_blur=0.0)
    if args.test_seed is not None:  # scenes further on: the pairs' seeds shifted so that the unseen ones start there
        pairs = build(cfg.data.pairs, cache=False, no_blur=0.0, seed=args.test_seed - pairs.n)
    test = pairs.unseen(args.test_scenes)
    started = time.perf_counter()
    depths = tuple(DEPTHS) if args.synthetic_depths == "all" else tuple(args.synthetic_depths.split(","))
    if unknown := set(depths) - set(DEPTHS):
        raise BgganError(f"--synthetic-depths: unknown {', '.join(sorted(unknown))} (known: {', '.join(DEPTHS)})")
    synthetic = synthetic_scores(render, [test[i] for i in range(len(test))], depths,
                                 Lens(focal_mm=pairs.lens.focal_mm), args.highlights)
    scene = motorcycle()
    real = real_scores(render, scene.photo, scene.filled_depth(), scene.known, REAL_FOCUS_M,
                       Lens(REAL_FOCAL_MM, REAL_F_NUMBER), ("clean", "8x_8_bit", "phone"))
    print(f"\n{model.summary()}; overrides: {' '.join(args.overrides) or 'none'}; "
          + (f"{minutes:.1f} min of training ({cfg.trainer.precision}, {cfg.trainer.max_epochs} epochs)"
             if minutes is not None else f"weights {weights}")
          + f"; the classical renderer's highlights x{args.highlights:g}; scored in "
            f"{(time.perf_counter() - started) / 60:.1f} min\n")
    print(synthetic_table(synthetic, len(test)).replace("held-out synthetic scenes",
                                                        f"held-out synthetic scenes (seeds {test.seeds[0]}-"
                                                        f"{test.seeds[-1]})"))
    print()
    print(real_table(real, f"{scene.name}, {REAL_FOCAL_MM:g} mm f/{REAL_F_NUMBER:g} focused at {REAL_FOCUS_M} m: "
                           "detail kept relative to the photo per band of the true defocus"))


if __name__ == "__main__":
    main()
