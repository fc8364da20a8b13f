"""``report.html`` of a detection run: one self-contained page to look through the clusters.

At the top a summary: counts per class and per status, and the distribution of
R with the threshold marked. Then a gallery with one card per cluster, which
sorts by R, name or redshift and filters by class, status, smallest R and name;
a click on a card opens the cluster's full view (image, probability map, class
map and its diffuse sources). A table holds the numbers. The page is rendered
from the Jinja2 templates of ``radiounet/detect/templates``; its style and
script are inline and its pictures (from
:class:`radiounet.detect.views.ClusterViews`) embedded as JPEG data URIs, so
that the file opens offline, alone, and can be mailed.
"""

import base64
import io
from collections import Counter
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined
from PIL import Image

from radiounet import __version__
from radiounet.detect.clusters import from_class_model
from radiounet.detect.views import CLASS_COLOURS, full_view_filename, sources_filename, thumbnail_filename
from radiounet.io.atomic import atomic_path
from radiounet.io.tables import plain_value, read_table

__all__ = ["r_histogram", "significant", "write_report"]

#: Order of the cluster classes in the summary and the filter.
_CLASS_ORDER = ("halo", "relic", "both", "diffuse", "none", "unmeasured")
#: JPEG quality of the embedded pictures: about 85 kB per cluster in base64, card and full view together.
_JPEG_QUALITY = 75
_PAGE_DIGITS = 3


def significant(value, digits=_PAGE_DIGITS):
    """``value`` rounded to ``digits`` significant digits, without an exponent; "–" for NaN or None.

    Examples
    --------
    >>> significant(0.006666769468985273)
    '0.00667'
    >>> significant(float("nan"))
    '–'
    """
    if value is None or not np.isfinite(value):
        return "–"
    return np.format_float_positional(value, precision=digits, unique=False, fractional=False, trim="-")


def _fixed(value, decimals, unit=""):
    """``value`` with ``decimals`` decimals and its unit; "–" for NaN."""
    return "–" if not np.isfinite(value) else f"{value:.{decimals}f}{unit}"


