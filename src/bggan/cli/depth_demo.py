"""``bggan-depth-demo``: a depth-aware Glass-Net trained on this CPU, measured on synthetic scenes and a real photo.

1. pretrain: the depth-aware small Glass-Net (``experiment=depth_demo``: the photo and its defocus map in, a blur
   stack inside) on synthetic pairs each at its own f-number and focus, the depth as a phone delivers it;
2. held-out synthetic scenes: the model beside the classical renderer given the same depth, true and a phone's
   (:mod:`bggan.evaluate.depth_aware`);
3. the real photo with measured depth (Middlebury's Motorcycle, scikit-image's): detail kept relative to the photo
   per band of the true defocus, beside the classical renderer, with the true depth and each corruption;
4. the control: held-out scenes at no blur and f/16 ... f/1.4 (:mod:`bggan.evaluate.control`);
5. pictures of the real photo: photo | classical with an 8x smaller 8-bit depth | the model with it | the model with
   the true depth, and strips of focus points and f-numbers;
6. ``bggan-export`` with two inputs (image, defocus map) at the pairs' size: parity at every hop at no blur, f/8,
   f/2.8 and f/1.4 on held-out scenes, the op rules, LiteRT's GPU accelerator at fp32 and fp16; then
   ``bggan-render --backend tflite --depth`` renders the real photo in tiles with the TFLite model.

The final generator is ``OUT/generator.safetensors``. Exit code 1 when an aim is missed (``aims.md`` lists them,
measured against wanted); everything is written first. Step 6 needs the export extra (skipped, and said, without it).
"""

from __future__ import annotations

import json
import shutil
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
    training_precision,
)
from bggan.errors import BgganError, TrainingFailed

PROG = "bggan-depth-demo"
#: The real photo's lens and focus: the motorcycle is 2.3-2.7 m away, the shelves behind it 4-5 m.
REAL_FOCAL_MM, REAL_F_NUMBER, REAL_FOCUS_M = 85.0, 1.8, 2.4
#: The strips of the real photo: focus distances (the front wheel, the motorcycle, the shelves) at f/2.8, and
#: f-numbers focused on the motorcycle.
FOCUS_STRIP_M, FOCUS_STRIP_F_NUMBER = (2.15, 2.4, 4.5), 2.8
APERTURE_STRIP = (float("inf"), 8.0, 2.8, 1.4)
#: The degraded depth of the real photo's picture: a phone's map 8x smaller, in 8 bits.
DEGRADED = "8x_8_bit"


def main(argv: list[str] | None = None) -> int:
    p = demo_parser(PROG, __doc__, "outputs/depth_demo", "the run and its results", "depth demo")
    p.add_argument("--epochs", type=int, default=16, help="pretrain epochs of 100 steps (default: %(default)s)")
    p.add_argument("--pairs", type=int, default=408, help="synthetic pairs, the last 8 validate (default: %(default)s)")
    p.add_argument("--test-scenes", type=int, default=32, help="held-out synthetic scenes that score the model "
                                                               "(default: %(default)s)")
    p.add_argument("--control-scenes", type=int, default=8, help="held-out scenes of the control curve "
                                                                 "(default: %(default)s)")
    p.add_argument("--size", default="192x288", help="HxW of the pairs (default: %(default)s; training crops 128x192)")
    p.add_argument("--precision", choices=("auto", "bf16-mixed", "32-true"), default="auto",
                   help="training precision (auto: bf16-mixed on a CPU with bfloat16 instructions) "
                        "(default: %(default)s)")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.pairs < 9 or args.test_scenes < 1 or args.control_scenes < 1:
        raise BgganError("--epochs, --test-scenes and --control-scenes must be >= 1 and --pairs >= 9")
    size = demo_size(args.size)
    out = Path(args.out)
    prepare_folder(out, args.overwrite)
    (out / MARKER).write_text(json.dumps({"command": PROG, **vars(args)}, indent=2) + "\n")
    quiet_known_warnings()

    from bggan.train import build, train

    precision = training_precision(args.precision)
    say = Steps(time.perf_counter(), total=6)
    say.step(f"pretrain: depth-aware small Glass-Net, pairs at their own f-number and focus, a phone's depth, "
             f"{args.epochs} epochs ({precision})  ->  {out / 'pretrain'}")
    cfg = compose(["experiment=depth_demo", "name=depth_demo/pretrain", "trainer.enable_model_summary=false",
                   f"trainer.precision={precision}", f"trainer.max_epochs={args.epochs}", f"data.pairs.n={args.pairs}",
                   *size_overrides(*size)])
    run = train(cfg, out / "pretrain")
    generator = out / "generator.safetensors"
    shutil.copyfile(run.generator, generator)

    from bggan.models import load_generator

    model = load_generator(generator)
    pairs = build(cfg.data.pairs, cache=False, no_blur=0.0)
    aims, artifacts = [], {"pretrain run": run.run_dir, "generator": generator}
    aims += synthetic_step(say, model, pairs, args.test_scenes, out, artifacts)
    real, real_aim_rows = real_step(say, model, out, artifacts)
    aims += real_aim_rows
    aims += control_step(say, model, pairs, args.control_scenes, out, artifacts)
    pictures_step(say, model, real, out, artifacts)
    missing = missing_export_extra()
    if missing:
        print(f"\n[6/6] skipped: {missing}")
    else:
        aims += export_step(say, generator, tuple(pairs.size), pairs.n + pairs.seed + 1000, real, out, artifacts)

    from bggan.evaluate.depth_aware import aims_table

    text = f"Aims of {generator}\n\n{aims_table(aims)}"
    (out / "aims.md").write_text(text + "\n")
    artifacts["aims"] = out / "aims.md"
    print("\n" + text)
    say.done(artifacts)
    missed = [what for what, _, _, met in aims if not met]
    if missed:
        raise TrainingFailed(f"{len(missed)} of {len(aims)} aims missed (see {out / 'aims.md'}): " + "; ".join(missed))
    return 0


