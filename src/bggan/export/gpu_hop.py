"""The GPU hop: every TFLite file compiled on LiteRT's GPU accelerator alone (no CPU fallback), run, compared.

A float model must compile with the GPU as its only accelerator (an op the GPU cannot run fails the
compile), report ``is_fully_accelerated()``, and match PyTorch at the GPU's fp32 (``enforce_f32``) and
default fp16 precision within the configured PSNR. int8 files are run and reported, not judged. The
runtime is :mod:`bggan.litert_gpu` (on machines without a GPU: Mesa's software Vulkan driver, so its
timings say nothing about a phone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bggan.errors import ExportFailed
from bggan.export.onnx_file import condition_input, split_inputs
from bggan.export.parity import Parity, compare
from bggan.litert_gpu import GpuCompileFailed, GpuModel, GpuRuntime, GpuRuntimeMissing, find_runtime

PRECISIONS = ("fp32", "fp16")


@dataclass
class GpuRun:
    """One file at one precision: compiled (or refused with ``error``), and its parity against PyTorch."""

    file: str
    precision: str
    judged: bool
    fully_accelerated: bool = False
    compile_s: float = 0.0
    first_run_s: float = 0.0
    parity: Parity | None = None
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and self.fully_accelerated and (self.parity is None or self.parity.passed)


@dataclass
class GpuHop:
    """``status``: ``ran`` or ``skipped`` (with ``reason``); ``adapter`` as the runtime names it."""

    status: str
    reason: str = ""
    adapter: str = ""
    software: bool = False
    litert: str = ""
    runs: list[GpuRun] = field(default_factory=list)


def gpu_hop(files: list[Path], images: np.ndarray, reference: np.ndarray, mode: str,
            thresholds: dict[str, float], log=print, conditions: np.ndarray | None = None) -> GpuHop:
    """Run ``files`` on the GPU accelerator at both precisions and compare with ``reference``.

    Args:
        files: ``.tflite`` paths; ``model_float*`` files are judged, others reported.
        images, reference: ``(N, H, W, 3)`` float32 inputs and PyTorch's outputs, in [-1, 1].
        mode: ``"auto"`` (skipped, with the reason, when there is no runtime or no Vulkan device),
            ``"required"`` (then that fails the export) or ``"off"``.
        thresholds: minimum PSNR (dB) by precision, ``{"fp32": 60, "fp16": 40}``.
        conditions: one per image for a model with a second input (:mod:`bggan.export.runners`): ``(N,)``
            strengths or ``(N, H, W)`` defocus maps.

    Raises:
        ExportFailed: a judged file was refused, not fully accelerated or below its threshold; or
            ``mode == "required"`` and no runtime was found.
    """
    if mode == "off":
        return GpuHop("skipped", "gpu=off")
    hop = GpuHop("ran")
    try:
        runtime = find_runtime()
        for path in files:
            for precision in PRECISIONS:
                hop.runs.append(_run_one(runtime, path, precision, images, reference, thresholds, hop, log,
                                         conditions))
    except GpuRuntimeMissing as e:
        if mode == "required":
            raise ExportFailed(f"the GPU hop is required (gpu=required) but {e}") from None
        log(f"  skipped: {e}")
        return GpuHop("skipped", str(e))
    return hop


def _feed(model: GpuModel, image: np.ndarray, condition) -> dict[str, np.ndarray] | np.ndarray:
    """One image ``(H, W, 3)`` as the model's input, with its strength or defocus map in the second input if any."""
    if condition is None:
        return image[None]
    name, second = split_inputs({n: spec["shape"] for n, spec in model.inputs.items()})
    return {name: image[None], second: condition_input(condition, nhwc=True)}


def _run_one(runtime: GpuRuntime, path: Path, precision: str, images: np.ndarray, reference: np.ndarray,
             thresholds: dict[str, float], hop: GpuHop, log, conditions: np.ndarray | None = None) -> GpuRun:
    judged = path.name.startswith("model_float")
    run = GpuRun(path.name, precision, judged)
    try:
        model = GpuModel(path, precision, runtime)
    except GpuCompileFailed as e:
        run.error = str(e)
        log(f"  {path.name} ({precision}): REFUSED: {e}")
        if judged:
            raise ExportFailed(f"{e}") from None
        return run
    with model:
        hop.adapter, hop.software, hop.litert = model.adapter, model.software, model.litert
        run.fully_accelerated, run.compile_s = model.fully_accelerated, round(model.compile_s, 2)
        if not model.fully_accelerated:
            run.error = "not fully accelerated"
        else:
            outputs = []
            for i, image in enumerate(images):
                (y,) = model.run(_feed(model, image, None if conditions is None else conditions[i])).values()
                outputs.append(y[0])
                if i == 0:
                    run.first_run_s = round(model.last_run_s, 2)
            hop_name = f"{path.name} on the GPU ({precision})"
            run.parity = compare(hop_name, reference, np.stack(outputs), thresholds[precision] if judged else None)
    state = "ok" if run.passed else "FAILED"
    detail = run.parity.line() if run.parity else run.error
    log(f"  {detail}; fully accelerated: {run.fully_accelerated}; compile {run.compile_s:.1f} s, first run "
        f"{run.first_run_s:.1f} s; {state}")
    if judged and not run.passed:
        raise ExportFailed(f"GPU hop failed: {detail}")
    return run
