"""``bggan-demo``: the main job on a fresh CPU machine: train, score, export to TFLite, render with it.

1. pretrain and 2. adversarial: the small Glass-Net (``experiment=demo``) on synthetic pairs, through the same
   code as ``bggan-train``;
3. scores on held-out scenes that no run has seen or chosen a checkpoint on (``--test-scenes``, the seeds after the
   training and validation pairs) against the identity baseline (output = input), which a useful model must beat;
4. ``bggan-export`` of the final generator at the pairs' size: ONNX, SavedModel, TFLite, parity report;
5. ``bggan-render`` of the held-out inputs with the TFLite model, then ``bggan-eval`` of those renders.

Steps 4-5 need the export extra (``make demo`` installs it); without it they are skipped with a note.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import warnings
from pathlib import Path

from bggan.cli.common import Parser, parse_size, run_command
from bggan.errors import BgganError, RunFailed, TrainingFailed

PROG = "bggan-demo"
MARKER = "demo.json"  # marks a folder this command made: --overwrite only ever deletes such a folder
#: What the demo's adversarial stage changes in experiment=demo: the paper's betas (0, 0.9) at half its rate, 5e-5,
#: instead of the pretrain's 1e-3 (0.9, 0.999), which wrecked a pretrained model on unseen scenes, and a cosine
#: schedule over its epochs. At the paper's 1e-4 it cost the demo's model more of its in-focus detail (README, the demo).
ADVERSARIAL_LR = "5e-5"  # the learning rate, as the override and the step header write it
ADVERSARIAL_RECIPE = (f"stage.lr={ADVERSARIAL_LR}", "stage.betas=[0.0,0.9]", "stage.lr_schedule=cosine")


def prepare_folder(out: Path, overwrite: bool) -> None:
    """Make ``out`` for a demo: checked first (:func:`bggan.files.check_output_folder`); a folder with files in it
    is replaced only with ``overwrite`` and only when an earlier demo wrote it (its marker file)."""
    from bggan.files import check_output_folder

    check_output_folder(out, "--out")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise BgganError(f"{out} exists and is not empty; pass --overwrite to replace an earlier demo")
        if not (out / MARKER).is_file():
            raise BgganError(f"{out} holds files that bggan-demo did not write (no {MARKER}); not deleting it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def demo_parser(prog: str, doc: str, out: str, holds: str, what: str) -> Parser:
    """A demo's parser with the options every demo has: ``--out`` (default ``out``, the folder for ``holds``) and
    ``--overwrite`` (replace an earlier ``what``, a folder this command made: :func:`prepare_folder`)."""
    p = Parser(prog=prog, description=doc.splitlines()[0].split(": ", 1)[1])
    p.add_argument("--out", default=out, help=f"folder for {holds} (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help=f"replace an earlier {what} in --out")
    return p


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from bggan.cli.hydra_app import config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return hydra_compose(config_name="train", overrides=overrides)


def quiet_known_warnings() -> None:
    """Lightning's advice that does not apply here (the demo loads in-memory pairs in the main process)."""
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*number of training batches.*smaller than the logging interval.*")


def demo_size(text: str) -> tuple[int, int]:
    """A demo's ``--size``: ``"HxW"`` -> ``(H, W)``, multiples of 8 (the export's); else a BgganError."""
    h, w = parse_size(text)
    if h % 8 or w % 8:
        raise BgganError(f"--size must be multiples of 8 (the export's), got {text}")
    return h, w


def size_overrides(h: int, w: int) -> list[str]:
    """Hydra overrides for pairs of ``h x w`` and training crops of 128x192 or smaller."""
    return [f"data.pairs.size=[{h},{w}]", f"data.crop=[{min(h, 128)},{min(w, 192)}]"]


def epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def training_precision(choice: str) -> str:
    """``--precision``: ``auto`` -> ``bf16-mixed`` on a CPU with bfloat16 instructions (where it trains the demo's model
    1.6x faster, to about the same scores per step: README, the demo), else ``32-true``; any other choice as given."""
    if choice != "auto":
        return choice
    from bggan.devices import cpu_has_bf16

    return "bf16-mixed" if cpu_has_bf16() else "32-true"


def main(argv: list[str] | None = None) -> int:
    p = demo_parser(PROG, __doc__, "outputs/demo", "both runs and the scores", "demo")
    p.add_argument("--vgg-weights", help="local VGG19 weights (vgg19-dcbb9e9d.pth) to turn the perceptual term on")
    p.add_argument("--pretrain-epochs", type=int, default=30, help="default: %(default)s")
    p.add_argument("--adversarial-epochs", type=int, default=1, help="default: %(default)s")
    p.add_argument("--pairs", type=int, default=408, help="synthetic pairs to train on, the last 8 of them validate "
                                                         "(choose the checkpoint) (default: %(default)s)")
    p.add_argument("--test-scenes", type=int, default=32,
                   help="further scenes, held out from both, that score the models and decide the criteria "
                        "(default: %(default)s)")
    p.add_argument("--precision", choices=("auto", "bf16-mixed", "32-true"), default="auto",
                   help="training precision: auto is bf16-mixed (convolutions in bfloat16, 1.6x faster) on a CPU "
                        "with bfloat16 instructions (AMX or AVX512-BF16), 32-true elsewhere (default: %(default)s)")
    p.add_argument("--size", default="192x288", help="HxW of the pairs and the export, multiples of 8 "
                                                     "(default: %(default)s; training crops 128x192 or smaller)")
    p.add_argument("--min-gain", type=float, default=3.0,
                   help="dB over the identity baseline the final model must reach (default: %(default)s)")
    p.add_argument("--min-detail-in-focus", type=float, default=0.7,
                   help="detail kept in focus the final model must reach: the subject stays sharp "
                        "(default: %(default)s)")
    args = p.parse_args(argv)
    if args.vgg_weights and not Path(args.vgg_weights).is_file():
        raise BgganError(f"--vgg-weights {args.vgg_weights}: no such file")
    if args.pretrain_epochs < 1 or args.adversarial_epochs < 1:
        raise BgganError("--pretrain-epochs and --adversarial-epochs must be >= 1")
    if args.pairs < 9:
        raise BgganError(f"--pairs must be at least 9 (8 validate), got {args.pairs}")
    if args.test_scenes < 1:
        raise BgganError(f"--test-scenes must be at least 1, got {args.test_scenes}")
    size = demo_size(args.size)
    out = Path(args.out)
    prepare_folder(out, args.overwrite)
    (out / MARKER).write_text(json.dumps(vars(args), indent=2) + "\n")
    quiet_known_warnings()

    from bggan.evaluate.compare import Criteria, compare
    from bggan.train import build, train

    if args.vgg_weights:
        vgg = [f"loss.vgg_weights={Path(args.vgg_weights).resolve()}"]
        print(f"VGG19 perceptual term: ON in the adversarial stage (weight 0.1), weights from {args.vgg_weights}")
    else:
        vgg = ["loss.w_vgg=0"]
        print("VGG19 perceptual term: OFF (no VGG19 weights offline; --vgg-weights PATH turns it on)")
    precision = training_precision(args.precision)
    print(f"training precision: {precision}" + (" (this CPU has bfloat16 instructions)" if args.precision == "auto"
                                                 and precision == "bf16-mixed" else ""))
    started = time.perf_counter()
    common = ["experiment=demo", "trainer.enable_model_summary=false", f"trainer.precision={precision}",
              *size_overrides(*size)]

    say = Steps(started)
    say.step(f"pretrain: small Glass-Net, L1 + SSIM (+ L1 of the rough output), {epochs(args.pretrain_epochs)}  ->  "
             f"{out / 'pretrain'}")
    pre_cfg = compose([*common, "stage=pretrain", "name=demo/pretrain", f"trainer.max_epochs={args.pretrain_epochs}",
                       f"data.pairs.n={args.pairs}"])
    pre = train(pre_cfg, out / "pretrain")

    say.step(f"adversarial: + two PatchGAN critics (WGAN-GP), {epochs(args.adversarial_epochs)}, Adam at the paper's "
             f"betas (0, 0.9) and half its rate ({ADVERSARIAL_LR}), from {pre.best}  ->  {out / 'adversarial'}")
    adv_cfg = compose([*common, "stage=adversarial", "name=demo/adversarial", f"init_from={pre.best}",
                       f"trainer.max_epochs={args.adversarial_epochs}", f"data.pairs.n={args.pairs}",
                       *ADVERSARIAL_RECIPE, *vgg])
    adv = train(adv_cfg, out / "adversarial")

    say.step(f"scores on {args.test_scenes} held-out synthetic scenes that no run has seen (PyTorch)")
    pairs = build(adv_cfg.data.pairs, cache=False)
    test = pairs.unseen(args.test_scenes)
    held_out = [test[i] for i in range(len(test))]
    h, w = adv_cfg.data.pairs.size
    comparison = compare(held_out, {"after pretrain": pre.generator, "after adversarial": adv.generator}, pairs.lens)
    criteria = Criteria(args.min_gain, args.min_detail_in_focus)
    failures, notes = criteria.check(comparison.metrics("after adversarial"), comparison.identity)
    lens = f"{pairs.lens.focal_mm:g} mm f/{pairs.lens.f_number:g}"
    seeds = f"seeds {test.seeds[0]}-{test.seeds[-1]}"
    title = (f"held-out synthetic scenes: {len(held_out)} at {h}x{w}, {lens} ({seeds}: neither trained on nor used "
             "to choose a checkpoint)")
    text = scores_text(title, comparison.table(), criteria, failures + notes)
    (out / "scores.md").write_text(text + "\n")
    print("\n" + text)
    inputs, targets, depth = write_held_out(held_out, out / "held_out", pairs.lens)
    artifacts = {"pretrain run": pre.run_dir, "adversarial run": adv.run_dir, "generator": adv.generator,
                 "scores": out / "scores.md", "validation grids": adv.run_dir / "images",
                 "held-out inputs": inputs, "held-out targets": targets, "held-out depth files": depth}

    missing = missing_export_extra()
    if missing:
        print(f"\n[4/5] and [5/5] skipped: {missing}")
    else:
        artifacts.update(export_render_eval(say, adv.generator, (h, w), inputs, targets, depth, out))
    say.done(artifacts)
    if failures:
        raise TrainingFailed("the final model misses its criteria: " + "; ".join(failures))
    return 0


