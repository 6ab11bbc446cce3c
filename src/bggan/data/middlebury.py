"""A real photograph with measured depth: Middlebury 2014's "Motorcycle", as scikit-image's wheel carries it.

The scene (Scharstein et al., GCPR 2014) is a rectified stereo pair with sub-pixel ground-truth disparity from
structured light. scikit-image ships the left view and its disparity down-sampled by 4, ``motorcycle_left.png``
(500x741) and ``motorcycle_disp.npz`` (``inf`` where there is no measurement, 7% of the pixels: occlusions and
shiny surfaces), with the calibration valid at that size (``skimage.data.stereo_motorcycle``'s docstring): focal
length 994.978 px, baseline 193.001 mm, principal points 31.086 px apart (``doffs``). Depth is
``Z = baseline * f / (d + doffs)``: 2.1-5.0 m here, the motorcycle at 2.3-2.7 m, the shelves behind it at 4-5 m.

It is a test scene only: nothing trains on it or picks a recipe by it alone. The files are read as files,
scikit-image itself is never imported (:func:`bggan.data.textures.skimage_data`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from bggan.data.textures import skimage_data
from bggan.errors import BgganError
from bggan.images import read_rgb

#: The calibration of the down-sampled pair (scikit-image's docstring): focal length px, baseline mm, doffs px.
FOCAL_PX, BASELINE_MM, DOFFS_PX = 994.978, 193.001, 31.086


@dataclass(frozen=True)
class RealScene:
    """A photo with its measured depth.

    Attributes:
        name: what it is.
        photo: ``(H, W, 3)`` uint8 sRGB.
        depth_m: ``(H, W)`` float32 metres, NaN where nothing was measured.
        focal_px: the camera's focal length in px at this size (for a lens of the same field of view).
    """

    name: str
    photo: np.ndarray
    depth_m: np.ndarray
    focal_px: float

    @property
    def known(self) -> np.ndarray:
        """``(H, W)`` bool: where the depth was measured."""
        return np.isfinite(self.depth_m)

    def filled_depth(self) -> np.ndarray:
        """The depth with every unmeasured pixel given its farthest measured neighbour's (:func:`fill_holes`)."""
        return fill_holes(self.depth_m)


def depth_from_disparity(disparity_px: np.ndarray) -> np.ndarray:
    """Middlebury disparity (px at the down-sampled size; ``inf`` or NaN: unknown) -> metres (NaN: unknown)."""
    d = np.where(np.isfinite(disparity_px), disparity_px, np.nan).astype(np.float64)
    return (BASELINE_MM * FOCAL_PX / (d + DOFFS_PX) / 1000).astype(np.float32)


def motorcycle() -> RealScene:
    """Middlebury 2014 "Motorcycle" (left view) with its measured depth, from scikit-image's wheel.

    Raises:
        BgganError: scikit-image is missing, or its files are.
    """
    data = skimage_data()
    photo, disparity = data / "motorcycle_left.png", data / "motorcycle_disp.npz"
    if not disparity.is_file():
        raise BgganError(f"{disparity}: missing; reinstall scikit-image (its wheel carries the Motorcycle scene)")
    with np.load(disparity) as npz:
        depth = depth_from_disparity(npz["arr_0"])
    return RealScene("Middlebury 2014 Motorcycle", read_rgb(photo), depth, FOCAL_PX)


def fill_holes(depth_m: np.ndarray) -> np.ndarray:
    """Every NaN pixel of ``(H, W)`` metres given the farthest measured depth among its nearest measured
    neighbours (3x3 windows, grown until nothing is left): unmeasured pixels are mostly occlusions, which belong to
    what lies behind. Returns float32; a map with no measurement at all is a :class:`BgganError`."""
    known = np.isfinite(depth_m)
    if not known.any():
        raise BgganError("the depth map has no measured pixel")
    depth = torch.from_numpy(np.where(known, depth_m, -np.inf).astype(np.float32))[None, None]
    missing = ~torch.from_numpy(known)[None, None]
    while missing.any():
        grown = F.max_pool2d(F.pad(depth, (1, 1, 1, 1), value=-np.inf), 3, stride=1)
        depth = torch.where(missing, grown, depth)
        missing = torch.isinf(depth)
    return depth[0, 0].numpy()
