"""Pairs per second the training loader delivers: JPEG decode + paired crop, per worker and in all.

    python bench/decode_pairs.py                      # 24 synthetic 1024x1536 pairs, crop 1024x1408
    python bench/decode_pairs.py --root /data/ebb/train --n 200

Without --root it writes synthetic pairs as JPEG (quality 95, like EBB!) to a temporary folder,
with sensor-like grain added (--grain, in 8-bit levels): synthetic scenes are smoother than
photos and would otherwise decode faster than real EBB! files.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from bggan.cli.common import parse_size
from bggan.data.paired import PairedImages, write_pair
from bggan.data.synthetic import render_pairs
from bggan.data.transforms import PairCrops


def make_pairs(root: Path, n: int, size: tuple[int, int], grain: float) -> None:
    rng = np.random.default_rng(0)
    for seed, *pair in render_pairs(range(n), size, desc="writing JPEG pairs"):
        noisy = [np.clip(x + rng.normal(0, grain, x.shape), 0, 255).astype(np.uint8) if grain else x for x in pair]
        write_pair(root, str(seed), *noisy)


def rate_in_process(dataset, passes: int = 2) -> float:
    dataset[0]  # warm-up
    start = time.perf_counter()
    for _ in range(passes):
        for i in range(len(dataset)):
            dataset[i]
    return passes * len(dataset) / (time.perf_counter() - start)


def rate_loader(dataset, workers: int, passes: int = 2) -> float:
    loader = DataLoader(dataset, batch_size=1, shuffle=True, num_workers=workers, persistent_workers=True)
    next(iter(loader))  # start the workers
    start = time.perf_counter()
    count = 0
    for _ in range(passes):
        for _batch in loader:
            count += 1
    return count / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", help="a folder of real pairs (EBB! layout); synthetic pairs if omitted")
    p.add_argument("--n", type=int, default=24, help="pairs to use (default: %(default)s)")
    p.add_argument("--size", default="1024x1536", help="HxW of synthetic pairs (default: %(default)s)")
    p.add_argument("--crop", default="1024x1408", help="HxW training crop (default: %(default)s)")
    p.add_argument("--grain", type=float, default=2.0, help="grain std in 8-bit levels (default: %(default)s)")
    args = p.parse_args()
    crop = parse_size(args.crop, "--crop")
    torch.set_num_threads(1)  # as in a loader worker

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.root) if args.root else Path(tmp)
        if not args.root:
            make_pairs(root, args.n, parse_size(args.size), args.grain)
        pairs = PairedImages(root, holdout=0)
        print(pairs.summary().splitlines()[0])
        train, _ = pairs.split()
        dataset = PairCrops(Subset(train, range(min(args.n, len(train)))), crop, random=True, flip=True)
        mb = sum(os.path.getsize(q) for pr in train.pairs[:len(dataset)] for q in (pr.source, pr.target)) / 2**20
        print(f"{len(dataset)} pairs, {mb / len(dataset):.2f} MiB per pair on disk, crop {crop[0]}x{crop[1]}")
        print(f"one worker, in process: {rate_in_process(dataset):.1f} pairs/s")
        for workers in sorted({1, 2, os.cpu_count() or 1}):
            print(f"DataLoader, {workers} worker(s), batch 1: {rate_loader(dataset, workers):.1f} pairs/s "
                  f"({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
