"""glibc keeps the memory a forward pass frees: fewer page faults for the same allocations, and only inside."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# 20 times: 64 MiB allocated, written and freed; prints the minor page faults that took. "kept": inside
# freed_memory_kept(); "after": after leaving an (empty) freed_memory_kept() block; "default": never in one
FAULTS = """
import resource, sys
import numpy as np
from bggan.allocator import freed_memory_kept

def loop():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        block = np.ones(8 << 20)
        del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

if sys.argv[1] == "default":
    print(loop())
else:
    with freed_memory_kept() as kept:
        assert kept
        faults = loop() if sys.argv[1] == "kept" else None
    print(faults or loop())
"""


def faults(mode: str) -> int:
    return int(subprocess.run([sys.executable, "-c", FAULTS, mode], check=True, capture_output=True,
                              text=True).stdout)


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_freed_blocks_are_reused_inside_and_mapped_as_usual_after():
    default = faults("default")  # the control: every block is new memory, faulted in again
    assert faults("kept") * 10 <= default  # faulted in once, then reused
    assert faults("after") >= default // 2  # glibc's default again after the block
