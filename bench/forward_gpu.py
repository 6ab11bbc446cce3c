"""Images per second of Glass-Net inference on a CUDA GPU, and peak GPU memory, for every setting worth trying.

    python bench/forward_gpu.py                      # released model, 1024x1536: precisions x layouts x batches
    python bench/forward_gpu.py --batches 1 8 --compile
    python bench/forward_gpu.py --device cpu --size 64x96 --batches 1 2   # the script's own check, anywhere

Rows: ``fp32`` (TF32 convolutions, as ``bggan-render`` sets them), ``fp32-strict`` (TF32 off), ``bf16`` and
``fp16`` (autocast; the normalizations' statistics stay float32) in NCHW and channels_last, at each batch size;
``--compile`` adds ``torch.compile(mode="max-autotune")`` (Triton kernels and CUDA graphs) at the best setting.
Each row: seconds per batch (median of ``--repeats`` after ``--warmup`` untimed runs, cuDNN autotuning
included in those), images per second, peak memory allocated by the forward (``torch.cuda.max_memory_allocated``),
and PSNR of the first image against fp32-strict NCHW at batch 1 (dB, on [-1, 1]). Weights: the released
architecture with He-scaled random weights (or ``--weights``); input: a synthetic scene.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from bggan.cli.common import parse_size
from bggan.data.synthetic import render_pair
from bggan.models import GlassNet, load_generator

DTYPES = {"fp32": None, "fp32-strict": None, "bf16": torch.bfloat16, "fp16": torch.float16}
LAYOUTS = {"NCHW": torch.contiguous_format, "channels_last": torch.channels_last}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(model, x: torch.Tensor, precision: str, warmup: int, repeats: int) -> tuple[float, torch.Tensor, str]:
    """(median seconds per batch, first output, peak GiB allocated or "-" off CUDA) of ``model(x)``."""
    device = x.device
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision != "fp32-strict"
        torch.cuda.reset_peak_memory_stats(device)
    dtype = DTYPES[precision]
    times = []
    with torch.inference_mode(), torch.autocast(device.type, dtype or torch.bfloat16, enabled=dtype is not None):
        for i in range(warmup + repeats):
            sync(device)
            start = time.perf_counter()
            out = model(x)[0]
            sync(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    peak = f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f}" if device.type == "cuda" else "-"
    return statistics.median(times), out[0].float(), peak


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float((a.double() - b.double()).square().mean())
    return float("inf") if mse == 0 else 10 * np.log10(4 / mse)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="1024x1536", help="HxW (default: %(default)s)")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--precisions", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    p.add_argument("--compile", action="store_true", help="add torch.compile(mode='max-autotune') rows")
    p.add_argument("--weights", help="a generator; default: the released architecture, He-scaled random weights")
    p.add_argument("--device", default="cuda")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("no CUDA device here (--device cpu checks the script itself)")
    h, w = parse_size(args.size)
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    model = load_generator(args.weights) if args.weights else GlassNet(init="he")
    model = model.eval().to(device)
    scene = torch.from_numpy(render_pair(0, h, w)[0]).permute(2, 0, 1).float() / 127.5 - 1
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{model.summary()} at {h}x{w} on {name}, torch {torch.__version__}; median of {args.repeats} after "
          f"{args.warmup} warm-up")
    print(f"{'precision':<12} {'layout':<22} {'batch':>5} {'s / batch':>10} {'images/s':>9} {'peak GiB':>9} {'PSNR dB':>8}")
    reference, rows = None, []
    for precision in ["fp32-strict", *[q for q in args.precisions if q != "fp32-strict"]]:
        for layout, fmt in LAYOUTS.items():
            model = model.to(memory_format=fmt)
            for batch in args.batches:
                x = scene[None].expand(batch, -1, -1, -1).contiguous(memory_format=fmt).to(device)
                seconds, first, peak = measure(model, x, precision, args.warmup, args.repeats)
                if reference is None:
                    reference = first
                rows.append((batch / seconds, precision, layout, batch))
                print(f"{precision:<12} {layout:<22} {batch:5d} {seconds:10.4f} {batch / seconds:9.2f} "
                      f"{peak:>9} {psnr(first, reference):8.1f}", flush=True)
    if args.compile:
        _, precision, layout, batch = max(r for r in rows if r[1] != "fp32-strict")
        model = model.to(memory_format=LAYOUTS[layout])
        compiled = torch.compile(model, mode="max-autotune")
        x = scene[None].expand(batch, -1, -1, -1).contiguous(memory_format=LAYOUTS[layout]).to(device)
        seconds, first, peak = measure(compiled, x, precision, args.warmup, args.repeats)
        print(f"{precision:<12} {layout + '+compile':<22} {batch:5d} {seconds:10.4f} {batch / seconds:9.2f} "
              f"{peak:>9} {psnr(first, reference):8.1f}")


if __name__ == "__main__":
    main()
