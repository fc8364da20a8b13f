"""One survey cutout per cluster of a catalogue, fetched in parallel, with a status per row.

Each row's cutout is saved as ``DIR/<name>.fits`` (the name made file-safe),
and what was asked for it and what the service answered as
``DIR/.requests/<name>.json``. A row whose request is the same as the last
one is not asked again: a cutout on disk is ``cached``; a ``not_found`` or
``outside_footprint`` answer is kept. So a stopped run resumes where it was,
and a change of size or service fetches again. Rows the catalogue cannot place
(no position, a duplicate name, no R500 for the default size) keep the
catalogue's status.
"""

import hashlib
import json
import sys
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.table import QTable
from tqdm import tqdm

from radiounet.errors import InvalidParameterError, RadioUNetError, require_positive_int
from radiounet.fetch.download import download_fits, fits_image_status
from radiounet.io.atomic import atomic_path, ensure_writable_directory
from radiounet.io.names import safe_filename

__all__ = ["CUTOUT_STATUSES", "default_cutout_size", "fetch_cutouts"]

#: Statuses of a row of the table of :func:`fetch_cutouts`, besides the catalogue's own.
CUTOUT_STATUSES = ("fetched", "cached", "not_found", "outside_footprint", "not_fits", "http_error", "failed")
#: Beams of context kept around the aperture by the default size: the network's training tile is 48 beams wide.
CONTEXT_BEAMS = 24
#: Answers that a second identical request would not change.
_FINAL_ANSWERS = ("not_found", "outside_footprint")
#: Rows in a row that could not reach the service before the run stops: the template or the network is wrong.
_UNREACHABLE_ROWS = 8


def default_cutout_size(r500, beam, factor=2.2):
    """Side of a cutout that holds the ``factor x R500`` aperture and some context around it.

    ``2 * (factor * R500 + 24 beams)``: the aperture, plus half the network's
    training tile on each side, which also leaves room to measure the noise.

    Parameters
    ----------
    r500 : `~astropy.units.Quantity`
        Angular R500.
    beam : `~astropy.units.Quantity`
        Beam FWHM of the survey.
    factor : float
        Aperture radius in R500.

    Returns
    -------
    `~astropy.units.Quantity`
        In arcmin.

    Examples
    --------
    >>> import astropy.units as u
    >>> default_cutout_size(5 * u.arcmin, 20 * u.arcsec)
    <Quantity 38. arcmin>
    """
    return (2 * (factor * u.Quantity(r500) + CONTEXT_BEAMS * u.Quantity(beam))).to(u.arcmin)


def fetch_cutouts(catalog, service, out, *, size=None, max_size=2 * u.deg, factor=2.2, workers=4, timeout=60.0,
                  retries=3, backoff=2.0, overwrite=False, progress=True):
    """Fetch one cutout per row of ``catalog`` from ``service`` into ``out``.

    Parameters
    ----------
    catalog : astropy.table.QTable
        From :func:`radiounet.detect.catalog.read_cluster_catalog`.
    service : radiounet.fetch.CutoutService
    out : str or Path
        Folder of the cutouts (created).
    size : `~astropy.units.Quantity`, optional
        Side of every cutout; default: :func:`default_cutout_size` of each cluster.
    max_size : `~astropy.units.Quantity`
        Largest side asked for (nearby clusters have large apertures); a
        capped row says so in its ``message``.
    factor : float
        Aperture radius in R500 for the default size.
    workers : int
        Downloads at a time.
    timeout, retries, backoff
        As in :func:`radiounet.fetch.download_fits`.
    overwrite : bool
        Ask again for every row, whatever was answered before.
    progress : bool
        Show a progress bar.

    Returns
    -------
    astropy.table.QTable
        One row per catalogue row: ``name``, ``ra``, ``dec`` (deg), ``size``
        (arcmin), ``status`` (:data:`CUTOUT_STATUSES` or the catalogue's),
        ``file`` (the cutout's absolute path, empty if none), ``n_bytes``,
        ``attempts``, ``message`` and ``url``.

    Raises
    ------
    radiounet.errors.RadioUNetError
        When the first rows all fail to reach the service (a wrong host or
        port in the URL template, or no network): the run stops early.
    """
    require_positive_int(workers, "workers")
    if isinstance(retries, bool) or int(retries) != retries or retries < 0:
        raise InvalidParameterError("retries", retries, "must be an integer >= 0")
    for name, value in (("timeout", timeout), ("factor", factor)):
        if not value > 0:
            raise InvalidParameterError(name, value, "must be positive")
    for name, value in (("size", size), ("max_size", max_size)):
        if value is not None and not (np.isfinite(u.Quantity(value).value) and u.Quantity(value).value > 0):
            raise InvalidParameterError(name, value, "must be a positive angle")
    out = ensure_writable_directory(out).resolve()
    rows = _separate_files([_plan_row(cluster, service, out, size, u.Quantity(max_size, u.arcmin), factor)
                            for cluster in catalog], out)
    jobs = [row for row in rows if row["url"] and (overwrite or not _answered_before(row, out))]
    if jobs:
        (out / ".requests").mkdir(exist_ok=True)
    _download_all(jobs, out, workers, dict(timeout=timeout, retries=retries, backoff=backoff), progress)
    for row in rows:
        if row["status"] not in ("fetched", "cached"):
            row["file"] = ""
    names = ("name", "ra", "dec", "size", "status", "file", "n_bytes", "attempts", "message", "url")
    rows = [{key: row[key] for key in names} for row in rows]
    table = QTable(rows=rows, names=names) if rows else QTable(names=names)
    for column, unit in (("ra", u.deg), ("dec", u.deg), ("size", u.arcmin)):
        table[column] = u.Quantity(table[column], unit, dtype=float)
    table.meta.update(survey=service.name, url_template=service.url_template)
    return table


