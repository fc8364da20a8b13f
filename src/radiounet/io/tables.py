"""Reading tables (FITS, CSV, ECSV) with one-line errors, and writing them atomically."""

import os
import warnings
from collections import Counter

import numpy as np
from astropy.table import Table
from astropy.units import UnitsWarning

from radiounet.errors import MissingFileError, RadioUNetError
from radiounet.io.atomic import atomic_path

__all__ = ["read_table", "write_table", "plain_value", "count_text"]


def read_table(path):
    """Read a table in any format astropy recognises; unparseable unit strings are ignored.

    Raises
    ------
    RadioUNetError
        Naming the file, if it cannot be read as a table (:class:`~radiounet.errors.MissingFileError` if it
        does not exist).
    """
    if not os.path.exists(path):
        raise MissingFileError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnitsWarning)
            table = Table.read(path)
    except Exception as exc:  # astropy raises many kinds for unreadable tables
        # Only the first line: astropy appends the table of every format it knows.
        raise RadioUNetError(f"{path}: not a readable table ({str(exc).splitlines()[0].strip()})") from None
    if not table.colnames:
        raise RadioUNetError(f"{path}: not a readable table (no columns found)")
    return table


def write_table(table, path, format="ascii.ecsv"):
    """Write ``table`` to ``path`` in ``format`` through a temporary file, so no half-written table is left."""
    with atomic_path(path) as tmp:
        table.write(tmp, format=format, overwrite=True)


def plain_value(value):
    """A table cell or parameter as a plain Python scalar (a Quantity loses its unit), e.g. for JSON."""
    value = getattr(value, "value", value)
    return value.item() if isinstance(value, np.generic) else value


def count_text(values):
    """How often each value occurs, as text sorted by value: ``"2 failed, 40 fetched"``."""
    return ", ".join(f"{count} {value}" for value, count in sorted(Counter(values).items()))
