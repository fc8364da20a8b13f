"""One survey cutout per cluster of a catalogue, fetched in parallel, with a status per row.

Each row's cutout is saved as ``DIR/<name>.fits`` (the name made file-safe).
A cutout already on disk is not fetched again, so a stopped run is resumed by
running it again. Rows the catalogue cannot place (no position, a duplicate
name, no R500 for the default size) keep the catalogue's status.
"""

from concurrent.futures import ThreadPoolExecutor, as_completed

import astropy.units as u
import numpy as np
from astropy.table import QTable
from tqdm import tqdm

from radiounet.errors import InvalidParameterError, require_positive_int
from radiounet.fetch.download import download_fits
from radiounet.io.atomic import ensure_writable_directory
from radiounet.io.names import safe_filename

__all__ = ["CUTOUT_STATUSES", "cutout_filename", "default_cutout_size", "fetch_cutouts"]

#: Statuses of a row of the table of :func:`fetch_cutouts`, besides the catalogue's own.
CUTOUT_STATUSES = ("fetched", "cached", "not_found", "outside_footprint", "not_fits", "http_error", "failed")
#: Beams of context kept around the aperture by the default size: the network's training tile is 48 beams wide.
CONTEXT_BEAMS = 24


def cutout_filename(name):
    """File name of a cluster's cutout: ``<name>.fits`` with unsafe characters replaced by ``_``."""
    return safe_filename(name) + ".fits"


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


def fetch_cutouts(catalog, service, out, *, size=None, factor=2.2, workers=4, timeout=60.0, retries=3, backoff=2.0,
                  overwrite=False, progress=True):
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
    factor : float
        Aperture radius in R500 for the default size.
    workers : int
        Downloads at a time.
    timeout, retries, backoff
        As in :func:`radiounet.fetch.download_fits`.
    overwrite : bool
        Fetch again cutouts already on disk.
    progress : bool
        Show a progress bar.

    Returns
    -------
    astropy.table.QTable
        One row per catalogue row: ``name``, ``ra``, ``dec`` (deg), ``size``
        (arcmin), ``status`` (:data:`CUTOUT_STATUSES` or the catalogue's),
        ``file`` (the cutout's path, empty if none), ``n_bytes``, ``attempts``,
        ``message`` and ``url``.
    """
    require_positive_int(workers, "workers")
    if isinstance(retries, bool) or int(retries) != retries or retries < 0:
        raise InvalidParameterError("retries", retries, "must be an integer >= 0")
    if not timeout > 0:
        raise InvalidParameterError("timeout", timeout, "must be positive")
    if size is not None and not (np.isfinite(u.Quantity(size).value) and u.Quantity(size).value > 0):
        raise InvalidParameterError("size", size, "must be a positive angle")
    out = ensure_writable_directory(out)
    rows = [_plan_row(cluster, service, out, size, factor) for cluster in catalog]
    jobs = [row for row in rows if row["url"]]
    bar = tqdm(total=len(jobs), unit="cutout", desc="cutouts", disable=not progress)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(download_fits, row["url"], out / row["file"], timeout=timeout, retries=retries,
                               backoff=backoff, overwrite=overwrite): row for row in jobs}
        try:
            for future in as_completed(futures):
                row, result = futures[future], future.result()
                row.update(status=result.status, n_bytes=result.n_bytes, attempts=result.attempts,
                           message=result.message)
                bar.update()
        except BaseException:  # Ctrl-C: drop the queued downloads; those in flight finish or clean up
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            bar.close()
    for row in rows:
        row["file"] = str(out / row["file"]) if row["status"] in ("fetched", "cached") else ""
    table = QTable(rows=rows, names=("name", "ra", "dec", "size", "status", "file", "n_bytes", "attempts",
                                     "message", "url")) if rows else QTable(names=("name", "status", "file"))
    if rows:
        for column, unit in (("ra", u.deg), ("dec", u.deg), ("size", u.arcmin)):
            table[column] = u.Quantity(table[column], unit, dtype=float)
    table.meta.update(survey=service.name, url_template=service.url_template)
    return table


def _plan_row(cluster, service, out, size, factor):
    """The row of a cluster before downloading: its URL, or the catalogue's reason to skip it."""
    status = str(cluster["status"])
    ra, dec = cluster["ra"].to_value(u.deg), cluster["dec"].to_value(u.deg)
    row = dict(name=str(cluster["name"]), ra=ra, dec=dec, size=np.nan, status=status, file="", n_bytes=0,
               attempts=0, message="", url="")
    placeable = status not in ("no_position", "duplicate_name")
    if size is None:
        r500 = cluster["r500_arcsec"]
        placeable = placeable and bool(np.isfinite(r500.value) and r500.value > 0)
        if placeable:
            size = default_cutout_size(r500, service.beam, factor)
    if placeable:
        row.update(size=round(u.Quantity(size).to_value(u.arcmin), 3), url=service.url(row["name"], ra, dec, size),
                   file=cutout_filename(row["name"]), status="pending")
    else:
        row["message"] = "not fetched: the catalogue row has " + status.replace("_", " ")
    return row
