"""``bggan-aperture-demo``: one Glass-Net for every f-number, trained, measured and exported on a CPU.

1. pretrain: the demo's small Glass-Net with the aperture as an input (``experiment=aperture_demo``) on synthetic
   pairs each rendered at its own f-number (f/1.4 to f/22) or with no blur;
2. adversarial: against the two PatchGAN critics, which see the aperture too, with a cosine schedule; its last
   epoch is the model (the best by PSNR is its first, before the critics have sharpened the subject);
3. the control curve on the held-out scenes, each rendered at every f-number of a sweep
   (:mod:`bggan.evaluate.control`): how much the model blurs for each f-number asked for, against the lens;
4. ``bggan-export`` with two inputs (image, strength): parity at several f-numbers at every hop and on LiteRT's
   GPU accelerator;
5. ``bggan-render --sweep`` of a held-out photo with the TFLite model: one render per f-number and their strip.

Exit code 1 when the control's rank correlation misses ``--min-rank-correlation``; the other two aims of the
control (the photo back at "no blur", a sharp subject) are reported. Steps 4-5 need the export extra.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

from bggan.cli.common import run_command
from bggan.cli.demo import (
    MARKER,
    Steps,
    compose,
    demo_parser,
    demo_size,
    missing_export_extra,
    prepare_folder,
    quiet_known_warnings,
    size_overrides,
)
from bggan.errors import BgganError, RunFailed, TrainingFailed

PROG = "bggan-aperture-demo"


def main(argv: list[str] | None = None) -> int:
    p = demo_parser(PROG, __doc__, "outputs/aperture_demo", "the run and its results", "aperture demo")
    p.add_argument("--epochs", type=int, default=40, help="pretrain epochs (default: %(default)s)")
    p.add_argument("--adversarial-epochs", type=int, default=6, help="adversarial epochs, 0 for none "
                                                                     "(default: %(default)s)")
    p.add_argument("--pairs", type=int, default=96, help="synthetic pairs, the last 8 held out (default: %(default)s)")
    p.add_argument("--size", default="192x288", help="HxW of the pairs, the control curve's scenes and the export "
                                                     "(default: %(default)s; training crops 128x192 or smaller)")
    p.add_argument("--no-blur", type=float, default=None,
                   help="share of the pairs with no blur, target = photo (default: the experiment's)")
    p.add_argument("--condition", choices=("channel", "film"), default="channel",
                   help="how the generator takes the aperture (default: %(default)s, chosen by the control curve)")
    p.add_argument("--gate", action=argparse.BooleanOptionalAction, default=True,
                   help="pull the output back to the photo as the strength falls, so no blur returns the photo "
                        "exactly (model.generator.gate; default: on, --no-gate for the plain model)")
    p.add_argument("--min-rank-correlation", type=float, default=0.9,
                   help="Spearman correlation between the strength asked for and the blur measured that the model "
                        "must reach (default: %(default)s)")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.adversarial_epochs < 0:
        raise BgganError("--epochs must be >= 1 and --adversarial-epochs >= 0")
    if args.pairs < 9:
        raise BgganError(f"--pairs must be at least 9 (8 are held out), got {args.pairs}")
    if args.no_blur is not None and not 0 <= args.no_blur <= 1:
        raise BgganError(f"--no-blur is a share in [0, 1], got {args.no_blur}")
    h, w = demo_size(args.size)
    out = Path(args.out)
    prepare_folder(out, args.overwrite)
    (out / MARKER).write_text(json.dumps({"command": PROG, **vars(args)}, indent=2) + "\n")
    quiet_known_warnings()

    from bggan.evaluate.control import DEFAULT_SWEEP, control_curve, synthetic_sweep
    from bggan.images import write_rgb
    from bggan.models import load_generator
    from bggan.train import build, train

    say = Steps(time.perf_counter(), total=5)
    say.step(f"pretrain: small Glass-Net with the aperture as an input ({args.condition}), pairs at f/1.4 to f/22 and "
             f"with no blur, {args.epochs} epochs  ->  {out / 'pretrain'}")
    common = ["experiment=aperture_demo", "trainer.enable_model_summary=false", f"data.pairs.n={args.pairs}",
              f"model.generator.condition={args.condition}", f"model.generator.gate={str(args.gate).lower()}",
              *size_overrides(h, w),
              *([f"data.pairs.no_blur={args.no_blur}"] if args.no_blur is not None else [])]
    cfg = compose([*common, "stage=pretrain", "name=aperture_demo/pretrain", f"trainer.max_epochs={args.epochs}"])
    run = train(cfg, out / "pretrain")
    generator, trained = run.generator, {"pretrain run": run.run_dir}
    if args.adversarial_epochs:
        say.step(f"adversarial: + two PatchGAN critics that see the aperture (WGAN-GP), {args.adversarial_epochs} "
                 f"epochs, cosine schedule, from {run.best}  ->  {out / 'adversarial'}")
        cfg = compose([*common, "stage=adversarial", "name=aperture_demo/adversarial", f"init_from={run.best}",
                       f"trainer.max_epochs={args.adversarial_epochs}", "stage.lr_schedule=cosine", "loss.w_vgg=0"])
        adversarial = train(cfg, out / "adversarial")
        generator, trained["adversarial run"] = adversarial.last, adversarial.run_dir
    else:
        say.step("adversarial: skipped (--adversarial-epochs 0)")

    pairs = build(cfg.data.pairs, cache=False)
    seeds = range(pairs.seed + pairs.n - pairs.holdout, pairs.seed + pairs.n)  # the held-out scenes
    say.step(f"control curve: {len(seeds)} held-out scenes, each at no blur and f/16 ... f/1.4  ->  {out / 'control.md'}")
    model = load_generator(generator).eval()
    scenes = synthetic_sweep(seeds, tuple(pairs.size), DEFAULT_SWEEP, pairs.lens.focal_mm, pairs.textures)
    curve = control_curve(lambda x, s, scene: model(x, s)[0], scenes, DEFAULT_SWEEP)
    text = f"Control curve of {generator} on held-out synthetic scenes ({pairs.size[0]}x{pairs.size[1]})\n\n" \
           + curve.table()
    (out / "control.md").write_text(text + "\n")
    with open(out / "control.csv", "w", newline="") as f:
        csv.writer(f).writerows(curve.csv_rows())
    print("\n" + text)
    shown = most_to_blur(scenes)
    photo = out / "held_out" / f"{shown.name}.png"
    photo.parent.mkdir()
    write_rgb(photo, shown.photo)
    artifacts = {**trained, "generator": generator, "control curve": out / "control.md",
                 "control curve (csv)": out / "control.csv", "held-out photo": photo}

    missing = missing_export_extra()
    if missing:
        print(f"\n[4/5] and [5/5] skipped: {missing}")
    else:
        artifacts.update(export_and_sweep(say, generator, tuple(pairs.size), photo, out))
    say.done(artifacts)
    rank = curve.rank_correlation()
    if not rank >= args.min_rank_correlation:  # nan fails too
        raise TrainingFailed(f"the control's rank correlation is {rank:.3f}, under {args.min_rank_correlation:g}")
    return 0


def most_to_blur(scenes):
    """The held-out scene whose photo has the most detail where the lens blurs (out of focus at the widest
    aperture): the one whose strip shows the control best."""
    import torch

    from bggan.evaluate.bands import DEFAULT_BANDS, band_masks, detail_energy
    from bggan.images import to_tensor

    def energy(scene) -> float:
        mask = band_masks(torch.as_tensor(scene.coc)[None, None], DEFAULT_BANDS)["out_of_focus"]
        return float((detail_energy((to_tensor(scene.photo) + 1) / 2) * mask).sum())

    return max(scenes, key=energy)


def export_and_sweep(say: Steps, generator: Path, size: tuple[int, int], photo: Path, out: Path) -> dict[str, Path]:
    """Steps 3 and 4 through the commands' own code: bggan-export, then bggan-render --backend tflite --sweep."""
    from bggan.cli import render as render_cli
    from bggan.export import ExportConfig, export

    h, w = size
    say.step(f"export: {generator.name} with two inputs (image, strength) -> ONNX -> TF -> TFLite at {h}x{w}  ->  "
             f"{out / 'export'}")
    result = export(ExportConfig(weights=str(generator), out=str(out / "export"), size=(h, w)),
                    log=lambda line: print(f"  {line}"))
    if result.gpu.status != "ran":
        print(f"LiteRT's GPU accelerator: skipped ({result.gpu.reason})")

    say.step(f"render a held-out photo at every f-number with the TFLite model  ->  {out / 'sweep'}")
    render_args = [str(photo), "--weights", str(result.out), "--backend", "tflite", "--out", str(out / "sweep"),
                   "--sweep"]  # without a list: f/16 ... f/1.4
    print("$ bggan-render " + " ".join(render_args))
    if render_cli.main(render_args) != 0:
        raise RunFailed("bggan-render failed (see above)")
    return {"export": result.out, "export report": result.out / "report.md",
            "strip": out / "sweep" / f"{photo.stem}_strip.png"}


def cli() -> None:
    sys.exit(run_command(PROG, main))


if __name__ == "__main__":
    cli()
