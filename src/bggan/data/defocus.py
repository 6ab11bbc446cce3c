"""Physically motivated defocus: thin-lens circle of confusion, disk kernels, layered compositing.

Images here are float32 arrays in *linear* light, ``(H, W, 3)``; values above 1 are highlights
brighter than the sensor's white, which is what turns into bright bokeh discs when blurred.
A scene is a stack of layers at constant depth, far to near; each is premultiplied RGBA.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB values in [0, 1] -> linear light (the exact sRGB curve)."""
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Linear light -> sRGB in [0, 1], clipped (a highlight above white saturates, like a sensor)."""
    x = np.clip(x, 0, 1)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)


@dataclass(frozen=True)
class Lens:
    """A thin lens on a sensor. Defaults: a 50 mm lens at f/1.8 on APS-C (EBB! used a Canon 70D)."""

    focal_mm: float = 50.0
    f_number: float = 1.8
    sensor_width_mm: float = 22.5

    def coc_px(self, depth_m: float | np.ndarray, focus_m: float, width_px: int) -> float | np.ndarray:
        """Circle-of-confusion *diameter* in pixels for a point at ``depth_m`` when focused at ``focus_m``.

        Thin lens: ``c = A * f / (S - f) * |d - S| / d`` on the sensor, with aperture diameter
        ``A = f / N``; converted to pixels of an image ``width_px`` wide.
        """
        f = self.focal_mm / 1000
        aperture = f / self.f_number
        c = aperture * f / (focus_m - f) * np.abs(depth_m - focus_m) / depth_m
        return c / (self.sensor_width_mm / 1000) * width_px

    def focal_px(self, width_px: int) -> float:
        """The focal length in pixels of an image ``width_px`` wide (the sensor's width spans the image)."""
        return self.focal_mm / self.sensor_width_mm * width_px

    def depth_at_coc(self, signed_coc_px: float, focus_m: float, width_px: int) -> float:
        """The depth whose circle of confusion is ``signed_coc_px`` (negative: in front of the focus).

        The inverse of :meth:`coc_px`: with ``K`` the diameter at infinity, ``d = S / (1 - c / K)`` behind the
        focus and ``d = S / (1 + |c| / K)`` in front; ``inf`` for ``c >= K``.
        """
        at_infinity = float(self.coc_px(1e12, focus_m, width_px))
        if signed_coc_px >= at_infinity:
            return float("inf")
        return focus_m / (1 - signed_coc_px / at_infinity) if signed_coc_px >= 0 else \
            focus_m / (1 + abs(signed_coc_px) / at_infinity)


def disk_kernel(diameter: float) -> np.ndarray:
    """An anti-aliased disk (the shape of a circular aperture), summing to 1; a 1x1 delta below 1 px."""
    radius = diameter / 2
    if radius < 0.5:
        return np.ones((1, 1), np.float32)
    half = int(np.ceil(radius))
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    # coverage of each pixel by the disk, approximated by a 1-px linear ramp at the rim
    kernel = np.clip(radius + 0.5 - np.hypot(yy, xx), 0, 1).astype(np.float32)
    return kernel / kernel.sum()


#: Circles of confusion at least this wide are blurred at half resolution (4x cheaper; the disc's
#: rim softens by less than a pixel at full size).
HALF_RES_DIAMETER = 16.0


def blur(image: np.ndarray, diameter: float) -> np.ndarray:
    """Convolve ``(H, W, C)`` with a disk of ``diameter`` px; the image is reflected at its borders.

    Computed with FFTs on the reflect-padded image; the circular wrap-around stays in the
    padding, which is cropped away. Wide disks (>= ``HALF_RES_DIAMETER``) are applied at half
    resolution: box-downsample, blur with half the diameter, bilinear upsample.
    """
    h, w = image.shape[:2]
    if diameter >= HALF_RES_DIAMETER and min(h, w) >= 8:
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
        small = F.avg_pool2d(x, 2, ceil_mode=True)[0].numpy().transpose(1, 2, 0)
        small = torch.from_numpy(np.ascontiguousarray(_disk_blur(small, diameter / 2).transpose(2, 0, 1)))[None]
        return F.interpolate(small, scale_factor=2, mode="bilinear")[0, :, :h, :w].numpy().transpose(1, 2, 0)
    return _disk_blur(image, diameter)


def _disk_blur(image: np.ndarray, diameter: float) -> np.ndarray:
    kernel = disk_kernel(diameter)
    if kernel.shape == (1, 1):
        return image
    r = kernel.shape[0] // 2
    h, w = image.shape[:2]
    padded = np.pad(image, ((r, r), (r, r), (0, 0)), mode="reflect")
    size = padded.shape[:2]
    centred = torch.zeros(size)
    centred[: 2 * r + 1, : 2 * r + 1] = torch.from_numpy(kernel)
    centred = torch.roll(centred, (-r, -r), (0, 1))
    x = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1)))
    out = torch.fft.irfft2(torch.fft.rfft2(x) * torch.fft.rfft2(centred), s=size)
    return out[:, r:r + h, r:r + w].numpy().transpose(1, 2, 0)


