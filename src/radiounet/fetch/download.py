"""Download one FITS file over HTTP: retries with back-off, checks, and an atomic rename.

A file appears under its final name only once it is complete and holds a FITS
image with data, so an interrupted run never leaves a cutout that looks
finished. What went wrong is returned as a status, not raised: a batch goes on
with the other rows.

Statuses: ``fetched``; ``not_found`` (HTTP 404); ``outside_footprint`` (an
image with no data, or a service message saying the position is not covered);
``not_fits`` (a response that is not a FITS image); ``http_error`` (another
4xx); ``failed`` (timeouts, 5xx, 429 and cut connections that persisted
through every retry, or a URL that cannot be requested).
"""

import gzip
import http.client
import re
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from radiounet import __version__
from radiounet.io.atomic import atomic_path

__all__ = ["DownloadResult", "DownloadStopped", "download_fits", "fits_image_status"]

USER_AGENT = f"radiounet/{__version__} (survey cutouts; python urllib)"
_FOOTPRINT_WORDS = re.compile(
    r"outside (?:of )?(?:the )?(?:survey|footprint|coverage|covered|sky|area|field|mosaic)|not covered|no coverage"
    r"|footprint|no (?:mosaic|image|data) (?:covers|found|available|for|at)", re.IGNORECASE)
_RETRY_AFTER_CAP = 60.0
_CHECKED_PIXELS = 4_000_000
# warnings.catch_warnings changes the filters of the whole process: threads checking files take turns.
_WARNINGS_LOCK = threading.Lock()


@dataclass
class DownloadResult:
    """What :func:`download_fits` did.

    Attributes
    ----------
    status : str
        One of the statuses of this module.
    attempts : int
        HTTP requests made.
    n_bytes : int
        Size of the file on disk (0 if none was written).
    message : str
        Why, for any status but ``fetched``.
    """

    status: str
    attempts: int = 0
    n_bytes: int = 0
    message: str = ""


class DownloadStopped(Exception):
    """Raised by :func:`download_fits` when its ``stop`` event is set (Ctrl-C in a batch)."""


class _Retry(Exception):
    """A failure worth another attempt; ``wait`` is the server's Retry-After, if any."""

    def __init__(self, message, wait=None):
        super().__init__(message)
        self.wait = wait


class _Finished(Exception):
    """Leaves the atomic write without renaming the temporary file."""

    def __init__(self, result):
        super().__init__(result.status)
        self.result = result


def fits_image_status(path):
    """``"ok"``, ``"outside_footprint"`` (no finite non-zero pixel) or ``"not_fits"`` for a file on disk.

    Large images are checked on a regular grid of about four million pixels.
    """
    # A FITS file is whole 2880-byte blocks from a SIMPLE card: checked first, so that astropy's warnings about
    # broken headers are not met for truncated files and web pages.
    with open(path, "rb") as f:
        if f.read(9) != b"SIMPLE  =" or Path(path).stat().st_size % 2880:
            return "not_fits"
    try:
        with _WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=True) as hdus:
                hdu = next((hdu for hdu in hdus if hdu.is_image and hdu.data is not None), None)
                if hdu is None:
                    return "not_fits"
                step = max(1, int(np.ceil((hdu.data.size / _CHECKED_PIXELS) ** (1 / max(hdu.data.ndim, 1)))))
                values = np.asarray(hdu.data[(slice(None, None, step),) * hdu.data.ndim], dtype=np.float64)
    except (OSError, ValueError, TypeError, IndexError):
        return "not_fits"
    finite = values[np.isfinite(values)]
    return "ok" if finite.size and np.any(finite != 0) else "outside_footprint"


def _retry_after(headers):
    try:
        return min(float(headers.get("Retry-After")), _RETRY_AFTER_CAP)
    except (TypeError, ValueError):
        return None


def _body_excerpt(data):
    text = data[:2000].decode("utf-8", errors="replace")
    text = re.sub(r"<[^>]+>", " ", text)
    return " ".join(text.split())[:160]


def _copy_body(response, tmp, stop):
    """Stream the body into ``tmp``; errors of the network become :class:`_Retry`, errors of the disk propagate."""
    n_bytes = 0
    with open(tmp, "wb") as out:
        while True:
            if stop is not None and stop.is_set():
                raise DownloadStopped()
            try:
                chunk = response.read(1 << 20)
            except (OSError, http.client.HTTPException) as exc:
                raise _Retry(f"connection cut after {n_bytes} bytes ({exc.__class__.__name__})") from None
            if not chunk:
                return n_bytes
            out.write(chunk)
            n_bytes += len(chunk)


