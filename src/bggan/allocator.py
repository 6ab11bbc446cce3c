"""glibc's allocator set for a CPU forward pass, where every layer allocates and frees maps of 20-150 MB.

By default glibc serves each such block with a fresh ``mmap`` and returns it on ``free``, so every layer's
output is new memory that the kernel faults in page by page (zeroed) before the layer can write it: measured
here, 5-15% of a 1024x1536 forward on 2 cores. Inside :func:`freed_memory_kept` blocks come from the heap
instead, and the ones a layer frees are reused by the next; on leaving, the heap's free memory goes back to
the system (``malloc_trim``). Used around whole-photo forwards only (:func:`bggan.render.renderer.render_photo`,
:func:`bggan.evaluate.scoring.timed_forward`): around the tiles of a 24 MP photo, with its accumulators alive,
the heap fragmented and the peak went from 1.79 to 2.04 GiB.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import platform
from collections.abc import Iterator

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # from glibc's malloc.h
_MMAP_MAX_DEFAULT = 65536
#: Freed memory above this much at the top of the heap is returned to the system.
TRIM_THRESHOLD = 1 << 30

_libc: ctypes.CDLL | None | bool = None


def _glibc() -> ctypes.CDLL | None:
    """glibc with the heap's trim threshold raised to :data:`TRIM_THRESHOLD` (once), or None (not glibc)."""
    global _libc
    if _libc is None:
        _libc = False
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            if libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD):
                _libc = libc
    return _libc or None


@contextlib.contextmanager
def freed_memory_kept() -> Iterator[bool]:
    """Inside: ``mallopt(M_MMAP_MAX, 0)``, every block from the heap, freed ones reused; after: glibc's default,
    and the heap's free memory returned (``malloc_trim(0)``).

    Yields True when set (Linux with glibc), False elsewhere (other allocators are left as they are).
    """
    libc = _glibc()
    if libc is None:
        yield False
        return
    libc.mallopt(_M_MMAP_MAX, 0)
    try:
        yield True
    finally:
        libc.mallopt(_M_MMAP_MAX, _MMAP_MAX_DEFAULT)
        libc.malloc_trim(0)
