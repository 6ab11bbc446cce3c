"""Large photos in overlapping tiles, blended smoothly, in bounded memory.

Glass-Net normalizes each feature map over its whole area, so a tile is not a crop of the whole-image result:
tiles that overlap and fade into each other with linear ramps hide the seams. Memory is one tile's forward pass
plus two full-size float32 accumulators (16 bytes per pixel: 384 MB for 24 MP).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tiling:
    """Tile starts along each axis for an ``(H, W)`` image in ``(th, tw)`` tiles overlapping by ``overlap`` px or more."""

    size: tuple[int, int]
    tile: tuple[int, int]
    overlap: int
    ys: tuple[int, ...]
    xs: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.ys) * len(self.xs)

    def boxes(self) -> Iterator[tuple[int, int]]:
        """Top-left corners ``(y0, x0)``, row by row."""
        for y in self.ys:
            for x in self.xs:
                yield y, x


def starts(length: int, tile: int, overlap: int) -> tuple[int, ...]:
    """Evenly spread starts of ``tile``-long windows covering ``[0, length)``, neighbours overlapping ``>= overlap``."""
    if tile >= length:
        return (0,)
    n = math.ceil((length - overlap) / (tile - overlap))
    return tuple(round(i * (length - tile) / (n - 1)) for i in range(n))


def plan(size: tuple[int, int], tile: tuple[int, int], overlap: int) -> Tiling:
    """Tiles for an image of ``size`` (H, W); tiles larger than the image shrink to it.

    Raises:
        ValueError: ``overlap`` is negative or not smaller than half a tile.
    """
    th, tw = min(tile[0], size[0]), min(tile[1], size[1])
    if overlap < 0 or 2 * overlap >= min(tile):
        raise ValueError(f"tile overlap must be in [0, {min(tile) // 2}), got {overlap}")
    return Tiling(size, (th, tw), overlap, starts(size[0], th, overlap), starts(size[1], tw, overlap))


def ramp(length: int, fade: int, fade_start: bool, fade_end: bool) -> np.ndarray:
    """``(length,)`` float32 weights: 1 inside, rising linearly over ``fade`` px at each faded end (never 0)."""
    w = np.ones(length, np.float32)
    if fade > 0:
        up = (np.arange(fade, dtype=np.float32) + 0.5) / fade
        if fade_start:
            w[:fade] = np.minimum(w[:fade], up)
        if fade_end:
            w[-fade:] = np.minimum(w[-fade:], up[::-1])
    return w


def blend(image: np.ndarray, tiling: Tiling, run: Callable[[np.ndarray], np.ndarray],
          on_tile: Callable[[], None] | None = None) -> np.ndarray:
    """Run ``run`` on every tile of ``image`` and blend the results.

    Args:
        image: ``(H, W, C)``: the photo, float32 in [-1, 1] or a uint array, and any maps that go with it (``run``
            decides what it takes).
        tiling: from :func:`plan` for this image's size.
        run: one tile ``(th, tw, C)`` -> ``(th, tw, 3)`` float, the model.
        on_tile: called after each tile (a progress bar).

    Returns:
        ``(H, W, 3)`` float32: each pixel the weighted mean of the tiles over it, weights fading linearly
        over ``tiling.overlap`` px towards inner tile edges (image borders are not faded).
    """
    h, w = tiling.size
    th, tw = tiling.tile
    total = np.zeros((h, w, 3), np.float32)
    weight = np.zeros((h, w), np.float32)
    for y, x in tiling.boxes():
        wy = ramp(th, tiling.overlap, y > 0, y + th < h)
        wx = ramp(tw, tiling.overlap, x > 0, x + tw < w)
        tile_weight = wy[:, None] * wx[None, :]
        total[y:y + th, x:x + tw] += run(image[y:y + th, x:x + tw]) * tile_weight[..., None]
        weight[y:y + th, x:x + tw] += tile_weight
        if on_tile:
            on_tile()
    total /= weight[..., None]
    return total
