"""Write docs/synthetic_pairs.jpg: input | target | bands of the target's circle of confusion, for a few seeds.

    python docs/synthetic_grid.py [--seeds 0 1 2 3] [--size 512x768] [--scale 0.5]

Pairs are rendered at the default data's size and lens (512x768, 50 mm f/1.8 on APS-C) and shown at half
size. The third column colours each pixel by the yardstick's band (bggan.evaluate.bands): green in focus,
yellow transition, dark red out of focus.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from bggan.cli.common import parse_size
from bggan.data.synthetic import render_sample
from bggan.evaluate.grids import band_picture
from bggan.images import write_rgb


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    p.add_argument("--size", default="512x768", help="HxW the pairs are rendered at (default: %(default)s)")
    p.add_argument("--scale", type=float, default=0.5, help="shown at this scale (default: %(default)s)")
    p.add_argument("--out", default=str(Path(__file__).with_name("synthetic_pairs.jpg")))
    args = p.parse_args()
    h, w = parse_size(args.size)
    size = (round(w * args.scale), round(h * args.scale))

    def shown(image: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))

    gap = np.full((size[1], 8, 3), 255, np.uint8)
    rows = []
    for seed in args.seeds:
        sample = render_sample(seed, h, w)
        rows.append(np.concatenate([shown(sample["input"]), gap, shown(sample["target"]), gap,
                                    shown(band_picture(sample["coc"]))], 1))
    grid = np.concatenate([np.concatenate([row, np.full((8, row.shape[1], 3), 255, np.uint8)]) for row in rows])
    write_rgb(args.out, grid[:-8], overwrite=True, quality=88)
    print(f"wrote {args.out}: seeds {args.seeds}, each row input (all in focus) | target (50 mm f/1.8) | CoC bands")


if __name__ == "__main__":
    main()
