"""Resident memory of memory-mapped arrays.

The pages of a memory-mapped file that a process has touched stay in its
resident set until the mapping is closed, and they count in its peak RSS and
in the memory accounting of batch systems (SLURM's MaxRSS, cgroup limits),
although the kernel could write them back and drop them. Outputs of a large
mosaic are written band by band through memory maps; dropping each band's
pages once written keeps the resident memory at a few bands.
"""

import mmap
import sys

import numpy as np

__all__ = ["release_pages"]


def _mapping(array):
    base = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    return base


def release_pages(array):
    """Write the pages of a memory-mapped ``array`` to its file and drop them from the resident set.

    The data stay in the file (and in the page cache); the next access maps
    them in again. Does nothing for an array in memory, and on systems where
    dropping the pages of a shared file mapping is not known to be safe (only
    Linux does it).
    """
    if not isinstance(array, np.memmap):
        return
    mapping = _mapping(array)
    if mapping is None or mapping.closed:
        return
    mapping.flush()
    if sys.platform.startswith("linux") and hasattr(mapping, "madvise"):
        mapping.madvise(mmap.MADV_DONTNEED)
