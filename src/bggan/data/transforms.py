"""Paired crops and flips: whatever happens to the input happens to the target, pixel for pixel."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


def pad_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Reflect-pad ``(H, W, C)`` (or ``(H, W)``) at the bottom and right up to at least ``height x width``."""
    h, w = image.shape[:2]
    if h >= height and w >= width:
        return image
    pad = ((0, max(height - h, 0)), (0, max(width - w, 0))) + ((0, 0),) * (image.ndim - 2)
    # "symmetric" tolerates pads larger than the image, which "reflect" does not
    return np.pad(image, pad, mode="reflect" if h > pad[0][1] and w > pad[1][1] else "symmetric")


def crop_origin(shape: tuple[int, ...], size: tuple[int, int], random: bool) -> tuple[int, int]:
    """Top-left corner of a ``size`` crop in an image of ``shape`` (H, W, ...): random (torch RNG) or centred."""
    spare_h, spare_w = shape[0] - size[0], shape[1] - size[1]
    if random:
        return int(torch.randint(spare_h + 1, ())), int(torch.randint(spare_w + 1, ()))
    return spare_h // 2, spare_w // 2


def paired_crop(source: np.ndarray, target: np.ndarray, size: tuple[int, int] | None, random: bool,
                flip: bool, *maps: np.ndarray) -> tuple[np.ndarray, ...]:
    """The same crop (and, if ``flip``, the same random left-right flip) of two ``(H, W, 3)`` images and of
    any ``(H, W)`` maps that go with them (e.g. the target's circle of confusion).

    Images smaller than ``size`` are reflect-padded first. ``size=None`` keeps the whole image.
    Randomness comes from torch's generator, which Lightning seeds per loader worker. Returns
    ``(source, target, *maps)``.
    """
    arrays = (source, target, *maps)
    if any(a.shape[:2] != source.shape[:2] for a in arrays) or source.shape != target.shape:
        raise ValueError(f"a pair's images differ in size: {', '.join(str(a.shape) for a in arrays)}")
    if size is not None:
        arrays = tuple(pad_to(a, *size) for a in arrays)
        top, left = crop_origin(arrays[0].shape, size, random)
        window = np.s_[top:top + size[0], left:left + size[1]]
        arrays = tuple(a[window] for a in arrays)
    if flip and bool(torch.rand(()) < 0.5):
        arrays = tuple(a[:, ::-1] for a in arrays)
    return arrays


#: The per-pixel maps a pair may carry, cropped with its images: the target's circle of confusion, and the one a
#: depth-aware model takes as its input (each ``(H, W)`` float32 px, signed).
MAPS = ("coc", "defocus")


class PairCrops(Dataset):
    """Crops of a pair dataset, as tensors: ``{"name", "input", "target"[, "coc"][, "defocus"][, "strength"]}``,
    images ``(3, h, w)`` uint8, the maps of :data:`MAPS` ``(1, h, w)`` float32 px and the pair's aperture as a
    strength (a float32 scalar, :mod:`bggan.models.condition`) when the pairs carry them.

    Training uses random crops and flips; validation centred crops or whole images (``size=None``).
    The images stay uint8 until they reach the device (:class:`bggan.data.BokehDataModule` maps
    them to [-1, 1]): a quarter of the bytes through the loader's queues and pinned memory.

    Args:
        pairs: a dataset of ``{"name", "input", "target"}`` with ``(H, W, 3)`` uint8 images.
        size: ``(h, w)`` crop, or ``None`` for the whole image.
        random: random crop position (training) or centred (validation).
        flip: random left-right flips.
    """

    def __init__(self, pairs: Dataset, size: tuple[int, int] | None, random: bool, flip: bool = False):
        self.pairs, self.random, self.flip = pairs, random, flip
        self.size = tuple(size) if size is not None else None

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        sample = self.pairs[index]
        names = [name for name in MAPS if sample.get(name) is not None]
        source, target, *maps = paired_crop(sample["input"], sample["target"], self.size, self.random, self.flip,
                                            *(sample[name] for name in names))
        item = {"name": sample["name"], "input": _chw(source), "target": _chw(target)}
        for name, values in zip(names, maps, strict=True):
            item[name] = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None]
        if "strength" in sample:
            item["strength"] = torch.tensor(sample["strength"], dtype=torch.float32)
        return item


def _chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
