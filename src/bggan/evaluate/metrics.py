"""PSNR, SSIM and LPIPS of one image against its target, with the project's fixed conventions.

Conventions: PSNR and SSIM from torchmetrics on RGB images in [0, 1] (data range 1), whole images
unless a border crop is asked for; SSIM with an 11x11 Gaussian window (sigma 1.5); model outputs
clamped to [0, 1], not quantized; means over images (PSNR per image, then the mean). Training
validation logs the same numbers (:func:`image_metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from bggan.errors import BgganError
from bggan.evaluate.bands import DEFAULT_BANDS, BandMetrics, CocBands, band_metrics
from bggan.losses import to_unit_range


def image_metrics() -> tuple[PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure]:
    """Fresh PSNR and SSIM metrics with this module's conventions (also what training validation logs)."""
    return PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3)), StructuralSimilarityIndexMeasure(data_range=1.0)


@dataclass
class Metrics:
    """One image against its target: PSNR (dB, ``inf`` for an exact match), SSIM, LPIPS (``None``: not computed),
    and PSNR and detail kept per band of the target's circle of confusion when it is known
    (:mod:`bggan.evaluate.bands`)."""

    psnr: float
    ssim: float
    lpips: float | None = None
    bands: dict[str, BandMetrics] | None = None


class Scorer:
    """PSNR, SSIM and (optionally) LPIPS of one image against its target, with fixed conventions.

    Args:
        crop_border: pixels cropped from every side of both images before scoring (0: whole images).
        lpips: a callable ``(a, b) -> (N,)`` distances for ``(N, 3, H, W)`` tensors in [-1, 1] (e.g.
            :class:`bggan.models.lpips.LPIPS`), or ``None`` to leave LPIPS out.
        lpips_note: one line saying what LPIPS is (or why it is missing), for reports.
        device: where the metrics run (an ``nn.Module`` LPIPS is moved there).
        bands: the circle-of-confusion bands, for images whose target CoC is known.
    """

    def __init__(self, crop_border: int = 0, lpips=None, lpips_note: str = "LPIPS off",
                 device: str | torch.device = "cpu", bands: CocBands = DEFAULT_BANDS):
        if crop_border < 0:
            raise BgganError(f"--crop-border must be >= 0, got {crop_border}")
        self.crop_border, self.lpips, self.lpips_note, self.bands = crop_border, lpips, lpips_note, bands
        self.device = torch.device(device)
        self.psnr, self.ssim = (m.to(self.device) for m in image_metrics())
        if isinstance(lpips, torch.nn.Module):
            lpips.to(self.device)
        self.lpips_failures = 0  #: images whose LPIPS could not be computed (e.g. smaller than its network needs)

    def band_conventions(self) -> str:
        """One line saying how the per-band numbers were computed."""
        return (f"{self.bands.describe()}; per band PSNR (mean over images), and detail kept (median over images): "
                "the output's high-frequency energy (squared Laplacian of the binomial-blurred luminance) over the "
                f"target's, {self.bands.erode} px inside the band (near 1 is right; a blur filter scores near 0 in "
                "focus, the input far above 1 out of focus)")

    def conventions(self) -> str:
        """One line stating how the numbers were computed."""
        region = (f"{self.crop_border} px cropped from every side before scoring" if self.crop_border
                  else "whole images (no border crop)")
        return (f"PSNR and SSIM from torchmetrics on RGB in [0, 1] (data range 1), {region}; SSIM with an 11x11 "
                "Gaussian window (sigma 1.5); model outputs clamped to [0, 1], not quantized; means over images "
                "(per-image PSNR, then the mean); PSNR is inf for an exact match, and so is any mean that "
                "includes one")

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., H, W)`` -> ``(..., H - 2N, W - 2N)`` for ``crop_border`` N; BgganError if nothing is left."""
        n = self.crop_border
        if n == 0:
            return x
        h, w = x.shape[-2:]
        if h <= 2 * n or w <= 2 * n:
            raise BgganError(f"image is {h}x{w}, too small for --crop-border {n}")
        return x[..., n:h - n, n:w - n]

    @torch.inference_mode()
    def __call__(self, pred: torch.Tensor, target: torch.Tensor, coc: torch.Tensor | None = None) -> Metrics:
        """Score ``pred`` against ``target``, both ``(1, 3, H, W)`` in [-1, 1] (``pred`` is clamped).

        ``coc``: the target's signed circle of confusion ``(1, 1, H, W)`` in px, if known: adds the
        per-band numbers.

        Raises:
            BgganError: the sizes differ, or the crop leaves nothing.
        """
        if pred.shape != target.shape or (coc is not None and coc.shape[-2:] != target.shape[-2:]):
            what = f"output is {pred.shape[-2]}x{pred.shape[-1]}" if pred.shape != target.shape else \
                f"its CoC map is {coc.shape[-2]}x{coc.shape[-1]}"
            raise BgganError(f"{what} but its target is {target.shape[-2]}x{target.shape[-1]} (HxW)")
        bands = None
        if coc is not None:
            crops = [self.crop(t.to(self.device, torch.float32)) for t in (pred, target, coc)]
            bands = band_metrics(*crops, bands=self.bands)[0]
        pred = self.crop(to_unit_range(pred.to(self.device, torch.float32)).clamp(0, 1))
        target = self.crop(to_unit_range(target.to(self.device, torch.float32)).clamp(0, 1))
        values = []
        for metric in (self.psnr, self.ssim):
            metric.reset()
            metric.update(pred, target)
            values.append(float(metric.compute()))
        return Metrics(values[0], values[1], self._lpips(pred, target), bands)

    def _lpips(self, pred: torch.Tensor, target: torch.Tensor) -> float | None:
        """LPIPS of two ``(1, 3, h, w)`` images in [0, 1] (the metric sees them in [-1, 1]); ``None`` if off or failed."""
        if self.lpips is None:
            return None
        try:
            return float(self.lpips(pred * 2 - 1, target * 2 - 1).reshape(-1)[0])
        except (ValueError, RuntimeError):  # e.g. an image smaller than the network's 31 px
            self.lpips_failures += 1
            return None


def load_lpips_metric(enabled: bool = True) -> tuple[object | None, str]:
    """``(metric, note)`` from :func:`bggan.models.lpips.find_lpips` (imported here, lazily); never raises.

    ``metric`` is ``None`` when ``enabled`` is false, the module is missing, or it found no weights; the
    note is one line saying which.
    """
    if not enabled:
        return None, "LPIPS off (--no-lpips)"
    try:
        from bggan.models.lpips import find_lpips
    except ImportError:
        return None, "LPIPS skipped (bggan.models.lpips not available)"
    try:
        return find_lpips()
    except Exception as e:  # noqa: BLE001 (find_lpips promises not to raise; a report must not die of it)
        return None, f"LPIPS skipped ({type(e).__name__}: {e})"
