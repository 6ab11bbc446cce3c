"""One LightningDataModule for real and synthetic pairs."""

from __future__ import annotations

import os
from typing import Protocol

import torch
from pytorch_lightning import LightningDataModule
from pytorch_lightning.utilities import rank_zero_info
from torch.utils.data import DataLoader, Dataset

from bggan.data.transforms import PairCrops
from bggan.errors import BgganError
from bggan.images import to_model_range


class PairSource(Protocol):
    """Where pairs come from: :class:`bggan.data.PairedImages` or :class:`bggan.data.SyntheticPairs`."""

    def split(self) -> tuple[Dataset, Dataset]:
        """``(train, validation)`` datasets of ``{"name", "input", "target"}``, images ``(H, W, 3)`` uint8."""

    def summary(self) -> str:
        """What was found, for the log."""


def default_workers() -> int:
    """Loader workers: 4, or fewer if the machine has fewer cores (see ``bench/decode_pairs.py``)."""
    return max(1, min(4, (os.cpu_count() or 1)))


class BokehDataModule(LightningDataModule):
    """Training crops and validation images from a pair source.

    Batches are ``{"name": list[str], "input": (B, 3, h, w), "target": (B, 3, h, w)}``. The loaders
    carry uint8; once a batch is on the device, :meth:`on_after_batch_transfer` maps both
    images to float32 in [-1, 1].

    Args:
        pairs: the source (:class:`PairedImages` for EBB!-style folders, :class:`SyntheticPairs`).
        crop: ``(h, w)`` of training crops (random position, same for both images); 1024x1408 in the paper.
        val_crop: ``(h, w)`` centred validation crop, or ``None`` for whole images.
        flip: random left-right flips in training.
        batch_size: training batch size (validation uses it too when ``val_crop`` is set, else 1).
        num_workers: loader processes; ``None`` picks :func:`default_workers`.
    """

    def __init__(self, pairs: PairSource, crop: tuple[int, int] | None = (1024, 1408),
                 val_crop: tuple[int, int] | None = None, flip: bool = True, batch_size: int = 1,
                 num_workers: int | None = None):
        super().__init__()
        for name, size in (("crop", crop), ("val_crop", val_crop)):
            if size is not None and (len(size) != 2 or min(size) < 8):
                raise BgganError(f"data.{name} must be [height, width], each at least 8, got {list(size)}")
        if batch_size < 1:
            raise BgganError(f"data.batch_size must be >= 1, got {batch_size}")
        self.pairs = pairs
        self.crop = tuple(crop) if crop is not None else None
        self.val_crop = tuple(val_crop) if val_crop is not None else None
        self.flip, self.batch_size = flip, batch_size
        self.num_workers = default_workers() if num_workers is None else num_workers
        self.train_set: PairCrops | None = None
        self.val_set: PairCrops | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train, val = self.pairs.split()
        rank_zero_info(self.pairs.summary())
        if self.crop is None and self.batch_size > 1:
            raise BgganError("data.crop=null (whole images) needs data.batch_size=1: image sizes may differ")
        self.train_set = PairCrops(train, self.crop, random=True, flip=self.flip)
        self.val_set = PairCrops(val, self.val_crop, random=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self.batch_size if self.val_crop else 1, shuffle=False)

    def _loader(self, dataset: PairCrops | None, batch_size: int, shuffle: bool) -> DataLoader:
        if dataset is None:
            self.setup()
            dataset = self.train_set if shuffle else self.val_set
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0, pin_memory=torch.cuda.is_available(),
                          drop_last=shuffle and len(dataset) >= batch_size)

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """uint8 -> float32 in [-1, 1], on the device."""
        return {**batch, "input": to_model_range(batch["input"]), "target": to_model_range(batch["target"])}
