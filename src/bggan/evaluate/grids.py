"""Pictures of scored images: coloured error maps and comparison grids, ``(H, W, 3)`` uint8."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bggan.errors import BgganError

#: An error map is at full brightness where the mean absolute RGB difference reaches this much of the [0, 1] range.
ERROR_FULL_SCALE = 0.25
#: Height (px) every tile of :func:`comparison_grid` is resized to.
GRID_HEIGHT = 256
#: Colours of the bands of the target's circle of confusion (:mod:`bggan.evaluate.bands`) in pictures.
BAND_COLOURS = {"in_focus": (60, 170, 70), "transition": (235, 200, 60), "out_of_focus": (120, 30, 40)}
#: Anchors of the error-map colormap, dark to bright (inferno-like: black, purple, red, orange, pale yellow).
_COLORMAP = np.array([[0, 0, 4], [31, 12, 72], [85, 15, 109], [136, 34, 106], [186, 54, 85], [227, 89, 51],
                      [249, 140, 10], [249, 201, 50], [252, 255, 164]], dtype=np.float64)


def colorize(values: np.ndarray) -> np.ndarray:
    """``(H, W)`` values in [0, 1] (clipped) -> ``(H, W, 3)`` uint8 in an inferno-like colormap (0 black, 1 pale yellow).

    Piecewise-linear between 9 anchors whose lightness rises monotonically, so brighter means larger.
    """
    t = np.clip(np.asarray(values, dtype=np.float64), 0, 1) * (len(_COLORMAP) - 1)
    low = np.minimum(t.astype(np.int64), len(_COLORMAP) - 2)
    frac = (t - low)[..., None]
    return np.round(_COLORMAP[low] * (1 - frac) + _COLORMAP[low + 1] * frac).astype(np.uint8)


def error_map(pred: np.ndarray, target: np.ndarray, full_scale: float = ERROR_FULL_SCALE) -> np.ndarray:
    """Per-pixel mean absolute RGB difference of two ``(H, W, 3)`` uint8 images, coloured: ``(H, W, 3)`` uint8.

    The difference is measured in [0, 1] units and divided by ``full_scale`` (0.25: a quarter of the
    range is full brightness; larger errors saturate), then :func:`colorize`d.
    """
    if pred.shape != target.shape:
        raise BgganError(f"error map of images of different sizes: {pred.shape} vs {target.shape}")
    diff = np.abs(pred.astype(np.float32) - target.astype(np.float32)).mean(axis=-1) / 255.0
    return colorize(diff / full_scale)


def resize_to_height(image: np.ndarray, height: int) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> ``(height, round(W * height / H), 3)`` uint8 (Pillow, bicubic; no-op at ``height``)."""
    h, w = image.shape[:2]
    if h == height:
        return image
    size = (max(1, round(w * height / h)), height)
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))


def comparison_grid(rows: list[list[np.ndarray]], height: int = GRID_HEIGHT, gap: int = 4) -> np.ndarray:
    """Stack rows of ``(H, W, 3)`` uint8 tiles into one ``(H, W, 3)`` uint8 picture.

    Every tile is resized to ``height`` px (keeping its aspect ratio), tiles and rows are separated by
    ``gap`` px of white, and shorter rows are padded with white on the right. For ``R`` rows whose
    widest row has tiles of total width ``T`` and ``k`` tiles: ``(R * height + (R - 1) * gap,
    T + (k - 1) * gap, 3)``.
    """
    if not rows or not all(rows):
        raise ValueError("comparison_grid needs at least one row, each with at least one tile")
    strips = []
    for tiles in rows:
        parts = []
        for tile in (resize_to_height(t, height) for t in tiles):
            parts += [tile, np.full((height, gap, 3), 255, np.uint8)]
        strips.append(np.concatenate(parts[:-1], axis=1))
    width = max(s.shape[1] for s in strips)
    out = []
    for strip in strips:
        pad = np.full((height, width - strip.shape[1], 3), 255, np.uint8)
        out += [np.concatenate([strip, pad], axis=1), np.full((gap, width, 3), 255, np.uint8)]
    return np.concatenate(out[:-1], axis=0)


def band_picture(coc: np.ndarray) -> np.ndarray:
    """``(H, W)`` signed circle of confusion (px) -> ``(H, W, 3)`` uint8, each pixel the colour of its band
    (:data:`BAND_COLOURS`: green in focus, yellow transition, dark red out of focus)."""
    import torch

    from bggan.evaluate.bands import band_masks

    out = np.zeros((*coc.shape, 3), np.uint8)
    for name, mask in band_masks(torch.from_numpy(np.asarray(coc, np.float32))[None, None]).items():
        out[mask[0, 0].numpy()] = BAND_COLOURS[name]
    return out


#: The label band above each picture of :func:`labelled_strip`, and the gap between pictures (px).
LABEL_HEIGHT, GAP = 28, 4


def labelled_strip(images: list[np.ndarray], labels: list[str], height: int = 320) -> np.ndarray:
    """``(H, W, 3)`` uint8 pictures and a label for each -> one ``(LABEL_HEIGHT + height, W', 3)`` uint8 strip: each
    picture resized to ``height`` px, its label above it, white between them."""
    tiles = [resize_to_height(image, height) for image in images]
    width = sum(t.shape[1] for t in tiles) + GAP * (len(tiles) - 1)
    canvas = Image.new("RGB", (width, LABEL_HEIGHT + height), "white")
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default(size=LABEL_HEIGHT - 8)
    x = 0
    for tile, label in zip(tiles, labels, strict=True):
        canvas.paste(Image.fromarray(tile), (x, LABEL_HEIGHT))
        draw.text((x + tile.shape[1] / 2, LABEL_HEIGHT / 2), label, fill="black", font=font, anchor="mm")
        x += tile.shape[1] + GAP
    return np.asarray(canvas)
