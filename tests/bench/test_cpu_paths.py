"""bench/cpu_paths.py runs its paths side by side on any x86 CPU, names the CPU and measures its peak with several
libraries' kernels, and its fp32 paths agree with PyTorch."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bggan.devices import cpu_has_bf16
from bggan.models.int8 import int8_available

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_the_machine_is_named_and_measured_by_every_kernel():
    sys.path.insert(0, str(BENCH))
    try:
        import machine
    finally:
        sys.path.remove(str(BENCH))
    info = machine.cpu()
    assert info["model"] and info["logical_cpus"] >= 1
    if Path("/proc/cpuinfo").exists():  # Linux: the vendor and the flags that pick kernels
        assert info["vendor"] in ("GenuineIntel", "AuthenticAMD") and "avx2" in info["flags"]
        assert ("amx_tile" in info["flags"]) == ("amx_tile" in Path("/proc/cpuinfo").read_text())
    kernels = machine.peak_kernels(n=256, repeats=1)
    assert [k.split()[0] for k in kernels] == ["torch.mm", "oneDNN", "numpy"]
    assert all(v > 0 for v in kernels.values())
    assert machine.describe(info).startswith(info["model"])


@pytest.mark.slow
def test_the_fp32_paths_agree_with_pytorch_and_bf16_and_int8_do_not(tmp_path):
    # TensorFlow is needed in the bench's processes only: importing it here (the tf fixture) this early in the
    # session breaks pytest's capture in tests/cli/test_hydra_app.py (absl keeps a closed stderr)
    if importlib.util.find_spec("tensorflow") is None:
        if os.environ.get("BGGAN_REQUIRE_EXPORT"):
            pytest.fail("TensorFlow is not installed (the export extra)")
        pytest.skip("TensorFlow is not installed (the export extra)")
    # every path this CPU has: nothing is skipped for the other vendor's CPU
    lower = ["torch-bf16"] * cpu_has_bf16() + ["torch-int8"] * int8_available()
    paths = ["torch-nchw", "tf-eager", "torch-cl", *lower]
    out = subprocess.run([sys.executable, str(BENCH / "cpu_paths.py"), "--size", "64x96", "--repeats", "1",
                          "--matmul", "1024", "--paths", ",".join(paths), "--json", str(tmp_path / "r.json")],
                         check=True, capture_output=True, text=True).stdout
    assert out.startswith("CPU: ") and "logical CPUs)" in out.splitlines()[0]
    kernels = [line.strip() for line in out.split("fp32 kernels")[1].splitlines()[1:4]]
    assert [k.split()[0] for k in kernels] == ["torch.mm", "oneDNN", "numpy"]
    # path, first s, best s, median s, GFLOP/s, % peak, x yardstick, PSNR, in/out of focus, peak GiB, what
    rows = {line.split()[0]: line.split() for line in out.splitlines()[-len(paths) - 1:-1]}
    assert list(rows) == paths
    assert rows["tf-eager"][6] == "1.00" and rows["torch-nchw"][7] == "-"  # the yardstick; the reference
    for name in ("tf-eager", "torch-cl"):
        assert float(rows[name][7]) >= 60, rows[name]  # PSNR against eager PyTorch fp32
    for name in lower:
        assert 30 <= float(rows[name][7]) < 60, rows[name]  # the control: a path that differs is seen to
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["machine"]["model"] in out.splitlines()[0] and result["threads"] == 2
    path = result["paths"]["torch-cl"]
    assert path["peak_gflops"] == max(path["kernels"].values())
    assert round(100 * path["gflops"] / path["peak_gflops"]) == int(rows["torch-cl"][5])  # % of the best kernel
