"""Time and peak memory of ``bggan-render`` on one large photo (default 24 MP, 4000x6000), tiled.

    python bench/render_large.py                         # released model (He-scaled random weights), 4000x6000
    python bench/render_large.py --size 3000x4000 --tile 1024x1536 --weights generator.safetensors
    python bench/render_large.py --precision int8        # bggan-render --precision int8 (or bf16)

Writes a synthetic photo (a synthetic scene upscaled, plus sensor-like grain) as JPEG to a temporary folder,
then runs ``bggan-render`` on it in a child process and reads that process's wall time and peak resident
memory (``resource.getrusage(RUSAGE_CHILDREN)``): the figure a user sees, model, decode, accumulators and
encode included.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bggan.cli.common import parse_size
from bggan.data.synthetic import render_pair
from bggan.models import GlassNet, save_generator


def large_photo(h: int, w: int, path: Path) -> None:
    scene = Image.fromarray(render_pair(0, 512, 768)[0]).resize((w, h), Image.Resampling.BICUBIC)
    grain = np.random.default_rng(0).normal(0, 4, (h, w, 1)).astype(np.float32)
    pixels = np.clip(np.asarray(scene, np.float32) + grain, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=92)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="4000x6000", help="HxW of the photo (default: %(default)s, 24 MP)")
    p.add_argument("--tile", default="1024x1536", help="bggan-render --tile (default: %(default)s)")
    p.add_argument("--weights", help="a generator; default: the released model with He-scaled random weights")
    p.add_argument("--backend", default="auto")
    p.add_argument("--precision", default="fp32", help="bggan-render --precision (default: %(default)s)")
    args = p.parse_args()
    h, w = parse_size(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photo = tmp / "large.jpg"
        large_photo(h, w, photo)
        weights = args.weights
        if weights is None:
            torch.manual_seed(0)
            weights = tmp / "released_he.safetensors"
            save_generator(GlassNet(init="he"), weights)
        command = [str(Path(sys.executable).parent / "bggan-render"), str(photo), "--weights", str(weights),
                   "--out", str(tmp / "out"), "--tile", args.tile, "--backend", args.backend,
                   "--precision", args.precision]
        start = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - start
        peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    print(f"\n{h}x{w} ({h * w / 1e6:.1f} MP), tile {args.tile}, {args.precision}: {seconds:.1f} s wall, peak RSS {peak_gib:.2f} GiB "
          f"(torch {torch.__version__}, {torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