def _data_uri(path):
    """The PNG at ``path`` as a JPEG data URI (None when there is no such file)."""
    if not path.is_file():
        return None
    buffer = io.BytesIO()
    with Image.open(path) as picture:
        picture.convert("RGB").save(buffer, format="JPEG", quality=_JPEG_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _status_key(status):
    """The status without the message of an error ("error: ..." -> "error")."""
    return status.split(":")[0]


def _summary(clusters):
    """Counts of clusters per class and per status, in the order shown."""
    classes = Counter(c["kind"] for c in clusters)
    statuses = Counter(c["status_key"] for c in clusters)
    return dict(n=len(clusters), n_detected=sum(c["detected"] for c in clusters),
                n_measured=sum(c["R"] is not None for c in clusters),
                classes=[(name, classes[name]) for name in _CLASS_ORDER if classes[name]],
                statuses=statuses.most_common())


def r_histogram(ratios, classes, threshold, *, bins_per_decade=4, decades_below=2):
    """Counts of the measured R per class in logarithmic bins, one of whose edges is the threshold.

    Parameters
    ----------
    ratios : array_like
        R of the measured clusters (finite).
    classes : sequence of str
        Their classes.
    threshold : float
        Threshold on R; for ``threshold <= 0`` the bins are anchored on 0.001.
    bins_per_decade : int
    decades_below : float
        Bins start at most this many decades below the threshold; smaller R,
        0 included, are counted in the first bin.

    Returns
    -------
    edges : numpy.ndarray
    counts : dict
        Class -> counts per bin, for the classes present, in the order of the summary.
    """
    ratios = np.asarray(ratios, dtype=float)
    anchor = threshold if threshold > 0 else 1e-3
    positive = ratios[ratios > 0]
    low = max(positive.min() if positive.size else anchor, anchor * 10.0**-decades_below)
    high = max(ratios.max(initial=anchor), anchor)
    first = min(int(np.floor(bins_per_decade * np.log10(low / anchor))), -1)
    last = max(int(np.ceil(bins_per_decade * np.log10(high / anchor))), 1)
    edges = anchor * 10.0 ** (np.arange(first, last + 1) / bins_per_decade)
    index = np.clip(np.searchsorted(edges, ratios, side="left") - 1, 0, len(edges) - 2)
    classes = np.asarray(classes)
    counts = {name: np.bincount(index[classes == name], minlength=len(edges) - 1)
              for name in _CLASS_ORDER if np.any(classes == name)}
    return edges, counts


def _histogram_figure(ratios, classes, threshold, width=560, height=180, margin=(12, 14, 34, 34)):
    """Bars, axes ticks and threshold line of the R histogram, in SVG coordinates (None without data).

    ``margin`` is (top, right, bottom, left) in pixels.
    """
    if not len(ratios):
        return None
    edges, counts = r_histogram(ratios, classes, threshold)
    top, right, bottom, left = margin
    logs = np.log10(edges)

    def x(value):
        return left + (np.log10(value) - logs[0]) / (logs[-1] - logs[0]) * (width - left - right)

    peak = max(int(np.sum(list(counts.values()), axis=0).max()), 1)
    scale = (height - top - bottom) / peak
    bars, base = [], np.zeros(len(edges) - 1)
    for name, count in counts.items():
        for k in np.flatnonzero(count):
            bars.append(dict(x=x(edges[k]) + 0.5, width=x(edges[k + 1]) - x(edges[k]) - 1,
                             y=height - bottom - (base[k] + count[k]) * scale, height=count[k] * scale,
                             colour=CLASS_COLOURS[name],
                             title=f"{count[k]} {name}, R {significant(edges[k])}–{significant(edges[k + 1])}"))
        base += count
    decades = np.arange(np.ceil(logs[0]), np.floor(logs[-1]) + 1)
    return dict(width=width, height=height, bars=bars, axis_y=height - bottom, left=left, right=width - right,
                top=top, peak=peak, x_ticks=[(x(10.0**d), significant(10.0**d)) for d in decades],
                threshold_x=x(threshold) if threshold > 0 else None)


def _read_sources(folder, name):
    """The diffuse sources of a cluster in its aperture, as rows of text (an empty list when none were written)."""
    if folder is None or not (folder / sources_filename(name)).is_file():
        return []
    return [dict(id=int(s["id"]), kind=str(s["class"]),
                 flux=f"{significant(1e3 * s['flux'])} ± {significant(1e3 * s['flux_err'], 2)} mJy",
                 las=f"{_fixed(s['las'], 0, '″')} / {_fixed(s['las_kpc'], 0, ' kpc')}",
                 area=f"{significant(s['area'])} arcmin²", peak=_fixed(s["peak_probability"], 2))
            for s in read_table(folder / sources_filename(name))]


def _percent(value):
    """A share in percent, rounded down so that only a full share reads 100; "–" for NaN."""
    return "–" if not np.isfinite(value) else f"{np.floor(100 * value + 1e-6):.0f}"


def _mjy(value):
    """A flux in Jy as mJy; "–" for none (0, or NaN: not measured)."""
    return significant(1e3 * value) if value and np.isfinite(value) else "–"


def _yes_no(value):
    return "yes" if value else "no"


def _words(status):
    return str(status).replace("_", " ")


class _Column(NamedTuple):
    """A column of the table: header, tooltip, column of the detections, format, alignment (text or number)."""

    header: str
    tooltip: str
    column: str
    format: object
    align: str = "number"


_TABLE_COLUMNS = tuple(_Column(*spec) for spec in (
    ("name", "cluster name", "name", str, "text"),
    ("z", "redshift", "z", partial(_fixed, decimals=3)),
    ("R500 (kpc)", "R500", "r500_kpc", partial(_fixed, decimals=0)),
    ("R", "detection ratio: mean probability of diffuse emission in the aperture", "R", significant),
    ("detected", "R above the threshold", "detected", _yes_no, "text"),
    ("class", "cluster class", "class", str, "text"),
    ("status", "whether and how the cluster was measured", "status", _words, "text"),
    ("cov. (%)", "share of the aperture inside the image", "coverage", _percent),
    ("beam (kpc)", "the image's beam FWHM at the cluster: a halo whose e-folding radius, or a relic whose width, is "
     "under half of it is hardly ever found", "beam_kpc", partial(_fixed, decimals=0)),
    ("sources", "diffuse sources in the aperture", "n_sources", str),
    ("flux (mJy)", "total flux density of these sources", "source_flux", _mjy),
    ("LAS (kpc)", "largest linear size of these sources", "largest_source_kpc", partial(_fixed, decimals=0)),
))
#: Further columns of a class model.
_CLASS_COLUMNS = tuple(_Column(*spec) for spec in (
    ("R halo", "mean P(halo) in the aperture", "R_halo", significant),
    ("R relic", "mean P(relic) in the aperture", "R_relic", significant),
    ("R RG", "mean P(radio galaxy) in the aperture", "R_radio_galaxy", significant),
    ("P halo", "probability of a halo (alone), from the cluster classifier", "P_halo", partial(_fixed, decimals=2)),
    ("P relic", "probability of relics (alone)", "P_relic", partial(_fixed, decimals=2)),
    ("P both", "probability of a halo and relics", "P_both", partial(_fixed, decimals=2)),
))


def _table_columns(class_model):
    return _TABLE_COLUMNS + (_CLASS_COLUMNS if class_model else ())


def _table_cells(row, columns):
    """(sort value, text, alignment) of a cluster in each column of the table."""
    return [(_sort_value(row[c.column]), c.format(plain_value(row[c.column])), c.align) for c in columns]


def _facts(row, class_model):
    """(label, text) pairs of a cluster's full view: position and size, then R and its parts if measured."""
    r500_kpc, r500_arcsec = plain_value(row["r500_kpc"]), plain_value(row["r500_arcsec"])
    facts = [("RA, Dec", f"{plain_value(row['ra']):.4f}°, {plain_value(row['dec']):+.4f}°"),
             ("z", _fixed(row["z"], 3)),
             ("R500", f"{_fixed(r500_kpc, 0, ' kpc')} = {_fixed(r500_arcsec / 60, 2, '′')}"),
             ("status", _words(row["status"]))]
    if not np.isfinite(row["R"]):
        return facts
    # An empty image name reads back from ECSV as masked.
    facts += [("R", significant(row["R"])), ("coverage", f"{_percent(row['coverage'])}%"),
              ("image", str(np.ma.filled(row["image"], "")) or "–")]
    if class_model:
        facts.append(("R halo, relic, radio galaxy",
                      ", ".join(significant(row[c]) for c in ("R_halo", "R_relic", "R_radio_galaxy"))))
        facts.append(("P none, halo, relic, both",
                      ", ".join(_fixed(row[f"P_{c}"], 2) for c in ("none", "halo", "relic", "both"))))
    return facts


def _sort_value(value):
    """What a table cell or a card sorts by: a number as text, "" for NaN (sorted last), else the text."""
    value = plain_value(value)
    if isinstance(value, (int, float)):
        return repr(float(value)) if np.isfinite(value) else ""
    return str(value)


def _pictures(folder, name):
    """Data URIs of a cluster's card and full view (None where missing)."""
    if folder is None:
        return None, None
    return _data_uri(folder / thumbnail_filename(name)), _data_uri(folder / full_view_filename(name))


def _cluster(index, row, folder, columns, class_model):
    """What the page shows of one cluster."""
    measured = bool(np.isfinite(row["R"]))
    name, status = str(row["name"]), str(row["status"])
    card, full = _pictures(folder, name) if measured else (None, None)
    return {"index": index, "name": name, "R": float(row["R"]) if measured else None, "r": _sort_value(row["R"]),
            "R_text": significant(row["R"]), "z": _sort_value(row["z"]), "z_text": _fixed(row["z"], 3),
            "r500_text": _fixed(plain_value(row["r500_kpc"]), 0, " kpc"),
            "kind": str(row["class"]) if measured else "unmeasured",
            "detected": bool(row["detected"]), "status": status, "status_key": _status_key(status),
            "status_text": _words(status), "card": card, "full": full,
            "sources": _read_sources(folder, name) if measured else [], "facts": _facts(row, class_model),
            "cells": _table_cells(row, columns)}


def _environment():
    return Environment(loader=PackageLoader("radiounet.detect", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def write_report(path, detections, views=None):
    """Write ``report.html`` for a detections table.

    Parameters
    ----------
    path : path
    detections : astropy.table.QTable
        From :func:`radiounet.detect.clusters.detect_clusters` (or read from
        its ``detections.ecsv``), with ``factor``, ``ratio_threshold`` and
        ``model`` in its meta.
    views : path, optional
        Folder of :class:`radiounet.detect.views.ClusterViews`; the pictures
        and sources found there are embedded, clusters without them get none.
    """
    folder = Path(views) if views is not None else None
    class_model = from_class_model(detections)
    columns = _table_columns(class_model)
    clusters = [_cluster(k, row, folder, columns, class_model) for k, row in enumerate(detections)]
    meta = detections.meta
    threshold = float(meta.get("ratio_threshold", np.nan))
    measured = [c for c in clusters if c["R"] is not None]
    page = _environment().get_template("report.html.j2").render(
        clusters=clusters, summary=_summary(clusters), colours=CLASS_COLOURS,
        histogram=_histogram_figure([c["R"] for c in measured], [c["kind"] for c in measured], threshold),
        header=[(c.header, c.tooltip, c.align) for c in columns],
        threshold=significant(threshold),
        model=str(meta.get("model", "–")), factor=significant(meta.get("factor", np.nan)), version=__version__,
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