def _download_all(jobs, out, workers, options, progress):
    """Download the rows of ``jobs`` in threads, updating each row; Ctrl-C stops them all within a chunk."""
    stop = threading.Event()
    bar = tqdm(total=len(jobs), unit="cutout", desc="cutouts", disable=not progress)
    unreachable, reached = 0, False
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = {pool.submit(download_fits, row["url"], row["file"], stop=stop, **options): row
                   for row in jobs}
        for future in as_completed(futures):
            row, result = futures[future], future.result()
            _record(row, result, out)
            bar.update()
            if result.status == "failed" and result.message.startswith(("cannot connect", "not a URL")):
                unreachable += 1
            else:
                reached = True
            if not reached and unreachable >= min(_UNREACHABLE_ROWS, len(jobs)):
                host = urllib.parse.urlsplit(row["url"]).netloc
                raise RadioUNetError(f"cannot reach the cutout service at {host}: {result.message}; check the URL "
                                     "template and the network (nothing was fetched)")
    except BaseException as exc:
        stop.set()
        if isinstance(exc, KeyboardInterrupt):
            print("\nradio-unet: stopping the downloads in flight (their partial files are removed)", file=sys.stderr)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        bar.close()
    pool.shutdown()


def _request_path(out, row):
    return out / ".requests" / (row["stem"] + ".json")


def _separate_files(rows, out):
    """Give clusters whose names differ only in characters a file name cannot hold ("A B", "A_B"), or in case
    (one file on macOS and Windows), files of their own: their stem takes a hash of the name."""
    names_of_stem = {}
    for row in rows:
        names_of_stem.setdefault(row["stem"].lower(), set()).add(row["name"])
    for row in rows:
        if len(names_of_stem[row["stem"].lower()]) > 1:
            row["stem"] += "_" + hashlib.sha1(row["name"].encode()).hexdigest()[:8]
            if row["file"]:
                row["file"] = str(out / f"{row['stem']}.fits")
    return rows


def _answered_before(row, out):
    """Whether the same request was answered for good before; if so, ``row`` takes that answer."""
    try:
        record = json.loads(_request_path(out, row).read_text())
    except (OSError, ValueError):
        return False
    if record.get("url") != row["url"]:
        return False
    cutout = Path(row["file"])
    if record.get("status") == "fetched" and cutout.is_file() and fits_image_status(cutout) == "ok":
        row.update(status="cached", n_bytes=cutout.stat().st_size)
        return True
    if record.get("status") in _FINAL_ANSWERS:
        row.update(status=record["status"], message=record.get("message", "") + " (answered before; --refetch "
                                                                                  "asks again)")
        return True
    return False


def _record(row, result, out):
    """Update ``row`` with ``result`` and keep the request and its answer beside the cutouts."""
    row.update(status=result.status, n_bytes=result.n_bytes, attempts=result.attempts,
               message="; ".join(m for m in (row["message"], result.message) if m))
    with atomic_path(_request_path(out, row)) as tmp:
        tmp.write_text(json.dumps({"url": row["url"], "status": result.status, "message": result.message}))


def _plan_row(cluster, service, out, size, max_size, factor):
    """The row of a cluster before downloading: its URL, or the catalogue's reason to skip it."""
    status = str(cluster["status"])
    ra, dec = cluster["ra"].to_value(u.deg), cluster["dec"].to_value(u.deg)
    row = dict(name=str(cluster["name"]), ra=ra, dec=dec, size=np.nan, status=status, file="", n_bytes=0,
               attempts=0, message="", url="", stem=safe_filename(cluster["name"]))
    placeable = status not in ("no_position", "duplicate_name")
    if size is None:
        r500 = cluster["r500_arcsec"]
        placeable = placeable and bool(np.isfinite(r500.value) and r500.value > 0)
        if placeable:
            size = default_cutout_size(r500, service.beam, factor)
    if not placeable:
        row["message"] = "not fetched: the catalogue row has status " + status
        return row
    size = u.Quantity(size, u.arcmin)
    if size > max_size:
        row["message"] = f"size capped at {max_size.to_value(u.arcmin):g} arcmin from {size.to_value(u.arcmin):.1f}"
        size = max_size
    row.update(size=round(size.to_value(u.arcmin), 3), url=service.url(row["name"], ra, dec, size),
               file=str(out / f"{row['stem']}.fits"), status="pending")
    return row
