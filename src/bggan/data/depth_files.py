"""A photo's depth map, from every file a user or a phone gives it in.

:func:`read_depth_map` reads:

- ``.npy``: metres, a 2-D array of finite values > 0;
- a grayscale image (8 or 16-bit PNG, float TIFF, or any image whose R, G and B are equal): a relative map,
  bright = far (``kind="depth"``) unless the caller says it is disparity (:func:`depth_metres`);
- a phone photo with its depth inside (:mod:`bggan.data.phone_depth`): Android's Dynamic Depth and GDepth
  JPEGs, HEIC depth images; in metres where the file states the range, turned upright as the photo is.

A map of another size but the same aspect ratio (within 1%) is resized bilinearly to the photo's.
:func:`depth_metres` turns any of them into metres for :func:`bggan.data.depth_bokeh.render_with_depth`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
from PIL import Image

from bggan.data import phone_depth
from bggan.data.depth_bokeh import depth_from_map
from bggan.data.depth_map import DepthMap
from bggan.errors import BgganError
from bggan.images import UNREADABLE

#: How far a depth map's aspect ratio may be from the photo's (relative) before it is refused.
ASPECT_TOLERANCE = 0.01


def read_depth_map(path: str | os.PathLike, shape: tuple[int, int], photo: str | None = None) -> DepthMap:
    """Read a depth map for a photo of ``shape`` (H, W) and fit it to that shape.

    Args:
        path: a depth file (``.npy`` metres, a grayscale image), or a phone photo with its depth inside
            (a Dynamic Depth or GDepth JPEG, a HEIC with a depth image), e.g. the photo itself.
        shape: the photo's (H, W) as :func:`bggan.images.read_rgb` reads it.
        photo: the photo's name, for messages.

    Raises:
        BgganError: one line: no such file, unreadable or malformed, a colour image, no depth inside a phone
            photo, an aspect ratio other than the photo's, NaN or inf, or a relative map that is constant.
    """
    path = Path(path)
    if not path.is_file():
        raise BgganError(f"{path}: no such file")
    if path.suffix.lower() == ".npy":
        depth = _read_npy(path)
    else:
        depth = phone_depth.read_embedded_depth(path)
        if depth is None:
            depth = _read_image(path, phone_depth.is_jpeg(path))
    return _fit(depth, shape, path, photo)


def _read_npy(path: Path) -> DepthMap:
    try:
        depth = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise BgganError(f"{path}: not a readable .npy array ({e})") from None
    depth = np.squeeze(depth)
    if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.number):
        raise BgganError(f"{path}: expected a 2-D array of metres, got shape {depth.shape} {depth.dtype}")
    if not np.isfinite(depth).all() or depth.min() <= 0:
        raise BgganError(f"{path}: depths in metres must be finite and > 0")
    return DepthMap(depth.astype(np.float32), "metres", None, None,
                    f"metres from {path.name} ({depth.shape[0]}x{depth.shape[1]})")


def _read_image(path: Path, jpeg: bool) -> DepthMap:
    """A grayscale image as a relative map (bright = far); a colour one is refused."""
    try:
        with Image.open(path) as src:
            src.load()
            im = src
    except UNREADABLE as e:
        raise BgganError(f"{path}: not a readable image ({e})") from None
    fmt = im.format
    if im.mode not in ("L", "I", "F") and not im.mode.startswith("I;16"):
        rgb = np.asarray(im.convert("RGB"))
        if (rgb[..., 0] != rgb[..., 1]).any() or (rgb[..., 0] != rgb[..., 2]).any():
            if jpeg:  # a colour JPEG as --depth is most likely a photo that was expected to carry its depth
                raise BgganError(f"{path}: {phone_depth.NO_DEPTH}")
            raise BgganError(f"{path}: a colour image; give a grayscale depth map (8 or 16 bit)")
        im = Image.fromarray(rgb[..., 0])
    bits = {"L": "8-bit", "F": "float"}.get(im.mode, "16-bit" if im.mode.startswith("I;16") else im.mode)
    what = f"{bits} {fmt or path.suffix.lstrip('.').upper()} {im.height}x{im.width}"
    im = im.convert("I") if im.mode.startswith("I;16") else im
    return DepthMap(np.asarray(im.convert("F"), np.float32), "depth", None, None,
                    f"relative depth from {path.name} ({what}, bright = far)")


def _fit(depth: DepthMap, shape: tuple[int, int], path: Path, photo: str | None) -> DepthMap:
    """Check the values, resize to ``shape`` (bilinear, same aspect ratio only)."""
    values = depth.values
    if not np.isfinite(values).all():
        raise BgganError(f"{path}: the depth map holds NaN or inf")
    h, w = shape
    if values.shape != (h, w):
        dh, dw = values.shape
        if abs(dw / dh - w / h) > ASPECT_TOLERANCE * w / h:
            raise BgganError(f"{path}: depth map is {dh}x{dw}, the photo{f' {photo}' if photo else ''} {h}x{w}: "
                             "aspect ratios differ")
        resized = Image.fromarray(values.astype(np.float32)).resize((w, h), Image.Resampling.BILINEAR)
        values = np.asarray(resized, np.float32)
    if depth.kind == "metres" and values.min() <= 0:
        raise BgganError(f"{path}: depths in metres must be > 0, the map holds {values.min():g}")
    if depth.kind != "metres" and values.min() == values.max():
        raise BgganError(f"{path}: the depth map is constant ({values.min():g} everywhere): it holds no depth")
    return dataclasses.replace(depth, values=values)


def depth_metres(depth: DepthMap, near_m: float | None = None, far_m: float | None = None,
                 disparity: bool | None = None) -> np.ndarray:
    """Metres ``(H, W)`` float32 for any :class:`DepthMap`.

    A map in metres is returned as it is. A relative one is stretched to ``near_m``..``far_m``
    (:func:`bggan.data.depth_bokeh.depth_from_map`), else to the range its file states.

    Args:
        disparity: the relative map is disparity (bright = near); ``None`` takes its ``kind``.

    Raises:
        BgganError: a relative map and no range (it names ``--near`` and ``--far``), or not 0 < near < far.
    """
    if depth.kind == "metres":
        return depth.values
    near = depth.near_m if near_m is None else near_m
    far = depth.far_m if far_m is None else far_m
    if near is None or far is None:
        raise BgganError(f"{depth.source}: a relative depth map; give --near and --far (the metres its nearest "
                         "and farthest values stand for)")
    return depth_from_map(depth.values, near, far, depth.kind == "disparity" if disparity is None else disparity)
