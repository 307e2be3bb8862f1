"""Keep freed array memory in the process instead of handing it back to the OS at once.

A backward pass frees and allocates arrays of the same size over and over. glibc's malloc
returns the top of its heap to the OS whenever more than 128 KiB sits free there, so the next
array of the pass faults its pages in again: for 10,000-point arrays that was a third of a
pointwise call, more than the arithmetic it replaced. PyTorch keeps its own caching allocator
for the same reason. Here two glibc settings do it: freed memory at the top of the heap is kept
up to TRIM bytes, and arrays up to MMAP bytes come from the heap (setting one setting turns off
glibc's own adaptive threshold, so both are set). Peak memory is unchanged: only memory already
freed is kept. On other C libraries (musl, macOS, Windows) this does nothing. The command line
sets it for its own process; `import agrad` leaves a host program's allocator alone.
"""
from __future__ import annotations

import ctypes
import os

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
TRIM = 256 << 20
MMAP = 32 << 20  # glibc's own ceiling for the adaptive threshold on 64-bit
_done = []


def keep_freed_memory() -> bool:
    """Apply the settings once per process; False where the C library has no mallopt, or where
    the user set MALLOC_TRIM_THRESHOLD_ / MALLOC_MMAP_THRESHOLD_ (their choice stands)."""
    if _done:
        return _done[0]
    ok = False
    if not any(k in os.environ for k in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")):
        try:
            mallopt = ctypes.CDLL(None).mallopt
        except (AttributeError, OSError):
            mallopt = None
        if mallopt is not None:
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM))
    _done.append(ok)
    return ok
