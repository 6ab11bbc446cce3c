"""Where a generator runs: one device choice for ``bggan-render`` and ``bggan-eval``, and what the CPU can do."""

from __future__ import annotations

import torch

from bggan.errors import BgganError


def pick_device(name: str | None = "auto") -> torch.device:
    """``auto`` (or ``None``) -> CUDA if available, else the CPU; a named device is checked to exist.

    On CUDA, cuDNN autotuning and TF32 convolutions are switched on: the fastest settings for the fixed
    image sizes of inference (TF32 keeps 10 mantissa bits, as the GPU runtimes of phones do).

    Raises:
        BgganError: not a device name, or a CUDA device that is not there.
    """
    if name in (None, "auto"):
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            device = torch.device(name)
        except RuntimeError:
            raise BgganError(f"--device {name}: not a device name (cpu, cuda, cuda:1, ...)") from None
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise BgganError(f"--device {name}: CUDA is not available here")
            if device.index is not None and device.index >= torch.cuda.device_count():
                raise BgganError(f"--device {name}: there are {torch.cuda.device_count()} CUDA devices")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = True
    return device


def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 instructions oneDNN uses (AVX512-BF16, AMX); without them bf16 is emulated."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
