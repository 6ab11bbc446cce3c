"""Shared fixtures. ``make test`` sets BGGAN_REQUIRE_EXPORT=1 and BGGAN_REQUIRE_GPU_RUNTIME=1 so export and
GPU-runtime tests fail instead of skipping."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

from bggan.models import GlassNet


def _absl_to_the_real_stderr() -> None:
    """absl (TensorFlow's logging) binds its handler to ``sys.stderr`` when first imported, and closes that stream
    when the handler is closed unless it is still ``sys.stderr``. Imported inside a test, the stream is pytest's
    capture; Hydra's logging setup in a later in-process run closes every handler, and with it pytest's capture:
    the session dies ("lost sys.stderr"; seen: test_render's export fixture, then test_hydra_app). Bound to the real
    stderr, it is never closed."""
    try:
        from absl import logging as absl_logging
    except ImportError:
        return
    absl_logging.get_absl_handler().python_handler.stream = sys.__stderr__


_absl_to_the_real_stderr()


@pytest.fixture(scope="session")
def tf():
    """TensorFlow, or a skip when the export extra is missing (a failure under ``make test``)."""
    from bggan.quiet import import_tensorflow

    try:
        return import_tensorflow()
    except ImportError:
        if os.environ.get("BGGAN_REQUIRE_EXPORT"):
            raise
        pytest.skip("TensorFlow is not installed (the export extra)")


@pytest.fixture(scope="session")
def gpu_runtime():
    """LiteRT's GPU runtime (``make gpu-runtime``), or a skip when it is not installed (a failure under ``make test``)."""
    from bggan.litert_gpu import GpuRuntimeMissing, find_runtime

    try:
        return find_runtime()
    except GpuRuntimeMissing as e:
        if os.environ.get("BGGAN_REQUIRE_GPU_RUNTIME"):
            raise
        pytest.skip(str(e))


def gpu_mode() -> str:
    """The export's ``gpu`` setting for tests: ``required`` under ``make test``, else ``auto``."""
    return "required" if os.environ.get("BGGAN_REQUIRE_GPU_RUNTIME") else "auto"


@pytest.fixture
def tiny_glassnet() -> GlassNet:
    """A few channels and one residual block per stage, He-initialised so outputs are spread."""
    torch.manual_seed(0)
    return GlassNet(c1=4, c2=6, n_res=1, init="he").eval()


def console_script(name: str) -> str:
    """Path of an installed command, beside the interpreter running the tests (PATH may not have it)."""
    path = Path(sys.executable).parent / name
    assert path.is_file(), f"{name} is not installed beside {sys.executable}: pip install -e ."
    return str(path)


def console_scripts() -> list[str]:
    """Every command pyproject.toml installs (``[project.scripts]``)."""
    import tomllib

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    return list(tomllib.loads(pyproject.read_text())["project"]["scripts"])
