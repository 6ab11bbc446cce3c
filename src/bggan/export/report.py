"""``report.json`` (everything measured, for tools) and ``report.md`` (the same, for people)."""

from __future__ import annotations

import json
import math
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bggan.export.config import PARITY_F_NUMBERS, ExportConfig, ExportResult, as_dict
from bggan.files import atomic_output
from bggan.models.condition import aperture_label

PACKAGES = ("bggan", "torch", "onnx", "onnxscript", "onnxsim", "onnxruntime", "onnx2tf", "tensorflow", "ai-edge-litert")

USAGE = """\
Every model takes one image, float32 in [-1, 1] (`pixel / 127.5 - 1`, RGB), and returns the bokeh
image in the same range (`(y + 1) * 127.5`, rounded and clipped, gives 8-bit pixels):
- `model.onnx`: NCHW, input `image` `1x3xHxW`, output `bokeh` `1x3xHxW`;
- `saved_model/` and `model_*.tflite`: NHWC, input `image` `1xHxWx3`, output `bokeh` `1xHxWx3`.
The size is fixed: normalization is built from average pooling over whole feature maps, so its
windows are constants of this export. Pad or resize other photos to this size first."""

APERTURE_USAGE = """\
This generator takes the aperture as a second input, `strength`, float32 `1x1x1x1` in every file:
`1.8 / f-number` (f/1.8, EBB!'s look: 1; f/2.8: 0.64; f/16: 0.11; 0: no blur; trained up to f/1.4, 1.29).
It adds no op outside the GPU list: the strength channel is `zeros - strength` (a 1x1 convolution of the
photo with a zero kernel, then one SUB) or FiLM's per-channel MUL and SUB."""

DEFOCUS_USAGE = """\
This generator is depth-aware: its second input, `defocus`, float32 `1x1xHxW` (ONNX) or `1xHxWx1` (SavedModel,
TFLite), is each pixel's signed circle of confusion in px at this size: `K (1/z_focus - 1/z)`, negative in front of
the focus, positive behind, 0 in focus (the f-number scales `K`; `bggan-render --depth` computes it from a depth
map, a focus and an f-number). A map of zeros returns the photo exactly. Besides the ops below, its blur stack
adds DEPTHWISE_CONV_2D (disk blurs; their zero padding is the convolution's own), AVERAGE_POOL_2D and
RESIZE_BILINEAR (wide disks applied at a reduced size), its gate a MAX_POOL_2D, and the sRGB curves POW; every
scale and shift is a 1x1 CONV_2D (`bggan.export.depth_graph`)."""

REMAINING = """\
Left in the TFLite graph, and why: CONV_2D and TRANSPOSE_CONV (the network; stride-2 'same'
padding is the convolution's own), AVERAGE_POOL_2D + SUB + MUL + RSQRT + ADD (the normalization:
mean and variance over each whole feature map, `+ eps` on the 1x1 variance), SUB for every skip
connection and for each split convolution (`x - (-y)`: onnx2tf 1.29 mis-lays-out an Add of two
feature maps), RELU/TANH where not fused (never into a TRANSPOSE_CONV: that is op version 4, which
LiteRT's GPU delegate refuses, so the converter's fusion is undone), DEQUANTIZE for fp16/int8
weights. No TRANSPOSE, STRIDED_SLICE, PAD, CONCATENATION or MEAN."""


ANALYZER = """\
TensorFlow's analyzer verdict (`Analyzer.analyze(..., gpu_compatibility=True)`) is in `report.json` but
decides nothing: since TensorFlow 2.18 it performs no per-op GPU check (tensorflow PR #74830) and calls
FlexCosh or int64 ARG_MAX compatible. The op list above and the run on LiteRT's GPU accelerator decide."""


def gpu_section(result: ExportResult) -> list[str]:
    """The GPU hop: adapter, then one row per file and precision."""
    gpu = result.gpu
    lines = ["## LiteRT's GPU accelerator", ""]
    if gpu.status != "ran":
        return [*lines, f"Skipped: {gpu.reason}. Nothing here proves the files run on a GPU."]
    kind = ("a software GPU (Mesa's lavapipe, Vulkan on the CPU): its timings say nothing about a phone's GPU"
            if gpu.software else "a hardware GPU")
    lines += [(f"Compiled with the GPU as the only accelerator (no CPU fallback), ai-edge-litert {gpu.litert}, on "
               f"`{gpu.adapter or 'an unnamed adapter'}`: {kind}. fp32 is `GpuOptions(enforce_f32=True)`, fp16 the "
               f"GPU's default precision. PSNR against PyTorch on [-1, 1]; int8 files are reported, not judged."), "",
              ("| file | precision | fully accelerated | max abs error | PSNR (dB) | threshold | compile (s) | "
               "first run (s) | |"), "|---|---|---|---|---|---|---|---|---|"]
    for run in gpu.runs:
        p = run.parity
        rule = f">= {p.min_psnr:g}" if p and p.min_psnr is not None else "reported"
        numbers = f"{p.max_abs:.3g} | {p.psnr:.1f}" if p else f"{run.error} | -"
        lines.append(f"| {run.file} | {run.precision} | {'yes' if run.fully_accelerated else 'NO'} | {numbers} | "
                     f"{rule} | {run.compile_s:.1f} | {run.first_run_s:.1f} | {'ok' if run.passed else 'FAILED'} |")
    return lines


