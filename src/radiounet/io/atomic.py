"""Atomic output: write to a temporary file beside the target, then rename.

A reader, or a rerun after a crash, never sees a half-written file.
"""

import contextlib
import os
import tempfile
from pathlib import Path

from radiounet.errors import OutputError

__all__ = ["atomic_path", "ensure_writable_directory"]


def _file_mode():
    # mkstemp creates files readable by the owner only; outputs get the usual umask-based mode.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path):
    """Context manager yielding a temporary path that is renamed to ``path`` on success.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_writable_directory(path):
    """Create ``path`` if needed and check that files can be written in it.

    Raises
    ------
    OutputError
        Naming the directory and the reason.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write to output directory {path}: {exc.strerror or exc}") from None
    return path
