"""Numeric parity of one hop: the converted model's output against PyTorch's, on the same images.

Outputs are ``(N, H, W, 3)`` float32 in [-1, 1]; PSNR is taken on that range (peak-to-peak 2) over
all images at once, so ``psnr = 10 log10(4 / mse)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Parity:
    """``hop``: which model was compared; ``min_psnr``: its threshold, or None when only reported."""

    hop: str
    max_abs: float
    psnr: float
    min_psnr: float | None = None
    against: str = "pytorch"

    @property
    def passed(self) -> bool:
        return self.min_psnr is None or self.psnr >= self.min_psnr

    def line(self) -> str:
        rule = "reported" if self.min_psnr is None else f"needs >= {self.min_psnr:g} dB"
        return f"{self.hop} vs {self.against}: max abs {self.max_abs:.3g}, PSNR {self.psnr:.1f} dB ({rule})"


def compare(hop: str, reference: np.ndarray, output: np.ndarray, min_psnr: float | None = None,
            against: str = "pytorch") -> Parity:
    """Max abs error and PSNR of ``output`` against ``reference`` (same shape, values in [-1, 1])."""
    if reference.shape != output.shape:
        raise ValueError(f"{hop}: output shape {output.shape} differs from the reference {reference.shape}")
    diff = output.astype(np.float64) - reference.astype(np.float64)
    mse = float(np.mean(diff * diff))
    psnr = math.inf if mse == 0 else 10 * math.log10(4 / mse)
    return Parity(hop, float(np.abs(diff).max()), psnr, min_psnr, against)
