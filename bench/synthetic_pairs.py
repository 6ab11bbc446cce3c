"""Synthetic bokeh pairs rendered per second, in one process (no disk I/O).

    python bench/synthetic_pairs.py                 # 512x768, 20 pairs
    python bench/synthetic_pairs.py --size 1024x1536 --n 5
"""

from __future__ import annotations

import argparse
import time

import torch

from bggan.cli.common import parse_size
from bggan.data.synthetic import render_pair


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="512x768", help="HxW (default: %(default)s)")
    p.add_argument("--n", type=int, default=20, help="pairs to time")
    args = p.parse_args()
    h, w = parse_size(args.size)
    render_pair(0, h, w)  # warm-up
    start = time.perf_counter()
    for seed in range(1, args.n + 1):
        render_pair(seed, h, w)
    seconds = time.perf_counter() - start
    print(f"{args.n} pairs at {h}x{w}: {args.n / seconds:.2f} pairs/s "
          f"({seconds / args.n * 1000:.0f} ms each, {torch.get_num_threads()} torch threads)")


if __name__ == "__main__":
    main()
