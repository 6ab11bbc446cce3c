"""``report.json`` (everything measured, for tools) and ``report.md`` (the same, for people)."""

from __future__ import annotations

import json
import math
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bggan.export.pipeline import ExportConfig, ExportResult, as_dict
from bggan.files import atomic_output

PACKAGES = ("bggan", "torch", "onnx", "onnxscript", "onnxsim", "onnxruntime", "onnx2tf", "tensorflow", "ai-edge-litert")

USAGE = """\
Every model takes one image, float32 in [-1, 1] (`pixel / 127.5 - 1`, RGB), and returns the bokeh
image in the same range (`(y + 1) * 127.5`, rounded and clipped, gives 8-bit pixels):
- `model.onnx`: NCHW, input `image` `1x3xHxW`, output `bokeh` `1x3xHxW`;
- `saved_model/` and `model_*.tflite`: NHWC, input `image` `1xHxWx3`, output `bokeh` `1xHxWx3`.
The size is fixed: normalization is built from average pooling over whole feature maps, so its
windows are constants of this export. Pad or resize other photos to this size first."""

REMAINING = """\
Left in the TFLite graph, and why: CONV_2D and TRANSPOSE_CONV (the network; stride-2 'same'
padding is the convolution's own), AVERAGE_POOL_2D + SUB + MUL + RSQRT + ADD (the normalization:
mean and variance over each whole feature map, `+ eps` on the 1x1 variance), SUB for every skip
connection and for each split convolution (`x - (-y)`: onnx2tf 1.29 mis-lays-out an Add of two
feature maps), RELU/TANH where not fused, DEQUANTIZE for fp16/int8 weights. No TRANSPOSE,
STRIDED_SLICE, PAD, CONCATENATION or MEAN."""


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
    lines = [f"# bggan export, {h}x{w}", "",
             (f"Generator: {result.source.get('generator')}, from `{result.source.get('weights')}` "
              f"(sha256 {str(result.source.get('sha256'))[:16]}..., EMA preferred: {cfg.ema})."), "",
             USAGE, "", "## Parity", "",
             f"On {cfg.parity_images} image(s) from {cfg.calibration_dir or 'the synthetic generator'}; PSNR on [-1, 1].",
             "", "| model | against | max abs error | PSNR (dB) | threshold | |", "|---|---|---|---|---|---|"]
    for p in result.parity:
        rule = "reported" if p.min_psnr is None else f">= {p.min_psnr:g}"
        lines.append(f"| {p.hop} | {p.against} | {p.max_abs:.3g} | {p.psnr:.1f} | {rule} | "
                     f"{'ok' if p.passed else 'FAILED'} |")
    lines += ["", "## TFLite ops and the GPU delegate", "",
              "| file | GPU ready | TF analyzer | ops |", "|---|---|---|---|"]
    for name, t in result.tflite.items():
        ops = ", ".join(f"{op} {n}" for op, n in t.ops.items())
        lines.append(f"| {name} | {'yes' if t.gpu_ready else 'NO'} | "
                     f"{'compatible' if t.analyzer_ok else 'incompatible'} | {ops} |")
    lines += ["", REMAINING, "", f"ONNX ops: {', '.join(f'{k} {v}' for k, v in result.onnx_ops.items())}.", "",
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