def scores_text(title: str, table: str, criteria, findings: list[str]) -> str:
    """``scores.md``: the comparison table, how it was measured, and what the final model met."""
    from bggan.evaluate import Scorer

    scorer = Scorer()
    low, high = criteria.out_of_focus
    verdict = "; ".join(findings) if findings else "all met"
    rule = (f"PSNR gain >= {criteria.min_gain:g} dB, in-focus detail kept >= {criteria.min_detail_in_focus:g}, "
            f"out-of-focus detail kept within [{low:g}, {high:g}] (reported only)")
    return "\n".join([title, "", table, "", f"- {scorer.conventions()}.", f"- Per band: {scorer.band_conventions()}.",
                      f"- Criteria for the final model: {rule}: {verdict}."])


class Steps:
    """Numbered step headers with the time since the start."""

    def __init__(self, started: float, total: int = 5) -> None:
        self.started, self.total, self.n = started, total, 0

    def step(self, text: str) -> None:
        self.n += 1
        print(f"\n[{self.n}/{self.total}] {text}   (t = {(time.perf_counter() - self.started) / 60:.1f} min)")

    def done(self, artifacts: dict[str, Path]) -> None:
        """The time since the start and the artifacts, one per line, names aligned."""
        print(f"\ndone in {(time.perf_counter() - self.started) / 60:.1f} min. artifacts:")
        width = max(len(k) for k in artifacts) + 1
        for name, path in artifacts.items():
            print(f"  {name + ':':<{width}} {path}")


