"""Depth as a phone delivers it: the true depth of a synthetic scene made as wrong as a phone's.

A phone's portrait mode gives a *relative* disparity map (``1 / depth`` stretched min..max to [0, 1], stored in 8
bits), at a fraction of the photo's resolution, smoothed across object edges, misaligned with the photo by a few
pixels, noisy and with holes. A network that takes depth as an input must learn to render from that, while its
target is rendered from the true depth. Each corruption here works on a relative disparity ``(H, W)`` float32 in
[0, 1] (1: nearest) and returns the same shape and range:

- :func:`low_resolution`: area-downsampled by a factor (4-16 on phones) and bilinearly resized back up;
- :func:`smooth`: a Gaussian blur (edges bleed into each other);
- :func:`grow`: grey dilation (near objects grow by ``px``) or, for negative ``px``, erosion (they shrink);
- :func:`shift`: moved against the photo by ``(dy, dx)`` px, the border repeated;
- :func:`noise`: Gaussian noise;
- :func:`holes`: blobs with no measurement, read as the farthest value (disparity 0), as unfilled gaps read;
- :func:`quantize`: rounded to ``2**bits`` levels.

:class:`PhoneDepth` draws a random mix of them per sample (training); :data:`NAMED` holds each alone at a
fixed, typical strength (evaluation: "with each corruption"). :func:`corrupted_coc` turns a true depth map into
the signed circle of confusion a renderer would compute from the corrupted map.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from bggan.data.defocus import Lens
from bggan.data.depth_bokeh import signed_coc
from bggan.errors import BgganError

#: A corruption: ``(relative disparity (H, W) in [0, 1], rng) -> the same``.
Corruption = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _as_map(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None]


def _done(x: torch.Tensor) -> np.ndarray:
    return x[0, 0].clamp(0, 1).numpy()


def relative_disparity(depth_m: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(H, W)`` metres -> ``(disparity stretched to [0, 1], lowest, highest 1/metre)``: 1 is the nearest point."""
    disparity = 1.0 / np.maximum(depth_m.astype(np.float64), 1e-6)
    lo, hi = float(disparity.min()), float(disparity.max())
    if hi <= lo:
        return np.zeros(depth_m.shape, np.float32), lo, hi
    return ((disparity - lo) / (hi - lo)).astype(np.float32), lo, hi


