"""Atomic output: write to a temporary file beside the target, then rename.

A reader, or a rerun after a crash, never sees a half-written file; the
temporary files a killed run left (``.NAME.*.tmp``) go when NAME is written
again.
"""

import contextlib
import glob
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


def _remove_leftovers(path, started_ns):
    """Remove the temporary files of ``path`` older than ``started_ns`` (the file system's clock): what a run killed
    outright (SIGKILL, out of memory) left while writing it. A younger one belongs to a writer still at work."""
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime_ns < started_ns:
                leftover.unlink()


def _write_error(path, exc):
    """An :class:`OutputError` naming ``path`` for an ``OSError`` met while writing it."""
    reason = exc.strerror or str(exc)
    return OutputError(f"cannot write {path}: {reason[:1].lower() + reason[1:]}")


@contextlib.contextmanager
def atomic_path(path):
    """Context manager yielding a temporary path that is renamed to ``path`` on success.

    An ``OSError`` while writing (no space left on device, permission
    denied, ...) becomes an :class:`OutputError` naming ``path``, and no
    temporary file is left behind. Once ``path`` is written, the temporary
    files of ``path`` that a killed run left are removed.

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
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from None
    os.close(fd)
    tmp = Path(tmp)
    try:
        started_ns = tmp.stat().st_mtime_ns
        yield tmp
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
        _remove_leftovers(path, started_ns)
    except OutputError:
        raise
    except OSError as exc:
        raise _write_error(path, exc) from None
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
    if path.exists() and not path.is_dir():
        raise OutputError(f"cannot write to output directory {path}: it is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write to output directory {path}: {exc.strerror or exc}") from None
    return path