def write_held_out(held_out, folder: Path, lens) -> tuple[Path, Path, Path]:
    """Each held-out pair as ``input/NN.png``, ``target/NN.png`` and ``depth/NN.npz`` (what the export, render and
    eval read; the depth files as :mod:`bggan.data.depth_maps` describes them)."""
    from bggan.data.depth_maps import write_depth_file
    from bggan.images import write_rgb

    for sub in ("input", "target", "depth"):
        (folder / sub).mkdir(parents=True)
    for i, item in enumerate(held_out):
        write_rgb(folder / "input" / f"{i:02d}.png", item["input"])
        write_rgb(folder / "target" / f"{i:02d}.png", item["target"])
        write_depth_file(folder / "depth" / f"{i:02d}.npz", item["depth"], item["coc"], item["focus_m"], lens)
    return folder / "input", folder / "target", folder / "depth"


def missing_export_extra() -> str:
    """Why steps 4-5 cannot run here ('' if they can)."""
    from bggan.export.pipeline import require_extra

    try:
        require_extra()
    except BgganError as e:
        return str(e)
    return ""


def export_render_eval(say: Steps, generator: Path, size: tuple[int, int], inputs: Path, targets: Path, depth: Path,
                       out: Path) -> dict[str, Path]:
    """Steps 4 and 5 through the commands' own code: bggan-export, bggan-render --backend tflite, bggan-eval."""
    from bggan.cli import eval as eval_cli
    from bggan.cli import render as render_cli
    from bggan.export import ExportConfig, export

    h, w = size
    say.step(f"export: {generator.name} -> ONNX -> TF SavedModel -> TFLite at {h}x{w}, parity on the held-out "
             f"inputs  ->  {out / 'export'}")
    result = export(ExportConfig(weights=str(generator), out=str(out / "export"), size=(h, w),
                                 calibration_dir=str(inputs), parity_images=2), log=lambda line: print(f"  {line}"))
    print("parity vs PyTorch: " + ", ".join(f"{p.hop} {p.psnr:.1f} dB" for p in result.parity))
    if result.gpu.status == "ran":
        print(f"on LiteRT's GPU accelerator ({result.gpu.adapter}): "
              + ", ".join(f"{r.file} {r.precision} {r.parity.psnr:.1f} dB" for r in result.gpu.runs if r.parity))
    else:
        print(f"LiteRT's GPU accelerator: skipped ({result.gpu.reason})")

    say.step(f"render the held-out inputs with the TFLite model, then score those renders  ->  {out / 'rendered'}")
    render_args = [str(inputs), "--weights", str(result.out), "--backend", "tflite", "--out", str(out / "rendered")]
    print("$ bggan-render " + " ".join(render_args))
    if render_cli.main(render_args) != 0:
        raise RunFailed("bggan-render failed on a held-out input (see above)")
    eval_args = ["--pred", str(out / "rendered"), "--target", str(targets), "--input", str(inputs),
                 "--coc", str(depth), "--out", str(out / "eval")]
    print("$ bggan-eval " + " ".join(eval_args))
    if eval_cli.main(eval_args) != 0:
        raise RunFailed("bggan-eval skipped a pair (see above)")
    return {"export": result.out, "export report": result.out / "report.md",
            "TFLite model": result.out / "model_float32.tflite", "TFLite renders": out / "rendered",
            "metrics": out / "eval" / "metrics.csv", "metrics table": out / "eval" / "metrics.md",
            "comparison grid": out / "eval" / "grid.png"}


def cli() -> None:
    sys.exit(run_command(PROG, main))