def metres_from_relative(relative: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The inverse of :func:`relative_disparity` given its range: ``(H, W)`` in [0, 1] -> metres (float32)."""
    disparity = lo + relative.astype(np.float64) * (hi - lo)
    return (1.0 / np.maximum(disparity, 1e-9)).astype(np.float32)


def low_resolution(relative: np.ndarray, factor: float) -> np.ndarray:
    """Area-downsample by ``factor`` (>= 1) and resize back up bilinearly."""
    h, w = relative.shape
    small = (max(1, round(h / factor)), max(1, round(w / factor)))
    x = F.interpolate(_as_map(relative), size=small, mode="area")
    return _done(F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False))


def smooth(relative: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of standard deviation ``sigma`` px (borders replicated)."""
    if sigma <= 0:
        return relative
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    g = torch.exp(-t.square() / (2 * sigma**2))
    g = g / g.sum()
    x = F.pad(_as_map(relative), (r, r, r, r), mode="replicate")
    x = F.conv2d(F.conv2d(x, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))
    return _done(x)


def grow(relative: np.ndarray, px: int) -> np.ndarray:
    """Near things (high disparity) grow by ``px`` px on every side (grey dilation); shrink for ``px < 0``."""
    if px == 0:
        return relative
    k = 2 * abs(px) + 1
    x = _as_map(relative)
    if px > 0:
        return _done(F.max_pool2d(F.pad(x, (px,) * 4, mode="replicate"), k, stride=1))
    return _done(-F.max_pool2d(F.pad(-x, (-px,) * 4, mode="replicate"), k, stride=1))


def shift(relative: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Moved down by ``dy`` and right by ``dx`` px (negative: up, left); the uncovered border repeats its edge."""
    h, w = relative.shape
    rows = np.clip(np.arange(h) - dy, 0, h - 1)
    cols = np.clip(np.arange(w) - dx, 0, w - 1)
    return relative[rows][:, cols]


def noise(relative: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Plus Gaussian noise of standard deviation ``sigma`` (in units of the whole range), clipped to [0, 1]."""
    return np.clip(relative + rng.normal(0, sigma, relative.shape).astype(np.float32), 0, 1)


def holes(relative: np.ndarray, share: float, rng: np.random.Generator, size: float = 0.04) -> np.ndarray:
    """About ``share`` of the pixels in blobs (each about ``size`` of the shorter side across) read as disparity 0,
    the farthest value: what an unfilled gap of a depth sensor reads as once stretched."""
    h, w = relative.shape
    radius = max(1.0, size * min(h, w) / 2)
    count = max(1, round(share * h * w / (math.pi * radius**2)))
    yy, xx = np.mgrid[0:h, 0:w]
    out = relative.copy()
    for _ in range(count):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = radius * rng.uniform(0.5, 1.5), radius * rng.uniform(0.5, 1.5)
        out[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = 0
    return out


def quantize(relative: np.ndarray, bits: int = 8) -> np.ndarray:
    """Rounded to ``2**bits`` levels, as an 8-bit (or 16-bit) depth image stores it."""
    levels = 2**bits - 1
    return (np.round(relative * levels) / levels).astype(np.float32)


#: Each corruption alone, at a typical phone's strength, by name (the evaluation's rows). The scale of pixels is
#: the working size's: at 192x288 a phone's 8x smaller map is 24x36.
NAMED: dict[str, Corruption] = {
    "low_res_8x": lambda d, rng: low_resolution(d, 8),
    "blurred": lambda d, rng: smooth(d, 2.0),
    "dilated": lambda d, rng: grow(d, 3),
    "eroded": lambda d, rng: grow(d, -3),
    "shifted": lambda d, rng: shift(d, 2, 3),
    "noisy": lambda d, rng: noise(d, 0.02, rng),
    "holes": lambda d, rng: holes(d, 0.02, rng),
    "8_bit": lambda d, rng: quantize(d, 8),
}


@dataclass(frozen=True)
class PhoneDepth:
    """A random mix of the corruptions, drawn per sample: each applied with probability ``p`` (the low resolution
    and the 8-bit quantisation always), in a phone's order: the sensor's low resolution, then smoothing, the edges
    grown or shrunk and shifted, noise and holes, and the 8-bit file last. A share ``clean`` of the samples keeps
    the true depth: a model robust to a phone's depth must still use a good one fully.

    Args:
        clean: probability of no corruption at all.
        p: probability of each optional corruption.
        factors: the low resolution, log-uniform in this range (1: full resolution).
        sigma: the largest Gaussian smoothing, px.
        edge_px: the largest dilation or erosion, and the largest shift, px.
        noise: the largest noise, in units of the range.
        hole_share: the largest share of pixels in holes.
        bits: the quantisation.
    """

    clean: float = 0.2
    p: float = 0.5
    factors: tuple[float, float] = (4.0, 16.0)
    sigma: float = 3.0
    edge_px: int = 4
    noise: float = 0.03
    hole_share: float = 0.03
    bits: int = 8

    def __post_init__(self) -> None:
        if not (0 <= self.clean <= 1 and 0 <= self.p <= 1 and 1 <= self.factors[0] <= self.factors[1]
                and self.sigma >= 0 and self.edge_px >= 0 and self.noise >= 0 and 0 <= self.hole_share < 1
                and 1 <= self.bits <= 16):
            raise BgganError(f"phone_depth: probabilities in [0, 1], 1 <= factors[0] <= factors[1], sizes >= 0 and "
                             f"1-16 bits, got {self}")
        object.__setattr__(self, "factors", (float(self.factors[0]), float(self.factors[1])))

    def __call__(self, relative: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < self.clean:
            return relative
        low, high = self.factors
        out = low_resolution(relative, float(np.exp(rng.uniform(np.log(low), np.log(high)))))
        if rng.random() < self.p:
            out = smooth(out, rng.uniform(0.5, self.sigma))
        if rng.random() < self.p:
            out = grow(out, int(rng.integers(-self.edge_px, self.edge_px + 1)))
        if rng.random() < self.p:
            out = shift(out, *(int(v) for v in rng.integers(-self.edge_px, self.edge_px + 1, 2)))
        if rng.random() < self.p:
            out = noise(out, rng.uniform(0, self.noise), rng)
        if rng.random() < self.p:
            out = holes(out, rng.uniform(0, self.hole_share), rng)
        return quantize(out, self.bits)


def corrupted_depth(depth_m: np.ndarray, corruption: Corruption | None, rng: np.random.Generator) -> np.ndarray:
    """``depth_m`` ``(H, W)`` metres as ``corruption`` leaves it: made a relative disparity, corrupted, and mapped back
    to metres with the true nearest and farthest disparity (a user who gives the right ``--near`` and ``--far``);
    ``corruption=None`` returns ``depth_m`` itself."""
    if corruption is None:
        return depth_m
    relative, lo, hi = relative_disparity(depth_m)
    return metres_from_relative(corruption(relative, rng), lo, hi)


def corrupted_coc(depth_m: np.ndarray, focus_m: float, lens: Lens, width_px: int, corruption: Corruption | None,
                  rng: np.random.Generator) -> np.ndarray:
    """The signed circle of confusion (px, negative in front of the focus) that a renderer computes from the depth
    map after ``corruption``: ``(H, W)`` metres -> ``(H, W)`` float32.

    The depth is corrupted as :func:`corrupted_depth` does it; the focus distance is the true one. ``corruption=None``
    gives the true circle of confusion. A lens at ``f_number=inf`` gives zeros (without corrupting anything).
    """
    if math.isinf(lens.f_number):
        return np.zeros(depth_m.shape, np.float32)
    return signed_coc(corrupted_depth(depth_m, corruption, rng), focus_m, lens, width_px).astype(np.float32)
