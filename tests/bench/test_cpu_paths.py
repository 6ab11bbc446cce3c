"""bench/cpu_paths.py runs its paths side by side, and its fp32 paths agree with PyTorch."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bggan.devices import cpu_has_bf16

BENCH = Path(__file__).resolve().parents[2] / "bench" / "cpu_paths.py"


@pytest.mark.slow
@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bfloat16 instructions")
def test_the_fp32_paths_agree_with_pytorch_and_bf16_and_int8_do_not():
    # TensorFlow is needed in the bench's processes only: importing it here (the tf fixture) this early in the
    # session breaks pytest's capture in tests/cli/test_hydra_app.py (absl keeps a closed stderr)
    if importlib.util.find_spec("tensorflow") is None:
        if os.environ.get("BGGAN_REQUIRE_EXPORT"):
            pytest.fail("TensorFlow is not installed (the export extra)")
        pytest.skip("TensorFlow is not installed (the export extra)")
    paths = ["torch-nchw", "tf-eager", "torch-cl", "torch-bf16", "torch-int8"]
    out = subprocess.run([sys.executable, str(BENCH), "--size", "64x96", "--repeats", "1", "--matmul", "1024",
                          "--paths", ",".join(paths)],
                         check=True, capture_output=True, text=True).stdout
    # path, first s, best s, median s, GFLOP/s, % peak, x yardstick, PSNR, in/out of focus, peak GiB, what
    rows = {line.split()[0]: line.split() for line in out.splitlines()[-len(paths):]}
    assert list(rows) == paths
    assert rows["tf-eager"][6] == "1.00" and rows["torch-nchw"][7] == "-"  # the yardstick; the reference
    for name in ("tf-eager", "torch-cl"):
        assert float(rows[name][7]) >= 60, rows[name]  # PSNR against eager PyTorch fp32
    for name in ("torch-bf16", "torch-int8"):
        assert 30 <= float(rows[name][7]) < 60, rows[name]  # the control: a path that differs is seen to
