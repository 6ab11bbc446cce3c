"""Where LiteRT's GPU runtime lives, and one compiled model in it, run through :mod:`bggan.litert_gpu.worker`.

The runtime is a folder made by ``setup.sh`` (``make gpu-runtime``, or ``python -m bggan.litert_gpu setup``):
a Python environment with ai-edge-litert and numpy only, and Mesa's software Vulkan driver (lavapipe).
It is its own environment because the export extra's onnx2tf pins ai-edge-litert 2.1.0, which has no
GPU accelerator; an app ships the same thing (the runtime, not the converter). Found at
``$BGGAN_LITERT_GPU``, else ``<sys.prefix>/litert-gpu`` (the project's ``.venv/litert-gpu``).

``BGGAN_VULKAN=system`` uses the machine's own Vulkan drivers (a real GPU) instead of lavapipe.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bggan.errors import BgganError

WORKER = Path(__file__).with_name("worker.py")
SETUP = Path(__file__).with_name("setup.sh")
#: Seconds to wait for a compile or a run before giving up on the worker (lavapipe compiles shaders on the CPU).
TIMEOUT_S = 900.0
_ADAPTER = re.compile(r"Selected adapter: (.*)")
_NO_DEVICE = re.compile(r"No adapters found|Found no drivers|Couldn't load Vulkan")
#: Log lines that say why a compile failed: an op the GPU cannot run, or no Vulkan device.
_REASON = re.compile(r"^(?!INFO|WARNING|ERROR)[A-Z][A-Z0-9_]+: |No adapters found|Found no drivers|Couldn't load Vulkan")


class GpuRuntimeMissing(BgganError):
    """No usable GPU runtime: the message says why and how to install it."""


class GpuCompileFailed(BgganError):
    """The GPU accelerator refused the model (e.g. an op it cannot run); the message is the runtime's reason."""


@dataclass(frozen=True)
class GpuRuntime:
    """A runtime folder made by ``setup.sh``: its Python, its libraries and its Vulkan driver file."""

    folder: Path
    python: Path
    lib: Path
    icd: Path
    litert: str

    def environment(self, vulkan: str | None = None) -> dict[str, str]:
        """The environment for the worker: the private Vulkan loader, and lavapipe unless ``vulkan == "system"``."""
        vulkan = vulkan or os.environ.get("BGGAN_VULKAN", "lavapipe")
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(self.lib), env.get("LD_LIBRARY_PATH")) if p)
        env["VK_LOADER_LAYERS_DISABLE"] = "~implicit~"
        env["MESA_SHADER_CACHE_DIR"] = str(self.folder / "shader_cache")  # compiled shaders kept between runs
        env.setdefault("LP_NUM_THREADS", str(os.cpu_count() or 1))
        if vulkan == "lavapipe":
            env["VK_ICD_FILENAMES"] = env["VK_DRIVER_FILES"] = str(self.icd)
        else:
            for key in ("VK_ICD_FILENAMES", "VK_DRIVER_FILES"):
                env.pop(key, None)
        return env


def runtime_folder() -> Path:
    """``$BGGAN_LITERT_GPU``, else ``<sys.prefix>/litert-gpu``."""
    return Path(os.environ.get("BGGAN_LITERT_GPU") or Path(sys.prefix) / "litert-gpu")


def find_runtime(folder: Path | None = None) -> GpuRuntime:
    """The runtime in ``folder`` (default :func:`runtime_folder`).

    Raises:
        GpuRuntimeMissing: the folder has no finished set-up; the message says how to make one.
    """
    folder = Path(folder or runtime_folder())
    ready = folder / ".ready"
    if not ready.is_file():
        raise GpuRuntimeMissing(f"no LiteRT GPU runtime at {folder} (make gpu-runtime, or python -m bggan.litert_gpu "
                                f"setup {folder}; BGGAN_LITERT_GPU=DIR points elsewhere)")
    values = dict(line.split("=", 1) for line in ready.read_text().splitlines() if "=" in line)
    runtime = GpuRuntime(folder, Path(values["python"]), Path(values["lib"]), Path(values["icd"]), values["litert"])
    if not runtime.python.is_file():
        raise GpuRuntimeMissing(f"the LiteRT GPU runtime at {folder} lost its Python ({runtime.python}); "
                                "run its set-up again")
    return runtime


