"""``bggan-sample``: run Glass-Net on one image and write ``input | rough | final`` side by side.

The interim main job: it proves the model builds, loads weights and renders. Without
``--weights`` the weights are random, and the output says so.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from bggan.cli.common import Parser, parse_size, run_command
from bggan.errors import BgganError
from bggan.files import check_output
from bggan.images import read_rgb, to_tensor, to_uint8, write_rgb
from bggan.models.condition import requested_strength
from bggan.models.defocus import refuse_depth_aware
from bggan.models.glassnet import GlassNet
from bggan.models.weights import load_generator

PROG = "bggan-sample"


def sample_scene(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A simple test picture ``(H, W, 3)`` uint8: sky gradient, textured ground, discs, highlights."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    yy, xx = rows / max(height, width), cols / max(height, width)
    img = np.stack([0.45 + 0.3 * yy, 0.6 + 0.2 * yy, 0.9 - 0.2 * yy], -1)
    ground = rows > 0.45 * height
    img[ground] = (0.35 + 0.1 * np.sin(40 * xx[ground]) * np.sin(40 * yy[ground]))[:, None] * [0.6, 0.9, 0.4]
    for _ in range(6):
        cy, cx, r = rng.uniform(0.2, 0.8) * height, rng.uniform(0.1, 0.9) * width, rng.uniform(0.05, 0.15) * height
        img[(rows - cy) ** 2 + (cols - cx) ** 2 < r * r] = rng.uniform(0.1, 0.9, 3)
    for _ in range(20):
        y, x = rng.integers(0, height), rng.integers(0, width)
        img[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2] = 1.0
    img += rng.normal(0, 0.02, img.shape)
    return (img.clip(0, 1) * 255).round().astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog=PROG, description=__doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("--weights", help="generator .safetensors (e.g. from bggan-import-tf); random if omitted")
    p.add_argument("--image", help="input picture; a built-in test scene if omitted")
    p.add_argument("--size", default="384x512", help="HxW of the built-in scene (default: %(default)s)")
    p.add_argument("--out", required=True, help="output PNG: input | rough | final")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--aperture", type=float, metavar="F",
                   help="f-number, for weights with the aperture as an input (1.8: EBB!'s look; inf: no blur)")
    args = p.parse_args(argv)

    check_output(args.out, args.overwrite, inputs=[args.image, args.weights])
    image = read_rgb(args.image) if args.image else sample_scene(*parse_size(args.size))
    if min(image.shape[:2]) < 8:
        raise BgganError(f"{args.image}: image is {image.shape[0]}x{image.shape[1]}, need at least 8x8")
    if args.weights:
        model = load_generator(args.weights)
        print(f"weights: {args.weights}")
    else:
        torch.manual_seed(0)
        model = GlassNet(init="he").eval()
        print("weights: none given, so RANDOM weights: this checks the pipeline, the picture is not bokeh. "
              "Import the released weights with bggan-import-tf and pass --weights.")
    print(f"model: {model.summary()}; input {image.shape[0]}x{image.shape[1]} px (HxW)")
    refuse_depth_aware(model, PROG)
    strength = requested_strength(model.takes_aperture, args.aperture)

    # channels_last: about 1.4x faster than NCHW on CPU (bench/forward_cpu.py)
    model = model.to(memory_format=torch.channels_last)
    start = time.perf_counter()
    with torch.inference_mode():
        final, rough = model(to_tensor(image).contiguous(memory_format=torch.channels_last), strength)
    print(f"forward: {time.perf_counter() - start:.2f} s on CPU (channels_last)")
    panel = np.concatenate([image, to_uint8(rough), to_uint8(final)], axis=1)
    write_rgb(args.out, panel, overwrite=args.overwrite)
    print(f"wrote {args.out} (input | rough | final)")
    return 0


def cli() -> None:
    sys.exit(run_command(PROG, main))


if __name__ == "__main__":
    cli()
