"""A synthetic detection run for the tests of report.html: a detections table and the files of ClusterViews.

Each measured cluster gets a 96-pixel cutout of Gaussian noise with, by class,
a round halo and/or an elongated relic, and a probability map and class planes
of a 5-class model that follow them, so that the pictures and the source
tables are drawn by the real code without a network.
"""

import types

import astropy.units as u
import numpy as np
from astropy.table import QTable
from astropy.wcs import WCS

from radiounet.classes import CLASS_NAMES
from radiounet.detect.clusters import DETECTION_COLUMNS
from radiounet.detect.sources import diffuse_sources
from radiounet.detect.views import ClusterViews
from radiounet.inference.predictor import Prediction

THRESHOLD = 0.006666769468985273
SIZE = 96
RMS_JY = 1e-4
PIXEL_ARCSEC = 6.0
APERTURE = 40.0
#: name, R, class, status, z: every class and status of a run, a name to escape, R = 0 and an unmeasured R.
CLUSTERS = (
    ("Abell 2255", 0.21, "halo", "ok", 0.081),
    ("PSZ2 G107.10+65.32", 0.048, "relic", "ok", 0.28),
    ('<b>A&B</b> "quoted"', 0.012, "both", "partial_coverage", 0.19),
    ("RXC J1234.5+6789", 0.0071, "halo", "ok", 0.35),
    ("Zw 1234", 0.0052, "none", "ok", 0.44),
    ("MACS J0717.5+3745", 0.0009, "none", "ok", 0.55),
    ("CL 0016+16", 0.0, "none", "ok", 0.54),
    ("Far away", np.nan, "none", "outside_images", 0.2),
    ("No redshift", np.nan, "none", "no_redshift", np.nan),
    ("Broken file", np.nan, "none", "error: cannot read the cutout", 0.3),
)


def synthetic_detections(clusters=CLUSTERS, class_model=True):
    """A detections table as ``detect_clusters`` returns it, for ``clusters`` (see :data:`CLUSTERS`)."""
    rows = []
    for k, (name, ratio, kind, status, z) in enumerate(clusters):
        measured = np.isfinite(ratio)
        rows.append(dict(
            name=name, ra=150.0 + k, dec=2.0 - k, z=z, r500_kpc=900.0 + 37.4 * k, r500_arcsec=200.0 + 3.3 * k,
            R=ratio, detected=bool(measured and ratio > THRESHOLD), status=status,
            coverage=(0.87 if status == "partial_coverage" else 1.0) if measured else 0.0,
            image="/data/mosaic.fits" if measured else "", beam_kpc=96.5 + k if measured else np.nan,
            n_sources=int(kind != "none"),
            source_flux=0.0123 if kind != "none" else 0.0, largest_source_kpc=812.6 if kind != "none" else np.nan,
            **{"class": "" if not measured else kind if class_model or kind == "none" else "diffuse"},
            **_class_columns(ratio, kind, class_model)))
    table = QTable(rows=rows, names=DETECTION_COLUMNS)
    for name, unit in (("ra", u.deg), ("dec", u.deg), ("r500_kpc", u.kpc), ("r500_arcsec", u.arcsec),
                       ("beam_kpc", u.kpc), ("source_flux", u.Jy), ("largest_source_kpc", u.kpc)):
        table[name] = u.Quantity(table[name], unit, dtype=float)
    table.meta.update(factor=2.2, ratio_threshold=THRESHOLD, model="multisurvey-v1")
    return table


def _class_columns(ratio, kind, class_model):
    if not class_model:
        return {c: np.nan for c in DETECTION_COLUMNS if c.startswith(("R_", "P_"))}
    halo = {"halo": 0.8, "relic": 0.2, "both": 0.5}.get(kind, 0.3)
    probabilities = {"none": 0.1, "halo": 0.1, "relic": 0.1, "both": 0.1, kind: 0.7}
    return dict(R_halo=halo * ratio, R_relic=(1 - halo) * ratio, R_radio_galaxy=0.3 * ratio,
                R_halo_R500=halo * ratio * 2, R_relic_outskirts=(1 - halo) * ratio / 2,
                **{f"P_{c}": p for c, p in probabilities.items()})


def _maps(kind, rng):
    """Image (Jy/beam) and class planes of a cutout holding the emission of ``kind``."""
    y, x = np.mgrid[:SIZE, :SIZE] - SIZE / 2
    zero = np.zeros((SIZE, SIZE))
    halo = np.exp(-np.hypot(x, y) / 9.0) if kind in ("halo", "both") else zero
    relic = np.exp(-((np.hypot(x - 30, y) - 22) / 3.0) ** 2 - (y / 25.0) ** 2) if kind in ("relic", "both") else zero
    galaxy = np.exp(-np.hypot(x + 30, y + 30) ** 2 / 8.0)
    image = RMS_JY * (rng.standard_normal((SIZE, SIZE)) + 8 * halo + 10 * relic + 40 * galaxy)
    logits = np.stack([zero + 1.0, 6 * halo, 6 * relic, 6 * galaxy, zero])
    planes = np.exp(logits) / np.exp(logits).sum(0)
    return image.astype(np.float32), planes.astype(np.float32)


def _wcs():
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [SIZE / 2 + 1, SIZE / 2 + 1]
    wcs.wcs.cdelt = [-PIXEL_ARCSEC / 3600, PIXEL_ARCSEC / 3600]
    return wcs


def write_synthetic_views(detections, folder, seed=0):
    """Write the files of :class:`ClusterViews` for every measured cluster of ``detections``."""
    rng = np.random.default_rng(seed)
    views = ClusterViews(folder)
    class_model = bool(np.isfinite(detections["R_halo"]).any())
    for row in detections:
        if not np.isfinite(row["R"]):
            continue
        image_jy, planes = _maps(str(row["class"]), rng)
        probability = planes[1] + planes[2]
        prediction = Prediction(probability=probability, mask=probability >= 0.5, spread=None,
                                rms=np.full((2, 2), RMS_JY, dtype=np.float32), rms_box=SIZE, threshold=0.5,
                                resampled=False, class_probability=planes if class_model else None,
                                class_names=CLASS_NAMES if class_model else ())
        sources = diffuse_sources(probability, 0.5, image_jy, RMS_JY, _wcs(), 3.0, PIXEL_ARCSEC, redshift=row["z"],
                                  class_probability=prediction.class_probability,
                                  class_names=prediction.class_names)
        image = types.SimpleNamespace(data=image_jy, jy_per_unit=1.0)
        inside = np.hypot(np.asarray(sources["x"]) - SIZE / 2, np.asarray(sources["y"]) - SIZE / 2) <= APERTURE
        views({"name": row["name"]}, image, prediction, (SIZE / 2, SIZE / 2), APERTURE, sources[inside])


def write_synthetic_report(out):
    """The pictures and ``report.html`` of the synthetic run in ``out``; returns its detections."""
    from radiounet.detect.report import write_report

    detections = synthetic_detections()
    write_synthetic_views(detections, out / "thumbnails")
    write_report(out / "report.html", detections, out / "thumbnails")
    return detections
