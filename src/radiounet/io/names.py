"""File-safe names for outputs named after catalogue entries (cluster names, image stems)."""

import re

__all__ = ["safe_filename"]


def safe_filename(name):
    """``name`` with every character but ASCII letters, digits and ``_.+-`` replaced by ``_``.

    Examples
    --------
    >>> safe_filename("PSZ2 G107.10+65.32 / A1132")
    'PSZ2_G107.10+65.32___A1132'
    """
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", str(name))
