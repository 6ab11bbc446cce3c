"""Image files <-> tensors. Tensors are ``(B, 3, H, W)`` float in [-1, 1]; arrays ``(H, W, 3)`` uint8."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from bggan.errors import BgganError
from bggan.files import atomic_output

#: What Pillow raises for a file that is not an image, is truncated or corrupt, or is a decompression bomb.
UNREADABLE = (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError, ValueError)
#: HEIF photos (iPhones' .heic): Pillow reads them through pillow-heif, registered on the first one read.
HEIF_SUFFIXES = (".heic", ".heif")


def heif_support(path: str | os.PathLike) -> None:
    """Let Pillow open ``path`` if it is a HEIF photo (pillow-heif applies its rotation and mirroring as it
    decodes)."""
    if Path(path).suffix.lower() in HEIF_SUFFIXES:
        import pillow_heif

        pillow_heif.register_heif_opener()


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB, EXIF orientation applied."""
    path = Path(path)
    if not path.is_file():
        raise BgganError(f"{path}: no such file")
    heif_support(path)
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            return np.array(im.convert("RGB"))  # a writable copy
    except UNREADABLE as e:
        raise BgganError(f"{path}: not a readable image ({e})") from None


#: JPEG quality when none is given (Pillow's default, 75, visibly softens fine detail; EBB! is stored near 95).
JPEG_QUALITY = 95


def write_rgb(path: str | os.PathLike, image: np.ndarray, overwrite: bool = False, **options) -> Path:
    """Write ``(H, W, 3)`` uint8 to ``path`` atomically (format from the suffix; ``options`` go to Pillow).

    JPEGs get quality :data:`JPEG_QUALITY` unless ``options`` say otherwise.
    """
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    if fmt is None:
        raise BgganError(f"{path}: unknown image format {Path(path).suffix!r}")
    if fmt == "JPEG":
        options.setdefault("quality", JPEG_QUALITY)
    with atomic_output(path, overwrite) as tmp:
        Image.fromarray(image).save(tmp, format=fmt, **options)
    return Path(path)


def to_model_range(x: torch.Tensor) -> torch.Tensor:
    """uint8 images, any shape -> float32 in [-1, 1] (``x / 127.5 - 1``, the released convention)."""
    return x.float() / 127.5 - 1


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> ``(1, 3, H, W)`` float32 in [-1, 1] (see :func:`to_model_range`)."""
    return to_model_range(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None])


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` or ``(3, H, W)`` in [-1, 1] -> ``(H, W, 3)`` uint8, rounded and clipped."""
    x = x.detach().float().cpu().reshape(-1, *x.shape[-3:])[0]
    return ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def upright(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to ``(H, W, ...)``: the picture as the camera showed it (what
    ``ImageOps.exif_transpose`` does to an image), for arrays Pillow does not hold (16-bit RGB, depth maps)."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.swapaxes(0, 1), 6: lambda a: a.swapaxes(0, 1)[:, ::-1],
           7: lambda a: a.swapaxes(0, 1)[::-1, ::-1], 8: lambda a: a.swapaxes(0, 1)[::-1]}
    return np.ascontiguousarray(ops[orientation](array)) if orientation in ops else array
