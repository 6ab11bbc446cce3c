"""What an export is asked to do (:class:`ExportConfig`) and what it found (:class:`ExportResult`), shared by the
pipeline that runs it (:mod:`bggan.export.pipeline`) and the report that writes it down (:mod:`bggan.export.report`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from bggan.export.gpu_hop import GpuHop
from bggan.export.parity import Parity
from bggan.export.tflite_check import TfliteCheck

#: The f-numbers every hop of a generator with the aperture as an input is checked at (inf: no blur): each
#: parity image at each of them.
PARITY_F_NUMBERS = (float("inf"), 8.0, 2.8, 1.4)


@dataclass
class ExportConfig:
    """One export; ``conf/export/default.yaml`` holds the same fields with their documentation.

    ``size`` is ``(H, W)``, multiples of 8; PSNR thresholds are in dB on [-1, 1] outputs.
    """

    weights: str
    out: str | None = None
    overwrite: bool = False
    size: tuple[int, int] = (1024, 1536)
    ema: bool = True
    int8_dynamic_range: bool = False
    int8: bool = False
    calibration_dir: str | None = None
    calibration_count: int = 8
    parity_images: int = 1
    seed: int = 0
    min_psnr_float32: float = 60.0
    min_psnr_float16: float = 45.0
    gpu: Literal["auto", "required", "off"] = "auto"
    min_psnr_gpu_fp32: float = 60.0
    min_psnr_gpu_fp16: float = 40.0
    threads: int = 2

    def out_dir(self) -> Path:
        """``out``, or ``export/<weights file stem>-<H>x<W>``."""
        if self.out:
            return Path(self.out)
        return Path("export") / f"{Path(self.weights).stem}-{self.size[0]}x{self.size[1]}"


@dataclass
class ExportResult:
    out: Path
    parity: list[Parity] = field(default_factory=list)
    tflite: dict[str, TfliteCheck] = field(default_factory=dict)
    onnx_ops: dict[str, int] = field(default_factory=dict)
    gpu: GpuHop = field(default_factory=lambda: GpuHop("skipped", "not run"))
    squared_deviation_max: float = 0.0
    #: a gated depth-aware model: per TFLite file, the largest difference from the photo at a defocus map of zeros
    zero_defocus_max_abs: dict[str, float] = field(default_factory=dict)
    steps: list = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)
    peak_rss_gb: float = 0.0
    seconds: float = 0.0
    source: dict = field(default_factory=dict)


def as_dict(result: ExportResult) -> dict:
    """``result`` as plain JSON-ready data."""
    data = asdict(result)
    data["out"] = str(result.out)
    for name, tflite in result.tflite.items():
        data["tflite"][name]["ops_allowed"] = tflite.ops_allowed
    data["parity"] = [{**asdict(p), "passed": p.passed} for p in result.parity]
    for run, found in zip(result.gpu.runs, data["gpu"]["runs"], strict=True):
        found["passed"] = run.passed
        if run.parity is not None:
            found["parity"]["passed"] = run.parity.passed
    return data
