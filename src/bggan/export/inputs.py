"""Images for the export's parity checks and int8 calibration: photos from a folder, or synthetic scenes; for a
depth-aware generator, with a depth map each."""

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


#: A photo from a folder has no depth: for a depth-aware generator's parity it is given a ground plane, this near at
#: the bottom row and this far at the top (m), focused halfway up.
PLANE_NEAR_M, PLANE_FAR_M = 1.0, 20.0


def export_depths(count: int, height: int, width: int, folder: str | Path | None = None, seed: int = 0
                  ) -> tuple[list[np.ndarray], list[tuple[np.ndarray, float]]]:
    """:func:`export_images` with ``(depth (H, W) float32 m, focus m)`` for each: a synthetic scene's own depth,
    focused on its subject, or for a photo from ``folder`` a ground plane (:data:`PLANE_NEAR_M` to
    :data:`PLANE_FAR_M`, bottom to top, in disparity), focused halfway."""
    if folder is None:
        from bggan.data.synthetic import render_sample

        samples = [render_sample(seed + i, height, width) for i in range(count)]
        return [s["input"] for s in samples], [(s["depth"].astype(np.float32), float(s["focus_m"])) for s in samples]
    images = export_images(count, height, width, folder, seed)
    disparity = np.linspace(1 / PLANE_FAR_M, 1 / PLANE_NEAR_M, height, dtype=np.float32)
    depth = np.repeat((1 / disparity)[:, None], width, axis=1)
    return images, [(depth, float(depth[height // 2, 0]))] * len(images)


def defocus_maps(depths: list[tuple[np.ndarray, float]], f_numbers: tuple[float, ...]) -> np.ndarray:
    """The signed circle of confusion (px) of each ``(depth, focus)`` at each f-number, images outer, f-numbers inner:
    ``(N * K, H, W)`` float32, through the synthetic scenes' lens (50 mm on APS-C); ``inf``: zeros (the lens's own)."""
    import dataclasses

    from bggan.data.defocus import Lens
    from bggan.data.depth_bokeh import signed_coc

    return np.stack([signed_coc(depth, focus, dataclasses.replace(Lens(), f_number=f), depth.shape[1])
                     for depth, focus in depths for f in f_numbers]).astype(np.float32)
