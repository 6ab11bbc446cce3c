"""Photographs that texture the synthetic scenes, so that blur has real detail to remove.

By default the photos and surface textures that ship inside scikit-image's wheel (``skimage/data/``,
each CC0 or public domain; listed with their sources in the README): nothing is downloaded. Any folder of
photos (DIV2K, COCO, your own) can replace them for variety at scale: ``Textures("/data/div2k")``, or
``data.pairs.textures=/data/div2k`` in a config.

Images are decoded once per process and downscaled to at most :data:`MAX_SIDE` px; they stay 8-bit sRGB
until a crop of them is resized to its place in a scene (:func:`crop_resized`), which returns linear light.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

import numpy as np
from PIL import Image

from bggan.data.defocus import srgb_to_linear
from bggan.errors import BgganError

#: Colour photographs in scikit-image's wheel: subjects, objects, backdrops.
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "hubble_deep_field.jpg")
#: Grey surface textures there, tinted per scene: the ground, some objects.
SKIMAGE_SURFACES = ("grass.png", "gravel.png", "brick.png")
#: Image files a texture folder may hold.
SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
#: Longest side of a decoded texture (px): enough for 512x768 scenes, and quick to crop.
MAX_SIDE = 1024
#: sRGB colours a grey surface texture is tinted with: grass, foliage, earth, stone, sand, brick, asphalt.
SURFACE_TINTS = np.array([[0.36, 0.50, 0.24], [0.22, 0.34, 0.18], [0.48, 0.38, 0.27], [0.52, 0.52, 0.50],
                          [0.74, 0.66, 0.50], [0.62, 0.36, 0.28], [0.34, 0.34, 0.36]], np.float32)


def skimage_data() -> Path:
    """scikit-image's ``data`` folder, found without importing scikit-image (which would load SciPy)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise BgganError("the synthetic scenes' photos come from scikit-image: pip install scikit-image "
                         "(or data.pairs.textures=/path/to/photos)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@functools.lru_cache(maxsize=64)
def load_texture(path: str, max_side: int = MAX_SIDE) -> np.ndarray:
    """An image file as 8-bit sRGB ``(H, W, 3)`` uint8, at most ``max_side`` px on its longest side.

    Grey images come back grey in all three channels. Cached per process.
    """
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            scale = max_side / max(im.size)
            if scale < 1:
                im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                               Image.Resampling.LANCZOS)
            return np.asarray(im)
    except (OSError, ValueError) as e:
        raise BgganError(f"{path}: not a readable image ({e})") from None


class Textures:
    """Where scene textures come from.

    Args:
        folder: a folder of photos (searched recursively for .jpg, .jpeg, .png, .webp; at least one), or
            ``None`` for scikit-image's photos and surfaces.

    With a folder, its photos serve as both photos and surfaces (a photo on the ground is still real
    detail). The files are listed in sorted order, so a seed picks the same ones on every machine.
    """

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.folder = None if folder is None else Path(folder)
        if self.folder is None:
            data = skimage_data()
            self.photos = [data / name for name in SKIMAGE_PHOTOS if (data / name).is_file()]
            self.surfaces = [data / name for name in SKIMAGE_SURFACES if (data / name).is_file()]
            if not self.photos or not self.surfaces:
                raise BgganError(f"{data}: scikit-image's sample photos are missing; reinstall scikit-image "
                                 "or give data.pairs.textures=/path/to/photos")
        else:
            if not self.folder.is_dir():
                raise BgganError(f"textures={self.folder}: no such folder")
            self.photos = sorted(p for p in self.folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
            if not self.photos:
                raise BgganError(f"textures={self.folder}: no .jpg, .jpeg, .png or .webp files in it")
            self.surfaces = self.photos

    def describe(self) -> str:
        if self.folder is None:
            return f"textures: {len(self.photos)} photos and {len(self.surfaces)} surfaces from scikit-image"
        return f"textures: {len(self.photos)} photos from {self.folder}"

    def photo(self, rng: np.random.Generator) -> np.ndarray:
        """A random photo, sRGB ``(H, W, 3)`` uint8."""
        return load_texture(str(self.photos[rng.integers(len(self.photos))]))

    def surface(self, rng: np.random.Generator) -> np.ndarray:
        """A random surface texture, sRGB ``(H, W, 3)`` uint8: a grey one tinted with a ground colour, or a photo."""
        path = self.surfaces[rng.integers(len(self.surfaces))]
        image = load_texture(str(path))
        if self.folder is not None:
            return image
        tint = np.clip(SURFACE_TINTS[rng.integers(len(SURFACE_TINTS))] + rng.normal(0, 0.04, 3), 0.02, 0.98)
        contrast = rng.uniform(0.6, 1.3)
        grey = image[..., 0]
        levels = np.arange(256, dtype=np.float32) / max(float(grey.mean()), 1.0)  # each grey level, relative
        table = np.clip(tint[None] * (1 + contrast * (levels[:, None] - 1)), 0, 1) * 255 + 0.5
        return table.astype(np.uint8)[grey]


def crop_resized(rng: np.random.Generator, image: np.ndarray, height: int, width: int,
                 zoom: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """A random crop of sRGB ``image`` ``(H, W, 3)`` uint8 with the aspect ratio of ``height x width``, resized
    to that size: linear ``(height, width, 3)`` float32.

    ``zoom`` bounds how much of the image the crop spans: 1 takes the largest crop of that aspect ratio,
    2 half of it in each direction. Resized with Pillow's antialiased bicubic filter, so small targets
    do not alias.
    """
    h, w = image.shape[:2]
    aspect = width / height
    ch = min(h, w / aspect) / rng.uniform(*zoom)
    cw = ch * aspect
    top, left = rng.uniform(0, max(h - ch, 0)), rng.uniform(0, max(w - cw, 0))
    resized = Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC,
                                            box=(left, top, left + cw, top + ch))
    return linear(np.asarray(resized))


#: Linear light of every 8-bit sRGB value.
_TO_LINEAR = srgb_to_linear(np.arange(256, dtype=np.float32) / 255)


def linear(image: np.ndarray) -> np.ndarray:
    """sRGB ``(H, W, 3)`` uint8 -> linear light float32 (a table lookup)."""
    return _TO_LINEAR[image]