def synthetic_step(say: Steps, model, pairs, count: int, out: Path, artifacts: dict) -> list:
    from bggan.data.defocus import Lens
    from bggan.evaluate.depth_aware import model_renderer, synthetic_aims, synthetic_scores, synthetic_table

    test = pairs.unseen(count)
    say.step(f"held-out synthetic scenes: {count} (seeds {test.seeds[0]}-{test.seeds[-1]}), the model and the "
             f"classical renderer given the true depth and a phone's  ->  {out / 'synthetic.md'}")
    scores = synthetic_scores(model_renderer(model), [test[i] for i in range(count)], ("clean", "phone"),
                              Lens(focal_mm=pairs.lens.focal_mm))
    text = synthetic_table(scores, count)
    (out / "synthetic.md").write_text(text + "\n")
    print(text)
    artifacts["synthetic scores"] = out / "synthetic.md"
    return synthetic_aims(scores)


def real_step(say: Steps, model, out: Path, artifacts: dict):
    from bggan.data.defocus import Lens
    from bggan.data.middlebury import motorcycle
    from bggan.evaluate.depth_aware import DEPTHS, model_renderer, real_aims, real_scores, real_table

    scene = motorcycle()
    say.step(f"the real photo: {scene.name} with its measured depth, {REAL_FOCAL_MM:g} mm f/{REAL_F_NUMBER:g} "
             f"focused at {REAL_FOCUS_M} m, the true depth and {len(DEPTHS) - 1} corrupted  ->  {out / 'real.md'}")
    scores = real_scores(model_renderer(model), scene.photo, scene.filled_depth(), scene.known, REAL_FOCUS_M,
                         Lens(REAL_FOCAL_MM, REAL_F_NUMBER))
    text = real_table(scores, f"{scene.name} ({scene.photo.shape[0]}x{scene.photo.shape[1]}): detail kept relative "
                              "to the photo per band of the true defocus (1: as sharp as the photo)")
    (out / "real.md").write_text(text + "\n")
    print(text)
    artifacts["real photo scores"] = out / "real.md"
    return (scene, scores), real_aims(scores, DEGRADED)


def control_step(say: Steps, model, pairs, count: int, out: Path, artifacts: dict) -> list:
    import torch

    from bggan.data.synthetic import DefocusInput
    from bggan.evaluate.control import DEFAULT_SWEEP, control_curve, defocus_at, synthetic_sweep
    from bggan.evaluate.depth_aware import DEPTHS

    seeds = range(pairs.seed + pairs.n, pairs.seed + pairs.n + count)
    say.step(f"control: {count} held-out scenes at no blur and f/16 ... f/1.4, a phone's depth  ->  "
             f"{out / 'control.md'}")
    scenes = synthetic_sweep(seeds, tuple(pairs.size), DEFAULT_SWEEP, pairs.lens.focal_mm, pairs.textures,
                             DefocusInput(DEPTHS["phone"]))

    def render(x, strengths, scene):
        with torch.inference_mode():
            return model(x, defocus_at(scene, strengths, DEFAULT_SWEEP))[0]

    curve = control_curve(render, scenes, DEFAULT_SWEEP)
    (out / "control.md").write_text(curve.table() + "\n")
    print(curve.table())
    artifacts["control curve"] = out / "control.md"
    rank, no_blur = curve.rank_correlation(), curve.no_blur_psnr()
    return [("control: rank correlation, f-number asked for vs blur measured", rank, "1.0", rank >= 0.999),
            ("control: no blur returns the photo (PSNR, 100 = exact)", no_blur, "exact",
             no_blur is not None and no_blur >= 100)]


