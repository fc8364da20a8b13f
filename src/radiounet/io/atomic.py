"""Atomic output: write to a temporary file beside the target, then rename.

A reader, or a rerun after a crash, never sees a half-written file; the
temporary files a killed run left (``.NAME.*.tmp``) go when NAME is written
again.
"""

import contextlib
import os
import tempfile
import threading
from pathlib import Path

from radiounet.errors import OutputError

__all__ = ["atomic_path", "ensure_writable_directory", "start_run"]


def _file_mode():
    # mkstemp creates files readable by the owner only; outputs get the usual umask-based mode.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


#: ``{folder: {NAME: [temporary files of NAME]}}``: the temporary files each output folder held when this run first
#: wrote into it, listed once (listing the folder at every write would cost its size each time).
_found_leftovers = {}
_found_leftovers_lock = threading.Lock()


def start_run():
    """Forget the folders listed for leftover temporary files: a new run (``radio-unet`` calls it for every
    command) lists them again, and so finds what a run killed since left."""
    with _found_leftovers_lock:
        _found_leftovers.clear()


def _remove_leftovers(path, started_ns):
    """Remove the temporary files of ``path`` that were in its folder before this run wrote there and are older
    than ``started_ns`` (the file system's clock): what a run killed outright (SIGKILL, out of memory) left while
    writing it. A younger one belongs to a writer still at work; another process writing the same file at once
    would lose its temporary file, as two writers of one output conflict anyway."""
    folder = str(path.parent)
    with _found_leftovers_lock:
        if folder not in _found_leftovers:
            found = {}
            with contextlib.suppress(OSError), os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.startswith(".") and entry.name.endswith(".tmp") and entry.name.count(".") >= 3:
                        found.setdefault(entry.name[1:].rsplit(".", 2)[0], []).append(entry.path)
            _found_leftovers[folder] = found
        leftovers = _found_leftovers[folder].pop(path.name, [])
    for leftover in leftovers:
        with contextlib.suppress(OSError):
            if os.stat(leftover).st_mtime_ns < started_ns:
                os.unlink(leftover)


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
