"""LiteRT's GPU accelerator as a checked runtime: TFLite files compiled on the GPU alone, run, compared.

See :mod:`bggan.litert_gpu.runtime`; ``python -m bggan.litert_gpu setup [DIR]`` installs the runtime and
``python -m bggan.litert_gpu check`` says which adapter it finds.
"""

from bggan.litert_gpu.runtime import (
    GpuCompileFailed,
    GpuModel,
    GpuRuntime,
    GpuRuntimeMissing,
    find_runtime,
    runtime_folder,
)

__all__ = ["GpuCompileFailed", "GpuModel", "GpuRuntime", "GpuRuntimeMissing", "find_runtime", "runtime_folder"]