def _fetch_once(url, tmp, timeout, stop):
    """One request into ``tmp``: a :class:`DownloadResult` when the service's answer is final, None when the body is
    in ``tmp``; raises :class:`_Retry` when another attempt may do better."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/fits, */*"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            expected = response.headers.get("Content-Length")
            n_bytes = _copy_body(response, tmp, stop)
            if expected is not None and expected.isdigit() and n_bytes != int(expected):
                raise _Retry(f"connection closed after {n_bytes} of {expected} bytes")
    except urllib.error.HTTPError as exc:
        with exc:
            excerpt = _body_excerpt(exc.read() if exc.fp is not None else b"")
        if exc.code == 429 or exc.code >= 500:
            raise _Retry(f"HTTP {exc.code} {exc.reason}", _retry_after(exc.headers)) from None
        status = "outside_footprint" if _FOOTPRINT_WORDS.search(excerpt) else \
            "not_found" if exc.code == 404 else "http_error"
        return DownloadResult(status, message=f"HTTP {exc.code} {excerpt}".strip())
    except (http.client.InvalidURL, ValueError) as exc:
        return DownloadResult("failed", message=f"not a URL that can be requested ({exc})")
    except (http.client.IncompleteRead, ConnectionError) as exc:
        raise _Retry(f"connection cut ({exc.__class__.__name__})") from None
    except (socket.timeout, TimeoutError):
        raise _Retry(f"no answer within {timeout:g} s") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (socket.timeout, TimeoutError)):
            raise _Retry(f"no answer within {timeout:g} s") from None
        raise _Retry(f"cannot connect ({exc.reason})") from None
    except http.client.HTTPException as exc:
        raise _Retry(f"bad HTTP response ({exc.__class__.__name__})") from None
    return None


def _unpack_gzip(tmp):
    """Unpack ``tmp`` in place if it is gzip-compressed; False if it is damaged."""
    with open(tmp, "rb") as f:
        if f.read(2) != b"\x1f\x8b":
            return True
    unpacked = tmp.with_name(tmp.name + ".unpacked")
    try:
        with gzip.open(tmp, "rb") as source, open(unpacked, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
        unpacked.replace(tmp)
        return True
    except (EOFError, zlib.error, gzip.BadGzipFile):
        return False
    finally:
        unpacked.unlink(missing_ok=True)


def _checked_result(tmp, attempts):
    """None if ``tmp`` holds a FITS image with data, else the final :class:`DownloadResult` saying what it holds."""
    if not _unpack_gzip(tmp):
        return DownloadResult("not_fits", attempts, message="a damaged gzip-compressed answer")
    status = fits_image_status(tmp)
    if status == "ok":
        return None
    with open(tmp, "rb") as f:
        excerpt = _body_excerpt(f.read(2000))
    if excerpt.startswith("SIMPLE"):
        detail = "a FITS file with no image data" if status == "not_fits" else "an image with no data"
    else:
        if _FOOTPRINT_WORDS.search(excerpt):
            status = "outside_footprint"
        detail = f"the service answered {excerpt!r}, not a FITS image"
    return DownloadResult(status, attempts, message=detail)


def download_fits(url, path, *, timeout=60.0, retries=3, backoff=2.0, stop=None):
    """Download the FITS image at ``url`` to ``path``.

    Parameters
    ----------
    url : str
    path : str or Path
        Final file; written through a temporary file beside it and renamed
        only when it holds a FITS image with data. A gzip-compressed response
        is unpacked.
    timeout : float
        Seconds without an answer before an attempt fails.
    retries : int
        Further attempts after a timeout, a cut connection, HTTP 429 or 5xx.
    backoff : float
        Seconds before the first retry, doubled for each further one (or the
        server's ``Retry-After``, up to 60 s).
    stop : threading.Event, optional
        When set, the download stops at the next chunk or back-off and raises
        :class:`DownloadStopped`, leaving no file.

    Returns
    -------
    DownloadResult

    Raises
    ------
    radiounet.errors.OutputError
        If the file cannot be written (a problem of the machine, not of the row).
    """
    path = Path(path)
    attempts, message = 0, ""
    try:
        with atomic_path(path) as tmp:
            for attempt in range(retries + 1):
                attempts += 1
                try:
                    final = _fetch_once(url, tmp, timeout, stop)
                except _Retry as exc:
                    message = str(exc)
                    delay = exc.wait if exc.wait is not None else backoff * 2 ** attempt
                    if attempt < retries:
                        if stop is None:
                            time.sleep(delay)
                        elif stop.wait(delay):
                            raise DownloadStopped() from None
                    continue
                if final is None:
                    final = _checked_result(tmp, attempts)
                if final is not None:
                    final.attempts = attempts
                    raise _Finished(final)
                break
            else:
                raise _Finished(DownloadResult("failed", attempts, message=f"{message} (after {attempts} attempts)"))
    except _Finished as finished:
        return finished.result
    return DownloadResult("fetched", attempts, path.stat().st_size)
