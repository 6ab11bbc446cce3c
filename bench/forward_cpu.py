"""Seconds per Glass-Net forward on the CPU, and the GFLOP/s that makes, for NCHW and channels_last.

    python bench/forward_cpu.py                       # released model, 1024x1536, 3 timed runs
    python bench/forward_cpu.py --size 512x768 --c2 32 --repeats 5

The FLOP count is measured, not assumed: torch's FlopCounterMode on meta tensors (2 FLOPs per
multiply-add; 597.2 GFLOP for the released model at 1024x1536). Timings are inference-mode
forwards after one warm-up run; the table shows the best and the median. Peak resident memory
is that of the whole process so far.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from bggan.cli.common import parse_size
from bggan.models import GlassNet


def count_flops(model_args: dict, h: int, w: int) -> int:
    model = GlassNet(**model_args).to("meta").eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.empty(1, 3, h, w, device="meta"))
    return counter.get_total_flops()


def time_forward(model: GlassNet, x: torch.Tensor, warmup: int, repeats: int) -> list[float]:
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            start = time.perf_counter()
            model(x)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="1024x1536", help="HxW (default: %(default)s)")
    p.add_argument("--c2", type=int, default=24, help="stage-2 width: 24 released, 32 paper")
    p.add_argument("--norm", default="official", choices=["official", "instance"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args()
    h, w = parse_size(args.size)
    torch.set_num_threads(args.threads)
    model_args = {"c2": args.c2, "norm": args.norm}

    flops = count_flops(model_args, h, w)
    cpu = platform.processor() or platform.machine()
    print(f"GlassNet(c2={args.c2}, norm={args.norm}) at {h}x{w}: {flops / 1e9:.1f} GFLOP per forward")
    print(f"torch {torch.__version__}, {args.threads} threads, {cpu}, "
          f"{args.repeats} timed runs after {args.warmup} warm-up")
    print(f"{'layout':<14} {'best s':>8} {'median s':>9} {'GFLOP/s':>8}")
    torch.manual_seed(0)
    model = GlassNet(**model_args, init="he").eval()
    x = torch.rand(1, 3, h, w) * 2 - 1
    for layout, fmt in [("NCHW", torch.contiguous_format), ("channels_last", torch.channels_last)]:
        model = model.to(memory_format=fmt)
        times = time_forward(model, x.contiguous(memory_format=fmt), args.warmup, args.repeats)
        best, median = min(times), statistics.median(times)
        print(f"{layout:<14} {best:8.2f} {median:9.2f} {flops / 1e9 / best:8.1f}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
