"""Classical bokeh for a real photo with a depth map: the synthetic renderer, layer by depth.

The photo is cut into layers by circle of confusion (signed: in front of or behind the focal
plane), each blurred by its own disk in linear light and composited far to near. A pixel
between two layer depths is shared between them, so a receding floor blurs smoothly rather
than in steps. This is a baseline to compare the network against; it cannot see behind
foreground objects, so their blurred edges show the colours around them (see
:func:`bggan.data.defocus.composite`, ``normalize``).
"""

from __future__ import annotations

import numpy as np

from bggan.data.defocus import Layer, Lens, composite, linear_to_srgb, srgb_to_linear
from bggan.errors import BgganError


def depth_from_map(values: np.ndarray, near_m: float, far_m: float, disparity: bool) -> np.ndarray:
    """A relative depth map ``(H, W)`` -> metres.

    Args:
        values: any range; stretched so its minimum and maximum map to the ends.
        near_m, far_m: the metres those ends stand for.
        disparity: the map is inverse depth (bright = near, as monocular depth networks write it);
            it is then interpolated in 1/depth. Otherwise bright = far, interpolated in depth.
    """
    if not 0 < near_m < far_m:
        raise BgganError(f"need 0 < near < far, got near={near_m}, far={far_m}")
    v = values.astype(np.float64)
    lo, hi = float(v.min()), float(v.max())
    t = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
    if disparity:
        return (1 / (1 / far_m + t * (1 / near_m - 1 / far_m))).astype(np.float32)
    return (near_m + t * (far_m - near_m)).astype(np.float32)


def depth_layers(color: np.ndarray, depth_m: np.ndarray, signed_coc: np.ndarray, step: float | None = None,
                 fine: float = 4.0, ratio: float = 1.25) -> tuple[list[Layer], list[float]]:
    """Split ``color`` ``(H, W, 3)`` into layers of equal signed circle of confusion, far to near.

    With ``step``, layer ``k`` holds pixels whose signed diameter is near ``k * step``. Without it, layers
    are 1 px apart up to ``fine`` px and then ``ratio`` times farther apart each (:func:`slice_coordinate`):
    exact near the focal plane, where a fraction of a pixel of blur shows, and few far from it. One layer
    is always exactly the focal plane; a pixel between two layers is shared linearly between them.

    Returns:
        the layers, and each layer's blur diameter in px.
    """
    if step is not None:
        t = signed_coc / step
        diameter = lambda k: abs(k) * step
    else:
        t = slice_coordinate(signed_coc, fine, ratio)
        diameter = lambda k: slice_diameter(k, fine, ratio)
    k0 = np.floor(t).astype(np.int64)
    frac = (t - k0).astype(np.float32)
    row_lo, row_hi = k0.min(axis=1), k0.max(axis=1)  # each layer is computed on the rows it can touch
    layers, diameters = [], []
    for k in range(int(k0.max()) + 1, int(k0.min()) - 1, -1):  # far (positive) to near (negative)
        rows = np.nonzero((row_hi >= k - 1) & (row_lo <= k))[0]
        if rows.size == 0:
            continue
        band = np.s_[rows[0]:rows[-1] + 1]
        part = np.where(k0[band] == k, 1 - frac[band], 0) + np.where(k0[band] == k - 1, frac[band], 0)
        if part.max() <= 0:
            continue
        alpha = np.zeros(k0.shape, np.float32)
        alpha[band] = part
        depth = float(depth_m[band][part > 0].mean())
        layers.append(Layer(color, alpha, depth, f"coc{np.sign(k) * diameter(k):+.1f}px", diameter(k)))
        diameters.append(diameter(k))
    return layers, diameters


def slice_coordinate(signed_coc: np.ndarray, fine: float = 4.0, ratio: float = 1.25) -> np.ndarray:
    """Where each pixel falls between the layers of :func:`depth_layers`: ``|c|`` up to ``fine`` px, then
    ``fine + log(|c| / fine) / log(ratio)``, with the sign of ``c``."""
    size = np.abs(signed_coc)
    far = fine + np.log(np.maximum(size, fine) / fine) / np.log(ratio)
    return np.sign(signed_coc) * np.where(size <= fine, size, far)


def slice_diameter(k: int, fine: float = 4.0, ratio: float = 1.25) -> float:
    """The blur diameter (px) of layer ``k`` of :func:`slice_coordinate`'s spacing."""
    return float(abs(k)) if abs(k) <= fine else float(fine * ratio ** (abs(k) - fine))


def signed_coc(depth_m: np.ndarray, focus_m: float, lens: Lens, width_px: int) -> np.ndarray:
    """Circle of confusion in px per pixel, negative in front of the focal plane, positive behind.

    Depths are clamped just beyond the focal length, where the thin-lens formula holds.
    """
    depth = np.maximum(depth_m, lens.focal_mm / 1000 * 1.01)
    return lens.coc_px(depth, focus_m, width_px) * np.sign(depth - focus_m)


def render_with_depth(image: np.ndarray, depth_m: np.ndarray, focus_m: float, lens: Lens | None = None,
                      max_layers: int = 32, highlight_gain: float = 1.0) -> np.ndarray:
    """Bokeh for a photo.

    Args:
        image: ``(H, W, 3)`` uint8 sRGB.
        depth_m: ``(H, W)`` distance of each pixel from the lens, metres.
        focus_m: the distance in focus.
        lens: the lens (default: 50 mm f/1.8 on APS-C, as EBB!).
        max_layers: at most this many depth layers (the layer step grows on very deep scenes).
        highlight_gain: clipped pixels (any channel >= 250) are this many times brighter in
            linear light before blurring. A photo stores a street lamp as white, not as the
            light it was; a gain of 4-10 turns it back into a bright disc. 1 leaves them as shot.

    Returns:
        ``(H, W, 3)`` uint8 sRGB.
    """
    lens = lens or Lens()
    if depth_m.shape != image.shape[:2]:
        raise BgganError(f"depth map is {depth_m.shape[0]}x{depth_m.shape[1]}, the photo "
                         f"{image.shape[0]}x{image.shape[1]}")
    if focus_m <= lens.focal_mm / 1000:
        raise BgganError(f"focus distance must exceed the focal length ({lens.focal_mm} mm), got {focus_m} m")
    coc = signed_coc(depth_m, focus_m, lens, image.shape[1])
    step = max(1.0, float(coc.max() - coc.min()) / max_layers)
    color = srgb_to_linear(image / np.float32(255))
    if highlight_gain != 1:
        color = np.where(image.max(-1, keepdims=True) >= 250, color * np.float32(highlight_gain), color)
    layers, diameters = depth_layers(color, depth_m, coc, step)
    linear = composite(layers, diameters, normalize=True)
    return (linear_to_srgb(linear) * 255 + 0.5).astype(np.uint8)
