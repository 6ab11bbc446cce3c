"""The blur range of a depth-aware generator at full size: how much detail it leaves out of focus at each f-number,
against the lens's own target, on synthetic scenes at 1024x1536.

    python bench/depth_blur_range.py --weights outputs/depth_demo/generator.safetensors
    python bench/depth_blur_range.py --weights g.safetensors --scenes 2 --size 512x768

Each scene (seeds 10000.., never trained on) is rendered by the lens (50 mm on APS-C, focused on its subject) at no
blur and f/16 ... f/1.4, and the model is given the true defocus map of each f-number at that size
(:mod:`bggan.evaluate.control`, the same control curve as the aperture demo's). Printed: the curve, the largest
circle of confusion in the scenes at f/1.4, and per f-number the model's out-of-focus detail over the lens's (the
aim: within 3x, between 1/3 and 3, at every f-number).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", required=True, help="a depth-aware generator (.safetensors or .ckpt)")
    p.add_argument("--scenes", type=int, default=4, help="default: %(default)s")
    p.add_argument("--size", default="1024x1536", help="HxW (default: %(default)s)")
    p.add_argument("--focal-length", type=float, default=50.0, help="mm on APS-C (default: %(default)s)")
    p.add_argument("--first-seed", type=int, default=10000, help="default: %(default)s")
    args = p.parse_args()
    warnings.filterwarnings("ignore")

    import torch

    from bggan.cli.common import parse_size
    from bggan.data.synthetic import DefocusInput
    from bggan.evaluate.control import DEFAULT_SWEEP, control_curve, defocus_at, synthetic_sweep
    from bggan.models import load_generator

    model = load_generator(args.weights)
    if not model.takes_defocus:
        p.error(f"{args.weights} is not a depth-aware generator")
    size = parse_size(args.size)
    started = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.scenes)
    scenes = synthetic_sweep(seeds, size, DEFAULT_SWEEP, args.focal_length, defocus=DefocusInput())
    rendered = time.perf_counter() - started

    def render(x, strengths, scene):
        with torch.inference_mode():
            return torch.cat([model(x[i:i + 1], defocus_at(scene, strengths[i:i + 1], DEFAULT_SWEEP))[0]
                              for i in range(len(x))])

    started = time.perf_counter()
    curve = control_curve(render, scenes, DEFAULT_SWEEP)
    largest = max(float(np.abs(s.coc).max()) for s in scenes)
    print(f"{model.summary()}\n{len(scenes)} scenes at {size[0]}x{size[1]} (seeds {seeds[0]}-{seeds[-1]}), "
          f"{args.focal_length:g} mm on APS-C; largest circle of confusion at f/1.4: {largest:.0f} px; scenes "
          f"rendered in {rendered:.0f} s, the model run in {time.perf_counter() - started:.0f} s\n")
    print(curve.table())
    print("\n| f-number | model's out-of-focus detail / the lens's |\n|---|---:|")
    for point in curve.points:
        if point.blur_model is not None and point.blur_target and point.strength > 0:
            print(f"| f/{point.f_number:g} | {point.blur_model / point.blur_target:.2f} |")


if __name__ == "__main__":
    main()
