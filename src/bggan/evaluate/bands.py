"""Bokeh measured where it lives: PSNR and detail kept per band of the target's circle of confusion.

Bokeh is the difference between a sharp subject and a blurred background, which PSNR and SSIM over a
whole image cannot see: a model that blurs everything wins most of their gain on the background. Where
the target's signed circle of confusion (CoC, px, negative in front of the focal plane) is known per
pixel, the image is split into bands of ``|CoC|``:

- **in focus**: ``|CoC| < 1`` px (the subject, the ground at its distance);
- **transition**: ``1 <= |CoC| <= 8`` px;
- **out of focus**: ``|CoC| > 8`` px.

Per band: **PSNR** over the band's pixels (RGB in [0, 1]) and **detail kept**, the output's
high-frequency energy over the target's, ``E(output) / E(target)``. ``E`` is the mean squared Laplacian
of the luminance after a 3x3 binomial blur (a band-pass that peaks at periods of about 3-4 px and
ignores pixel noise), over the band's pixels at least ``erode`` px inside it (and inside the image). In
focus a model that keeps the subject sharp scores near 1 and a blur filter near 0; out of focus near 1
as well: above 1 is not blurred enough (the input itself scores far above 1), below 1 is blurred more
than the lens would. The ratio is steep: on a textured scene, a background blurred by half the right
amount scores about 9. A blur that reaches farther into the band than ``erode`` spreads strong edges
from outside into it, which adds energy the target does not have; one image can then score high while
being blurred, so over images the detail kept is the **median** (PSNR the mean).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: The bands, in order from sharp to blurred.
BAND_NAMES = ("in_focus", "transition", "out_of_focus")
#: Rec. 601 luma weights, on gamma-encoded RGB (what the eye calls detail).
_LUMA = (0.299, 0.587, 0.114)
_BINOMIAL = torch.tensor([1.0, 2.0, 1.0]) / 4
_LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


@dataclass(frozen=True)
class CocBands:
    """Band edges in px of ``|CoC|``, and how each band is measured.

    Args:
        in_focus: ``|CoC|`` below this is in focus.
        out_of_focus: ``|CoC|`` above this is out of focus; between the two, the transition.
        erode: pixels a detail measurement stays inside its band (and away from the image border).
        min_pixels: bands with fewer (eroded) pixels report no detail value.
        min_energy: target energy below this (a band without texture: sky, a wall) reports no detail value.
    """

    in_focus: float = 1.0
    out_of_focus: float = 8.0
    erode: int = 4
    min_pixels: int = 64
    min_energy: float = 1e-6

    def __post_init__(self) -> None:
        if not 0 < self.in_focus <= self.out_of_focus:
            raise ValueError(f"need 0 < in_focus <= out_of_focus, got {self.in_focus}, {self.out_of_focus}")

    def describe(self) -> str:
        return (f"bands of the target's |CoC|: in focus < {self.in_focus:g} px, transition {self.in_focus:g}-"
                f"{self.out_of_focus:g} px, out of focus > {self.out_of_focus:g} px")


#: In focus below 1 px, out of focus above 8 px.
DEFAULT_BANDS = CocBands()


@dataclass(frozen=True)
class BandMetrics:
    """One band of one image: its share of the pixels, PSNR (dB) and detail kept (``None``: too little to measure)."""

    fraction: float
    psnr: float | None
    detail: float | None


def detail_energy(images: torch.Tensor) -> torch.Tensor:
    """Squared band-passed Laplacian of the luminance: ``(B, 3, H, W)`` in [0, 1] -> ``(B, 1, H, W)`` >= 0.

    The luminance is blurred by a 3x3 binomial kernel, then the 4-neighbour Laplacian is taken (both with
    replicated borders); the result is squared.
    """
    luma = (images * images.new_tensor(_LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    binomial = _BINOMIAL.to(images)
    kernel = (binomial[:, None] * binomial[None, :]).view(1, 1, 3, 3)
    smooth = F.conv2d(F.pad(luma, (1, 1, 1, 1), mode="replicate"), kernel)
    return F.conv2d(F.pad(smooth, (1, 1, 1, 1), mode="replicate"), _LAPLACE.to(images).view(1, 1, 3, 3)).square()


def band_masks(coc: torch.Tensor, bands: CocBands = DEFAULT_BANDS) -> dict[str, torch.Tensor]:
    """``(B, 1, H, W)`` signed CoC (px) -> one ``(B, 1, H, W)`` bool mask per band of :data:`BAND_NAMES`."""
    size = coc.abs()
    return {"in_focus": size < bands.in_focus,
            "transition": (size >= bands.in_focus) & (size <= bands.out_of_focus),
            "out_of_focus": size > bands.out_of_focus}


def _erode(mask: torch.Tensor, px: int) -> torch.Tensor:
    """Pixels of ``mask`` at least ``px`` from its edge and from the image border."""
    if px <= 0:
        return mask
    outside = F.pad((~mask).float(), (px, px, px, px), value=1.0)
    return F.max_pool2d(outside, 2 * px + 1, stride=1) < 0.5


@torch.no_grad()
def band_metrics(pred: torch.Tensor, target: torch.Tensor, coc: torch.Tensor,
                 bands: CocBands = DEFAULT_BANDS) -> list[dict[str, BandMetrics]]:
    """PSNR and detail kept per band, for each image of a batch.

    Args:
        pred: model outputs ``(B, 3, H, W)`` in [-1, 1] (clamped here).
        target: targets ``(B, 3, H, W)`` in [-1, 1].
        coc: the target's signed circle of confusion ``(B, 1, H, W)`` (or ``(B, H, W)``), px.
        bands: band edges and measurement settings.

    Returns:
        One ``{band name: BandMetrics}`` per image.
    """
    if coc.dim() == 3:
        coc = coc[:, None]
    if coc.shape[-2:] != pred.shape[-2:] or pred.shape != target.shape:
        raise ValueError(f"sizes differ: output {tuple(pred.shape)}, target {tuple(target.shape)}, "
                         f"CoC {tuple(coc.shape)}")
    pred = ((pred.float() + 1) / 2).clamp(0, 1)
    target = ((target.float() + 1) / 2).clamp(0, 1)
    coc = coc.to(pred)
    error = (pred - target).square().mean(1, keepdim=True)
    energy_pred, energy_target = detail_energy(pred), detail_energy(target)
    results: list[dict[str, BandMetrics]] = [{} for _ in range(pred.shape[0])]
    for name, mask in band_masks(coc, bands).items():
        inner = _erode(mask, bands.erode)
        for i in range(pred.shape[0]):
            m, core = mask[i], inner[i]
            count = int(m.sum())
            psnr = None
            if count:
                mse = float(error[i][m].mean())
                psnr = float("inf") if mse == 0 else float(-10 * torch.log10(torch.tensor(mse)))
            kept = None
            if int(core.sum()) >= bands.min_pixels:
                reference = float(energy_target[i][core].mean())
                if reference >= bands.min_energy:
                    kept = float(energy_pred[i][core].mean()) / reference
            results[i][name] = BandMetrics(count / m.numel(), psnr, kept)
    return results


def mean_bands(per_image: list[dict[str, BandMetrics]]) -> dict[str, BandMetrics]:
    """Summaries over images, per band: the mean fraction, the mean PSNR and the **median** detail kept, each over
    the images that have a value (see the module docstring for why the median)."""
    out = {}
    for name in BAND_NAMES:
        rows = [r[name] for r in per_image if name in r]
        if not rows:
            continue
        psnrs = [r.psnr for r in rows if r.psnr is not None]
        details = [r.detail for r in rows if r.detail is not None]
        out[name] = BandMetrics(sum(r.fraction for r in rows) / len(rows),
                                sum(psnrs) / len(psnrs) if psnrs else None,
                                float(statistics.median(details)) if details else None)
    return out
