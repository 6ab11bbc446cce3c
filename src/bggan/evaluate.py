"""Metrics of a generator on held-out pairs, and of the identity baseline (output = input).

Conventions: PSNR and SSIM from torchmetrics on RGB images in [0, 1] (data range 1), whole
images, no border crop; SSIM with an 11x11 Gaussian window (sigma 1.5); both averaged over
images (PSNR per image, then the mean).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure
from tqdm import tqdm

from bggan.images import to_tensor
from bggan.losses import to_unit_range
from bggan.models.glassnet import GlassNet


def image_metrics() -> tuple[PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure]:
    """Fresh PSNR and SSIM metrics with this module's conventions (also what training validation logs)."""
    return PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3)), StructuralSimilarityIndexMeasure(data_range=1.0)


@dataclass
class Scores:
    """Mean PSNR (dB) and SSIM over ``images`` pairs, and the model's seconds per image."""

    psnr: float
    ssim: float
    images: int
    seconds_per_image: float


@torch.no_grad()
def evaluate(model: GlassNet | None, pairs: Dataset, desc: str = "evaluating") -> Scores:
    """Score ``model`` (``None``: the identity baseline) on ``pairs``.

    Args:
        model: a generator (put in eval mode here), or ``None`` to score the input itself.
        pairs: items ``{"input", "target"}``, ``(H, W, 3)`` uint8 (e.g. the validation split of
            :class:`~bggan.data.SyntheticPairs` or :class:`~bggan.data.PairedImages`).
    """
    psnr, ssim = image_metrics()
    if model is not None:
        model.eval()
    seconds = 0.0
    for i in tqdm(range(len(pairs)), desc=desc, unit="image", leave=False):
        item = pairs[i]
        x, target = to_tensor(item["input"]), to_tensor(item["target"])
        start = time.perf_counter()
        pred = x if model is None else model(x)[0]
        seconds += time.perf_counter() - start
        pred, target = to_unit_range(pred).clamp(0, 1), to_unit_range(target)
        psnr.update(pred, target)
        ssim.update(pred, target)
    n = len(pairs)
    return Scores(float(psnr.compute()), float(ssim.compute()), n, seconds / max(n, 1) if model is not None else 0.0)