@dataclass
class GpuModel:
    """One ``.tflite`` compiled on the GPU accelerator alone, in a worker process; a context manager.

    Args:
        path: the model file.
        precision: ``"fp32"`` (``enforce_f32``) or ``"fp16"`` (the GPU's default).
        runtime: from :func:`find_runtime` (found if ``None``).

    Raises:
        GpuRuntimeMissing: no runtime; GpuCompileFailed: the accelerator refused the model.
    """

    path: Path
    precision: str = "fp32"
    runtime: GpuRuntime | None = None
    fully_accelerated: bool = False
    compile_s: float = 0.0
    adapter: str = ""
    litert: str = ""
    last_run_s: float = 0.0
    inputs: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "fp16"):
            raise ValueError(f"precision must be fp32 or fp16, got {self.precision!r}")
        self.runtime = self.runtime or find_runtime()
        self._tmp = tempfile.TemporaryDirectory(prefix="bggan-gpu-")
        self._log = open(Path(self._tmp.name) / "worker.log", "w+")  # noqa: SIM115 (closed in close())
        self._proc = subprocess.Popen([str(self.runtime.python), str(WORKER), str(self.path), "--precision",
                                       self.precision], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._log, env=self.runtime.environment(), text=True)
        try:
            ready = self._reply()
            self.adapter = self._adapter()
            if not ready["ok"] and _NO_DEVICE.search(self._log_text()):
                raise GpuRuntimeMissing(f"the LiteRT GPU runtime found no Vulkan device: {self._reason(ready['error'])}")
            if not ready["ok"]:
                raise GpuCompileFailed(f"{Path(self.path).name}: the GPU accelerator refused it: "
                                       f"{self._reason(ready['error'])}")
        except BaseException:
            self.close()
            raise
        self.fully_accelerated, self.compile_s = ready["fully_accelerated"], ready["compile_s"]
        self.inputs, self.outputs, self.litert = ready["inputs"], ready["outputs"], ready["litert"]
        self._runs = 0

    @property
    def software(self) -> bool:
        """The adapter is a CPU (lavapipe/llvmpipe): its latency says nothing about a GPU."""
        return "CPU" in self.adapter or "llvmpipe" in self.adapter or "SwiftShader" in self.adapter

    def run(self, inputs: dict[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        """The outputs (by name) for ``inputs`` (by name, or one array for a one-input model), shapes as the model's."""
        arrays = inputs if isinstance(inputs, dict) else {"input": inputs}
        self._runs += 1
        src, dst = (Path(self._tmp.name) / f"{kind}{self._runs}.npz" for kind in ("in", "out"))
        np.savez(src, **arrays)
        self._proc.stdin.write(json.dumps({"in": str(src), "out": str(dst)}) + "\n")
        self._proc.stdin.flush()
        reply = self._reply()
        if not reply["ok"]:
            raise BgganError(f"{Path(self.path).name} on the GPU: {reply['error']}")
        self.last_run_s = reply["seconds"]
        with np.load(dst) as found:
            out = {name: found[name].copy() for name in found.files}
        src.unlink()
        dst.unlink()
        return out

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        self._log.close()
        self._tmp.cleanup()

    def __enter__(self) -> GpuModel:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _reply(self) -> dict:
        ready, _, _ = select.select([self._proc.stdout], [], [], TIMEOUT_S)
        line = self._proc.stdout.readline() if ready else ""
        if not line:
            code = self._proc.poll()
            end = "timed out" if code is None else f"ended with code {code}"
            raise BgganError(f"the LiteRT GPU worker {end} on {Path(self.path).name}: {self._log_tail()}")
        return json.loads(line)

    def _log_text(self) -> str:
        self._log.flush()
        return (Path(self._tmp.name) / "worker.log").read_text(errors="replace")

    def _log_tail(self) -> str:
        lines = [line.strip() for line in self._log_text().splitlines() if line.strip()]
        return " | ".join(lines[-3:]) or "no log"

    def _adapter(self) -> str:
        found = _ADAPTER.search(self._log_text())
        return found.group(1).strip() if found else ""

    def _reason(self, error: str) -> str:
        """The runtime's error, with the log line that says which op or what device when there is one."""
        detail = [line.strip().removeprefix("ERROR: ") for line in self._log_text().splitlines() if _REASON.search(line)]
        error = error.split(". Add kLiteRt")[0]
        head = [] if re.fullmatch(r"ERROR: \[[^\]]*\]", error) else [error]  # a source location says nothing
        return "; ".join([*head, *dict.fromkeys(detail)][:4]) or error