def pictures_step(say: Steps, model, real, out: Path, artifacts: dict) -> None:
    import numpy as np

    from bggan.data.defocus import Lens
    from bggan.data.depth_bokeh import signed_coc
    from bggan.evaluate.depth_aware import model_renderer
    from bggan.evaluate.grids import labelled_strip
    from bggan.images import write_rgb
    from bggan.models.condition import aperture_label

    (scene, scores) = real
    say.step(f"pictures of the real photo  ->  {out / 'real_comparison.png'}, {out / 'real_focus.png'}, "
             f"{out / 'real_apertures.png'}")
    write_rgb(out / "real_comparison.png", labelled_strip(
        [scene.photo, scores[DEGRADED]["classical"][1], scores[DEGRADED]["model"][1], scores["clean"]["model"][1]],
        ["photo", "classical, 8x smaller 8-bit depth", "model, the same depth", "model, the true depth"]))
    render, depth = model_renderer(model), scene.filled_depth()
    width = scene.photo.shape[1]

    def at(focus_m: float, f_number: float) -> np.ndarray:  # f/inf: a map of zeros, the lens's own
        return render(scene.photo, signed_coc(depth, focus_m, Lens(REAL_FOCAL_MM, f_number), width).astype(np.float32))

    write_rgb(out / "real_focus.png", labelled_strip(
        [at(f, FOCUS_STRIP_F_NUMBER) for f in FOCUS_STRIP_M],
        [f"focus {f:g} m, f/{FOCUS_STRIP_F_NUMBER:g}" for f in FOCUS_STRIP_M]))
    write_rgb(out / "real_apertures.png", labelled_strip(
        [at(REAL_FOCUS_M, f) for f in APERTURE_STRIP], [aperture_label(f) for f in APERTURE_STRIP]))
    artifacts.update({"real photo comparison": out / "real_comparison.png", "focus strip": out / "real_focus.png",
                      "aperture strip": out / "real_apertures.png"})


def export_step(say: Steps, generator: Path, size: tuple[int, int], seed: int, real, out: Path,
                artifacts: dict) -> list:
    """Step 6 through the commands' own code: bggan-export (its parity scenes held out: seeds from ``seed``), then
    bggan-render --backend tflite --depth on the real photo, compared with the PyTorch model's render of it."""
    import numpy as np
    from PIL import Image

    from bggan.cli import render as render_cli
    from bggan.data.defocus import Lens
    from bggan.data.depth_bokeh import signed_coc
    from bggan.evaluate.depth_aware import real_bands
    from bggan.export import ExportConfig, export
    from bggan.images import write_rgb

    h, w = size
    say.step(f"export: {generator.name} with two inputs (image, defocus map) -> ONNX -> TF -> TFLite at {h}x{w}, "
             f"LiteRT's GPU accelerator  ->  {out / 'export'}")
    result = export(ExportConfig(weights=str(generator), out=str(out / "export"), size=(h, w), seed=seed,
                                 parity_images=2), log=lambda line: print(f"  {line}"))
    gpu = [run for run in result.gpu.runs if run.file.startswith("model_float")]
    if result.gpu.status != "ran":
        print(f"LiteRT's GPU accelerator: skipped ({result.gpu.reason})")

    (scene, _) = real
    folder = out / "real_tflite"
    folder.mkdir()
    write_rgb(folder / "motorcycle.png", scene.photo)
    np.save(folder / "motorcycle_depth.npy", scene.filled_depth().astype(np.float32))
    render_args = [str(folder / "motorcycle.png"), "--weights", str(result.out), "--backend", "tflite", "--depth",
                   str(folder / "motorcycle_depth.npy"), "--focus", str(REAL_FOCUS_M), "--focal-length",
                   str(REAL_FOCAL_MM), "--aperture", str(REAL_F_NUMBER), "--out", str(folder / "rendered")]
    print("$ bggan-render " + " ".join(render_args))
    if render_cli.main(render_args) != 0:
        raise TrainingFailed("bggan-render failed (see above)")
    rendered = np.asarray(Image.open(folder / "rendered" / "motorcycle.png"))
    true_coc = signed_coc(scene.filled_depth(), REAL_FOCUS_M, Lens(REAL_FOCAL_MM, REAL_F_NUMBER), scene.photo.shape[1])
    kept = real_bands(rendered, scene.photo, true_coc, scene.known)
    print(f"  the TFLite model in tiles, detail kept: in focus {kept.bands['in_focus']:.3g}, behind "
          f"{kept.bands['behind']:.3g}, contrast {kept.contrast:.3g}")
    artifacts.update({"export": result.out, "export report": result.out / "report.md",
                      "real photo by TFLite in tiles": folder / "rendered" / "motorcycle.png"})
    accelerated = result.gpu.status == "ran" and all(run.passed and run.fully_accelerated for run in gpu)
    return [("export: every hop's parity (float32 / float16 TFLite vs PyTorch, min PSNR dB)",
             min(p.psnr for p in result.parity), ">= 60 / 45", all(p.passed for p in result.parity)),
            ("export: zero defocus returns the photo exactly in the TFLite files (max abs)",
             max(result.zero_defocus_max_abs.values()), "0", max(result.zero_defocus_max_abs.values()) == 0),
            ("export: fully accelerated on the GPU at fp32 and fp16, parity met (runs)", len(gpu), "all",
             accelerated),
            ("export: the TFLite model in tiles on the real photo, true depth: subject/far contrast", kept.contrast,
             ">= 5", kept.contrast is not None and kept.contrast >= 5)]


def cli() -> None:
    sys.exit(run_command(PROG, main))


if __name__ == "__main__":
    cli()
