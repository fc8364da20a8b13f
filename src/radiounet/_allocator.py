"""Serve the network's activations from memory the process keeps, not from fresh mappings of the system's.

glibc's malloc serves every block of 32 MB or more with a fresh ``mmap`` and
unmaps it when freed. A U-Net's activations are such blocks (8 channels of a
1072-pixel tile: 37 MB), allocated and freed at every layer, so each layer
pays for the kernel mapping and zeroing its output page by page again (on 2
CPU threads the operations that only move memory took 40% of the network's
time). Served from the heap and kept there after they are freed, the same
blocks are reused warm: the same numbers, the network 1.6x faster in
inference and training steps 1.2-1.3x (docs/speed.md).

Only the blocks allocated inside :func:`freed_memory_retained` are served so;
the others (a mosaic's accumulation bands, grown and freed row by row) are
mapped and given back as before, so that the heap holds the network's working
set and no more. Set ``RADIOUNET_RETAIN_MEMORY=0`` to leave the allocator as
it is. Elsewhere than on glibc (macOS, Windows, musl) nothing is changed.
"""

import ctypes
import ctypes.util
import functools
import os
import platform
import threading
from contextlib import contextmanager

__all__ = ["freed_memory_retained", "on_glibc"]

# mallopt parameters and glibc's defaults, from malloc.h and malloc.c.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4
_DEFAULT_MMAP_MAX = 65536
_LARGEST_MMAP_THRESHOLD = 32 * 2**20
_KEEP_ALL = 2**31 - 1

_lock = threading.Lock()
_depth = 0  # contexts open


def on_glibc():
    """Whether this process runs on glibc, the only C library whose allocator this module sets."""
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@functools.cache
def _libc():
    """glibc, with the heap configured to keep what is freed; None where that does not apply."""
    if os.environ.get("RADIOUNET_RETAIN_MEMORY", "1") == "0" or not on_glibc():
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    # Setting these ends glibc's sliding threshold, so the threshold is set to where it would slide to: blocks
    # under 32 MB from the heap, as before; the heap not trimmed back when they are freed.
    configured = libc.mallopt(_M_MMAP_THRESHOLD, _LARGEST_MMAP_THRESHOLD) and libc.mallopt(_M_TRIM_THRESHOLD,
                                                                                          _KEEP_ALL)
    return libc if configured else None


@contextmanager
def freed_memory_retained():
    """Within this context, every block, however large, comes from the heap and stays there when freed.

    Blocks allocated and freed again and again (a network's activations) are
    then reused without the system mapping them afresh. Re-entrant and
    thread-safe: the allocator goes back to mapping large blocks when the
    last context open exits. A no-op where :mod:`radiounet._allocator` does
    not apply.
    """
    global _depth
    with _lock:
        libc = _libc()
        if libc is not None:
            _depth += 1
            if _depth == 1:
                libc.mallopt(_M_MMAP_MAX, 0)
    try:
        yield
    finally:
        if libc is not None:
            with _lock:
                _depth -= 1
                if _depth == 0:
                    libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
