"""Images for the export's parity checks and int8 calibration: photos from a folder, or synthetic scenes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bggan.errors import BgganError
from bggan.images import read_rgb, to_model_range

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def fit(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize ``(h, w, 3)`` uint8 to cover ``height x width`` (aspect kept, bicubic), then centre-crop to it."""
    h, w = image.shape[:2]
    scale = max(height / h, width / w)
    size = (max(width, round(w * scale)), max(height, round(h * scale)))
    resized = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))
    top, left = (size[1] - height) // 2, (size[0] - width) // 2
    return resized[top:top + height, left:left + width]


def export_images(count: int, height: int, width: int, folder: str | Path | None = None, seed: int = 0) -> list[np.ndarray]:
    """``count`` uint8 ``(height, width, 3)`` images: the first ``count`` photos of ``folder`` (sorted by
    name, fitted with :func:`fit`), or the sharp side of synthetic pairs ``seed .. seed+count-1``."""
    if folder is None:
        from bggan.data.synthetic import render_pair

        return [render_pair(seed + i, height, width)[0] for i in range(count)]
    folder = Path(folder)
    if not folder.is_dir():
        raise BgganError(f"calibration folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:count]
    if not files:
        raise BgganError(f"calibration folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return [fit(read_rgb(p), height, width) for p in files]


def to_model_nhwc(images: list[np.ndarray]) -> np.ndarray:
    """uint8 ``(H, W, 3)`` images -> ``(N, H, W, 3)`` float32 in [-1, 1] (:func:`bggan.images.to_model_range`)."""
    return to_model_range(torch.from_numpy(np.stack(images))).numpy()
