"""What a benchmark ran on, and how fast this machine multiplies in fp32 now, measured by more than one library.

``cpu()`` names the CPU (model, vendor, the instruction sets that decide which kernels run: AVX2, AVX-512, VNNI,
AVX512-BF16, AMX). ``peak_kernels()`` times fp32 kernels of three libraries on the same threads: torch's matrix
multiply (MKL in the CPU wheel), oneDNN's 3x3 convolution (channels-last, Glass-Net's own shape) and NumPy's matrix
multiply (its BLAS, OpenBLAS in the wheel). The machine's fp32 peak is the best of them: on an AMD CPU torch's MKL
multiply ran at half oneDNN's convolution (issue 31), so one library alone would measure that library, not the machine.

    python bench/machine.py            # the CPU and each kernel's GFLOP/s
"""

from __future__ import annotations

import os
import platform
import time

import torch
import torch.nn.functional as F

#: The flags that decide which kernels a CPU runs, in the order they are shown.
FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def cpu() -> dict:
    """``{"model", "vendor", "flags", "logical_cpus"}`` of this machine (Linux's /proc/cpuinfo; elsewhere what
    :mod:`platform` says, without flags)."""
    info = {"model": platform.processor() or platform.machine(), "vendor": "", "flags": [],
            "logical_cpus": os.cpu_count()}
    try:
        text = open("/proc/cpuinfo").read()  # noqa: SIM115 (one read)
    except OSError:
        return info
    fields = dict(line.split(":", 1) for line in text.split("\n\n", 1)[0].splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    present = set(fields.get("flags", "").split())
    return {**info, "model": fields.get("model name", info["model"]), "vendor": fields.get("vendor_id", ""),
            "flags": [f for f in FLAGS if f in present]}


def describe(machine: dict) -> str:
    """``Intel(R) Xeon(R) ... (GenuineIntel; avx2 fma avx512f ... amx_int8; 2 logical CPUs)``."""
    return (f"{machine['model']} ({machine['vendor'] or 'vendor unknown'}; {' '.join(machine['flags']) or 'no flags'}"
            f"; {machine['logical_cpus']} logical CPUs)")


def _best(fn, repeats: int) -> float:
    fn()  # untimed: first-call set-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_kernels(n: int = 4096, repeats: int = 3) -> dict[str, float]:
    """GFLOP/s of each fp32 kernel on torch's current threads (NumPy's BLAS uses its own, set by
    ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS`` before it loads). ``n``: the matrices' side; the convolution
    shrinks with it (96 channels at 256x384 for 4096)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    results = {f"torch.mm {n}": 2 * n**3 / _best(lambda: torch.mm(a, b), repeats) / 1e9}
    side = max(8, 96 * n // 4096)
    h, w = max(8, 256 * n // 4096), max(8, 384 * n // 4096)
    x = torch.randn(1, side, h, w).contiguous(memory_format=torch.channels_last)
    k = torch.randn(side, side, 3, 3).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        seconds = _best(lambda: F.conv2d(x, k, padding=1), repeats)
    results[f"oneDNN conv3x3 {side}ch {h}x{w}"] = 2 * 9 * side * side * h * w / seconds / 1e9
    an, bn = a.numpy(), b.numpy()
    results[f"numpy matmul {n}"] = 2 * n**3 / _best(lambda: an @ bn, repeats) / 1e9
    return results


if __name__ == "__main__":
    print(describe(cpu()))
    for name, gflops in peak_kernels().items():
        print(f"  {name}: {gflops:.0f} GFLOP/s")
