"""Freed host memory kept for the next step, not handed back to the OS and faulted in again.

glibc's malloc returns a freed block of 128 KiB or more to the OS (each is its own mmap,
and the top of the heap is trimmed), so a CPU step whose activations are tensors of ~1 MB
gets fresh pages for every one of them, every step, and pays a page fault per 4 KiB. The
16-job contractive vmap sweep on 2 cores took 620k page faults, and its stacked training
6.2 s; with the blocks kept, 246k and 4.7 s (the numbers do not change: the same kernels on
the same values). `keep_freed_memory` sets what glibc's MALLOC_MMAP_THRESHOLD_ and
MALLOC_TRIM_THRESHOLD_ would: blocks under 32 MiB come from the heap, and the heap keeps up
to 128 MiB free. The price is that the process keeps the memory its largest step used
until it ends, which a trainer uses again at the next step anyway. Elsewhere than glibc
(macOS, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20  # glibc's largest (64-bit): blocks below it come from the heap
TRIM_THRESHOLD = 128 << 20  # free memory the heap's top may keep


def keep_freed_memory() -> bool:
    """Set glibc's thresholds for this process; whether they were set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # glibc only (musl's mallopt is a stub)
        return False
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
