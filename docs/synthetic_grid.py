"""Write docs/synthetic_pairs.jpg: input | target for a few seeds of the synthetic generator.

    python docs/synthetic_grid.py [--seeds 0 1 2 3] [--size 256x384]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bggan.cli.common import parse_size
from bggan.data.synthetic import render_pair
from bggan.images import write_rgb


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    p.add_argument("--size", default="256x384", help="HxW of each pair (default: %(default)s)")
    p.add_argument("--out", default=str(Path(__file__).with_name("synthetic_pairs.jpg")))
    args = p.parse_args()
    h, w = parse_size(args.size)
    gap = np.full((h, 8, 3), 255, np.uint8)
    rows = [np.concatenate([sharp, gap, bokeh], 1) for sharp, bokeh in (render_pair(s, h, w) for s in args.seeds)]
    grid = np.concatenate([np.concatenate([row, np.full((8, row.shape[1], 3), 255, np.uint8)]) for row in rows])
    write_rgb(args.out, grid[:-8], overwrite=True, quality=88)
    print(f"wrote {args.out}: seeds {args.seeds}, each row input (all in focus) | target (f/1.8)")


if __name__ == "__main__":
    main()