@dataclass(eq=False)  # compared by identity: equal arrays do not make the same layer
class Layer:
    """One plane of a scene at constant depth.

    Attributes:
        color: ``(H, W, 3)`` linear light, not premultiplied.
        alpha: ``(H, W)`` coverage in [0, 1].
        depth_m: distance from the lens.
        name: what it is, for reports and tests.
        diameter_px: its circle of confusion, when it is one slice of a surface cut by circle of
            confusion (:func:`bggan.data.depth_bokeh.depth_layers`); ``None``: the lens's at ``depth_m``.
    """

    color: np.ndarray
    alpha: np.ndarray
    depth_m: float
    name: str = ""
    diameter_px: float | None = None


def bounding_box(alpha: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(y0, y1, x0, x1)`` of the non-zero part of ``alpha`` ``(H, W)``, or None if it is empty."""
    rows, cols = np.flatnonzero(alpha.any(1)), np.flatnonzero(alpha.any(0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def composite(layers: list[Layer], diameters: list[float] | None = None, normalize: bool = False) -> np.ndarray:
    """Composite layers far to near with "over", each blurred by its own disk first.

    Blurring the premultiplied colour and the alpha of each layer separately, then compositing,
    is occlusion-aware: a blurred near layer spreads over what lies behind it, and a blurred
    far layer never bleeds over a sharp near one. Blur happens only inside each layer's
    bounding box (grown by the kernel radius), which keeps small objects cheap.

    Args:
        layers: far to near; the farthest should cover the whole frame.
        diameters: circle of confusion per layer in px; ``None`` renders everything in focus.
        normalize: divide by the total coverage at the end. Needed when the layers do not cover
            the frame (layers cut from one photo have holes where nearer things were): the holes'
            blurred edges then take the colour of what surrounds them instead of fading to black.

    Returns:
        ``(H, W, 3)`` linear light.
    """
    h, w = layers[0].alpha.shape
    out = np.zeros((h, w, 4), np.float32)  # premultiplied colour and coverage
    for i, layer in enumerate(layers):
        box = bounding_box(layer.alpha)
        if box is None:
            continue
        diameter = 0.0 if diameters is None else diameters[i]
        pad = int(np.ceil(diameter / 2)) + 1
        y0, y1 = max(box[0] - pad, 0), min(box[1] + pad, h)
        x0, x1 = max(box[2] - pad, 0), min(box[3] + pad, w)
        alpha = layer.alpha[y0:y1, x0:x1, None]
        rgba = np.concatenate([layer.color[y0:y1, x0:x1] * alpha, alpha], axis=-1)
        if diameter >= 1:
            rgba = blur(rgba, diameter)
        out[y0:y1, x0:x1] = rgba + (1 - rgba[..., 3:]) * out[y0:y1, x0:x1]
    if normalize:
        return out[..., :3] / np.maximum(out[..., 3:], 1e-6)
    return out[..., :3]