def fp16_headroom(result: ExportResult) -> str:
    """How close the normalizations' largest value came to fp16's overflow."""
    from bggan.export.graph import FP16_MAX

    verdict = ("within it" if result.squared_deviation_max <= FP16_MAX else
               "PAST it: on a GPU's fp16 path those blocks overflow to inf; run at fp32 (`enforce_f32`)")
    return (f"fp16 headroom: the largest value a normalization forms is a squared deviation from its map's mean, "
            f"{result.squared_deviation_max:.4g} on the parity images; fp16's largest is {FP16_MAX:g}: {verdict}. "
            "(The released form's sum of squared deviations N var, which grows with H x W, is never formed: the export "
            "computes sqrt(N var + eps) as sqrt(N / M) sqrt(M var + M eps / N), M = min(N, 256).)")


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def _finite(value):
    """JSON has no infinity: an exact match (PSNR inf) is written as the string "inf"."""
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def markdown(result: ExportResult, cfg: ExportConfig, versions: dict[str, str]) -> str:
    h, w = cfg.size
    condition = result.source.get("config", {}).get("condition")
    usage = DEFOCUS_USAGE if condition == "defocus" else APERTURE_USAGE if condition else None
    lines = [f"# bggan export, {h}x{w}", "",
             (f"Generator: {result.source.get('generator')}, from `{result.source.get('weights')}` "
              f"(sha256 {str(result.source.get('sha256'))[:16]}..., EMA preferred: {cfg.ema})."), "",
             USAGE, "", *([usage, ""] if usage else []),
             "## Parity", "",
             f"On {cfg.parity_images} image(s) from {cfg.calibration_dir or 'the synthetic generator'}"
             + (f", each at {', '.join(aperture_label(f) for f in PARITY_F_NUMBERS)}" if condition else "")
             + (" (its defocus map from the scene's depth, or a ground plane's for a photo, focused on the subject)"
                if condition == "defocus" else "") + "; PSNR on [-1, 1].",
             "", "| model | against | max abs error | PSNR (dB) | threshold | |", "|---|---|---|---|---|---|"]
    for p in result.parity:
        rule = "reported" if p.min_psnr is None else f">= {p.min_psnr:g}"
        lines.append(f"| {p.hop} | {p.against} | {p.max_abs:.3g} | {p.psnr:.1f} | {rule} | "
                     f"{'ok' if p.passed else 'FAILED'} |")
    if result.zero_defocus_max_abs:
        found = ", ".join(f"`{name}` {'exactly' if v == 0 else f'{v:.3g} from'}"
                          for name, v in result.zero_defocus_max_abs.items())
        lines += ["", f"A defocus map of zeros returns the photo: {found} (TFLite on the CPU)."]
    lines += ["", "## TFLite ops", "",
              "| file | on the GPU delegate's op list | ops |", "|---|---|---|"]
    for name, t in result.tflite.items():
        ops = ", ".join(f"{op} {n}" for op, n in t.ops.items())
        lines.append(f"| {name} | {'yes' if t.ops_allowed else 'NO'} | {ops} |")
    onnx_ops = ", ".join(f"{k} {v}" for k, v in result.onnx_ops.items())
    lines += ["", REMAINING, "", ANALYZER, "", *gpu_section(result), "", fp16_headroom(result), "",
              f"ONNX ops: {onnx_ops}.", "",
              "## Time and memory", "", "| step | seconds | peak RSS (GiB) |", "|---|---|---|"]
    lines += [f"| {s.name} | {s.seconds:.1f} | {s.peak_rss_gb:.2f} |" for s in result.steps]
    lines += [f"| **total** | {result.seconds:.1f} | {result.peak_rss_gb:.2f} (process peak) |", "",
              "## Files", ""]
    lines += [f"- `{name}`: {size / 2**20:.1f} MiB" for name, size in result.files.items()]
    lines += ["", "## Versions", "", ", ".join(f"{k} {v}" for k, v in versions.items()), ""]
    return "\n".join(lines)


def write_report(result: ExportResult, cfg: ExportConfig, folder: Path) -> None:
    versions = _versions()
    data = {"config": {**vars(cfg), "size": list(cfg.size)}, "versions": versions, **as_dict(result)}
    data.pop("out")
    with atomic_output(folder / "report.json") as tmp:
        tmp.write_text(json.dumps(_finite(data), indent=2) + "\n")
    with atomic_output(folder / "report.md") as tmp:
        tmp.write_text(markdown(result, cfg, versions))
