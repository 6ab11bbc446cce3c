"""One photo through a backend: the size handling (exact padding or the released resize) and the tiling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bggan.allocator import freed_memory_kept
from bggan.errors import BgganError
from bggan.render.photo import Photo, model_range
from bggan.render.resize import released_resize, released_size
from bggan.render.tiles import blend, plan

#: Default tile (H x W, turned to match a portrait photo): EBB!'s photo size, what the model was made for.
TILE = (1024, 1536)
#: Default overlap of neighbouring tiles, px.
OVERLAP = 256


@dataclass
class RenderOptions:
    """How a photo meets the model.

    Attributes:
        tile: largest piece the model sees at once (``None``: the whole photo, however large). A photo that fits
            in one tile (in either orientation) is rendered whole: exact, the model reflect-pads it to a multiple
            of 8 and the result is cropped back. A fixed-size exported model always uses its own size as the tile.
        overlap: px shared by neighbouring tiles, faded linearly (at most a quarter of a tile's shorter side).
        resize_like_released: instead of padding, resize each side up to a multiple of 8 with TensorFlow's bicubic
            resize and the result back, as the authors' inference script did.
    """

    tile: tuple[int, int] | None = TILE
    overlap: int = OVERLAP
    resize_like_released: bool = False


def _reflect_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Reflect-pad ``(H, W, C)`` at the bottom and right to at least ``size`` (repeated reflection if needed)."""
    ph, pw = max(size[0] - image.shape[0], 0), max(size[1] - image.shape[1], 0)
    return np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect") if ph or pw else image


def model_size(size: tuple[int, int], options: RenderOptions) -> tuple[int, int]:
    """The size the model sees for a photo of ``size``: rounded up to a multiple of 8 with the released resize."""
    return released_size(size) if options.resize_like_released else size


def tiling_for(size: tuple[int, int], options: RenderOptions, fixed_size: tuple[int, int] | None):
    """The :class:`~bggan.render.tiles.Tiling` for a photo of ``size`` (after any resize), or None to run it whole."""
    if fixed_size is not None:
        tile = fixed_size
        size = (max(size[0], tile[0]), max(size[1], tile[1]))  # a smaller photo is padded up to the model's size
    elif options.tile is None:
        return None
    else:
        tile = options.tile if (size[0] > size[1]) == (options.tile[0] > options.tile[1]) else options.tile[::-1]
        if size[0] <= tile[0] and size[1] <= tile[1]:
            return None  # fits in one (portrait or landscape) tile: whole, exact
    return plan(size, tile, min(options.overlap, min(tile) // 4))


def render_photo(photo: Photo, backend: Callable[..., np.ndarray], options: RenderOptions,
                 fixed_size: tuple[int, int] | None = None, on_tile: Callable[[], None] | None = None,
                 defocus: np.ndarray | None = None) -> Photo:
    """The bokeh version of ``photo`` (same size, bit depth, alpha and metadata).

    Args:
        backend: ``(h, w, 3)`` float32 in [-1, 1] -> same shape and range; with ``defocus``, ``(image, defocus
            (h, w))`` -> the same.
        fixed_size: the only input size ``backend`` takes, if any: tiles of exactly that size, and a photo
            smaller than it reflect-padded up to it (and the result cropped back).
        on_tile: called after every tile of a tiled photo (progress).
        defocus: for a depth-aware model, the photo's defocus map ``(H, W)`` px, tiled and padded with it (not with
            ``resize_like_released``).
    """
    h, w = photo.size
    if defocus is not None:
        if model_size((h, w), options) != (h, w):
            raise BgganError("--resize-like-released does not go with --depth (it would resize the defocus map)")
        image = np.concatenate([photo.to_model_range(), defocus[..., None].astype(np.float32)], axis=-1)
        run = lambda tile: backend(tile[..., :3], tile[..., 3])
    else:
        if model_size((h, w), options) != (h, w):
            image = released_resize(photo.to_model_range(), model_size((h, w), options))
        else:
            image = photo.rgb  # integers until the model: a tiled photo becomes float32 one tile at a time
        to_model = model_range if image.dtype != np.float32 else (lambda tile: tile)
        run = lambda tile: backend(to_model(tile))
    tiling = tiling_for(image.shape[:2], options, fixed_size)
    if tiling is None:
        # glibc keeps what the forward frees (5-15% faster on the CPU); not for tiles, whose accumulators then
        # fragment the heap (a 24 MP photo peaked at 2.04 GiB instead of 1.79)
        with freed_memory_kept():
            out = run(image)
    else:
        padded = _reflect_to(image, tiling.size)
        out = blend(padded, tiling, run, on_tile)[:image.shape[0], :image.shape[1]]
    if out.shape[:2] != (h, w):
        out = released_resize(out, (h, w))
    return photo.with_rgb(out)


def tile_count(photo_size: tuple[int, int], options: RenderOptions, fixed_size: tuple[int, int] | None) -> int:
    """How many model runs a photo of ``photo_size`` takes (1 when rendered whole)."""
    tiling = tiling_for(model_size(photo_size, options), options, fixed_size)
    return 1 if tiling is None else len(tiling)
