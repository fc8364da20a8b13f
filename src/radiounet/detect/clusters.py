"""Cluster detection: for each cluster of a catalogue, is there diffuse emission?

For every usable row of the catalogue, the image that contains the cluster
centre (farthest from its edges when several do) is cut out around it
(``astropy.nddata.Cutout2D``, blank outside the image), segmented by the same
:class:`radiounet.inference.Predictor` as ``predict``, and the detection ratio
``R`` (mean probability within ``factor x R500``, see
:func:`radiounet.detect.aperture.aperture_ratio`) is compared with the
threshold.
"""

import sys
import warnings

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import QTable
from tqdm import tqdm

from radiounet.detect.aperture import aperture_ratio
from radiounet.detect.cluster_class import (CLUSTER_CLASSES, class_ratios, cluster_class_probabilities,
                                            cluster_features)
from radiounet.detect.journal import DetectionJournal, file_stamp
from radiounet.errors import MissingFileError, RadioUNetError
from radiounet.io.image import as_beam, as_paths, pixel_arcsec, read_cutout, read_radio_image, require_beams_across
from radiounet.models.store import resolve_model_path

__all__ = ["DETECTION_COLUMNS", "REFERENCE_RATIO_THRESHOLD", "detect_clusters", "from_class_model", "usable_images",
           "image_containing"]

#: Threshold on R of the reference work (its own model); used when a model stores none.
REFERENCE_RATIO_THRESHOLD = 0.015
DETECTION_COLUMNS = ("name", "ra", "dec", "z", "r500_kpc", "r500_arcsec", "R", "detected", "status", "coverage",
                     "image", "beam_kpc", "n_sources", "source_flux", "largest_source_kpc", "class", "R_halo",
                     "R_relic", "R_radio_galaxy", "P_none", "P_halo", "P_relic", "P_both", "R_halo_R500",
                     "R_relic_outskirts")


def from_class_model(detections):
    """Whether a detections table was made with a class model (some row has a finite ``R_halo``)."""
    return "R_halo" in detections.colnames and bool(np.isfinite(np.asarray(detections["R_halo"], dtype=float)).any())


def usable_images(paths, beam):
    """``(path, wcs, shape)`` of each image that can be segmented; the others are skipped with a warning.

    Raises
    ------
    RadioUNetError
        When none can: one line with the problem of the only image, or of the first of several
        (:class:`~radiounet.errors.MissingFileError` when none exists).
    """
    images, problems = [], []
    for path in paths:
        try:
            with read_radio_image(path, beam) as image:
                require_beams_across(image)
                images.append((str(path), image.wcs, image.shape))
        except RadioUNetError as exc:
            problems.append(exc.with_traceback(None))  # not the frames, which hold the image read
    if not images:
        if len(problems) == 1:
            raise problems[0]
        first = f"; the first: {problems[0]}" if problems else ""
        missing = bool(problems) and all(isinstance(problem, MissingFileError) for problem in problems)
        kind = MissingFileError if missing else RadioUNetError
        raise kind(f"none of the {len(problems)} images can be used{first}")
    for problem in problems:
        print(f"radio-unet: warning: skipping {problem}", file=sys.stderr)
    return images


def image_containing(images, position):
    """Path and WCS of the image that holds ``position`` farthest from its edges (None, None if none does)."""
    best, best_wcs, best_margin = None, None, -np.inf
    for path, wcs, (ny, nx) in images:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x, y = wcs.world_to_pixel(position)
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        margin = min(x + 0.5, nx - 0.5 - x, y + 0.5, ny - 0.5 - y)
        if margin > 0 and margin > best_margin:
            best, best_wcs, best_margin = path, wcs, margin
    return best, best_wcs


def detect_clusters(catalog, image_paths, predictor, *, factor=2.2, ratio_threshold=None, beam=None,
                    views=None, journal=None, progress=True):
    """One row per cluster of ``catalog`` (from :func:`radiounet.detect.catalog.read_cluster_catalog`).

    Parameters
    ----------
    catalog : astropy.table.QTable
    image_paths : path or sequence of paths
        Mosaics, images or per-cluster cutouts; each cluster uses the image
        that contains its centre.
    predictor : radiounet.inference.Predictor
    factor : float
        Aperture radius in units of R500 (2.2 in the reference work).
    ratio_threshold : float, optional
        ``detected = R > ratio_threshold``; default: the model's
        ``detection_ratio_threshold``, else :data:`REFERENCE_RATIO_THRESHOLD`.
    beam : radio_beam.Beam, angle or str, optional
        For images without a beam in their header (:func:`radiounet.io.image.as_beam`).
    views : callable, optional
        Called for each measured cluster as ``views(row, image, prediction,
        (x, y), radius, sources)``: its row (a dict), cutout, prediction,
        aperture centre and radius in pixels of the cutout, and the diffuse
        sources inside the aperture; :class:`radiounet.detect.views.ClusterViews`
        draws the pictures of the report.
    journal : str or Path, optional
        A :class:`radiounet.detect.journal.DetectionJournal` file: each measured
        cluster's row is appended to it at once, and clusters it already holds
        from a run with the same settings are not measured again (the resume
        of a stopped run).

    Returns
    -------
    astropy.table.QTable
        Columns :data:`DETECTION_COLUMNS`. ``status`` is the catalogue's, or
        ``outside_images``, ``partial_coverage`` (R from the covered part) or ``ok``.
        ``beam_kpc`` is the image's beam FWHM (geometric mean of its axes) at
        the cluster's redshift: a halo whose e-folding radius, or a relic whose
        width, is under half of it is hardly ever found.
        With a class model, ``R_halo``, ``R_relic`` and ``R_radio_galaxy`` are
        the mean class probabilities in the aperture (``R = R_halo + R_relic``);
        ``P_none``, ``P_halo``, ``P_relic``, ``P_both`` the probabilities of
        the four outcomes from the model's calibrated cluster classifier
        (:mod:`radiounet.detect.cluster_class`), from these and ``R_halo_R500``
        (halo within R500) and ``R_relic_outskirts`` (relic between R500 and
        the aperture's edge); ``class`` is "none" when not detected, else the
        most probable of halo, relic and both (for a model without the
        classifier, or where a ratio it needs is NaN, as when ``factor <= 1``
        leaves no outskirts: "both" when R_halo and R_relic each exceed the
        threshold, else the larger of the two). With a binary model these are
        NaN and ``class`` is "diffuse" or "none". ``class`` is empty for a cluster
        that could not be measured.
    """
    if not (hasattr(predictor, "predict") and hasattr(predictor, "card")):
        raise TypeError(f"predictor must be a radiounet.inference.Predictor (e.g. Predictor('multisurvey-v1')), "
                        f"not {type(predictor).__name__} {predictor!r}")
    image_paths, beam = as_paths(image_paths), as_beam(beam)
    if ratio_threshold is None:
        ratio_threshold = float(predictor.card.get("detection_ratio_threshold", REFERENCE_RATIO_THRESHOLD))
    images = usable_images(image_paths, beam)
    if journal is not None:
        journal = DetectionJournal(journal, dict(model=predictor.model_name,
                                                 model_stamp=file_stamp(resolve_model_path(predictor.model_name)),
                                                 factor=factor, ratio_threshold=ratio_threshold, beam=str(beam),
                                                 precision=predictor.precision))
        journal.start()
    rows = []
    for cluster in tqdm(catalog, unit="cluster", desc="detect", disable=not progress):
        row = dict(name=cluster["name"], ra=cluster["ra"].to_value(u.deg), dec=cluster["dec"].to_value(u.deg),
                   z=cluster["z"], r500_kpc=cluster["r500_kpc"].to_value(u.kpc),
                   r500_arcsec=cluster["r500_arcsec"].to_value(u.arcsec), R=np.nan, detected=False,
                   status=str(cluster["status"]), coverage=0.0, image="", beam_kpc=np.nan,
                   n_sources=0, source_flux=np.nan,
                   largest_source_kpc=np.nan, R_halo=np.nan, R_relic=np.nan, R_radio_galaxy=np.nan,
                   **{f"P_{name}": np.nan for name in CLUSTER_CLASSES}, **{"class": ""},
                   R_halo_R500=np.nan, R_relic_outskirts=np.nan)
        rows.append(row)
        if row["status"] != "ok":
            continue
        position = SkyCoord(row["ra"] * u.deg, row["dec"] * u.deg)
        path, wcs = image_containing(images, position)
        if path is None:
            row["status"] = "outside_images"
            continue
        done = journal.get(row, path) if journal is not None else None
        if done is not None:
            row.update(done)
            continue
        _measure(row, position, path, wcs, predictor, factor, ratio_threshold, beam, views)
        if journal is not None and not row["status"].startswith("error:"):  # an error is tried again next time
            journal.add(row)
    table = QTable(rows=rows, names=DETECTION_COLUMNS) if rows else QTable(names=DETECTION_COLUMNS)
    for name, unit in (("ra", u.deg), ("dec", u.deg), ("r500_kpc", u.kpc), ("r500_arcsec", u.arcsec),
                       ("beam_kpc", u.kpc), ("source_flux", u.Jy), ("largest_source_kpc", u.kpc)):
        table[name] = u.Quantity(table[name], unit, dtype=float)
    table.meta.update(factor=factor, ratio_threshold=ratio_threshold, model=predictor.model_name)
    return table


def _classify(row, prediction, x, y, radius, r500, ratio_threshold, classifier):
    """``class`` of a cluster (none / halo / relic / both, or diffuse for a binary model), R and P per class."""
    if prediction.class_probability is None:
        row["class"] = "diffuse" if row["detected"] else "none"
        return
    row.update(class_ratios(prediction.class_probability, prediction.class_names, x, y, radius, r500))
    if classifier is not None:
        features = cluster_features(row, classifier["features"])
        row.update({f"P_{name}": float(p)
                    for name, p in zip(CLUSTER_CLASSES, cluster_class_probabilities(classifier, features)[0])})
    if not row["detected"]:
        row["class"] = "none"
    elif classifier is not None and np.isfinite(row["P_none"]):
        row["class"] = max(("halo", "relic", "both"), key=lambda name: row[f"P_{name}"])
    elif min(row["R_halo"], row["R_relic"]) > ratio_threshold:
        row["class"] = "both"
    else:
        row["class"] = "halo" if row["R_halo"] >= row["R_relic"] else "relic"


def _measure(row, position, path, wcs, predictor, factor, ratio_threshold, beam, views):
    """Segment the cutout of ``path`` (world coordinates ``wcs``) around ``position`` and fill ``row``."""
    row["image"] = path
    try:
        radius = factor * row["r500_arcsec"] / pixel_arcsec(wcs)
        size = int(2 * np.ceil(radius) + predictor.tile)
        image = read_cutout(path, position, size, beam)
        prediction = predictor.predict(image)
    except RadioUNetError as exc:
        row["status"] = f"error: {exc}"[:200]
        return
    x, y = image.wcs.world_to_pixel(position)
    # The beam at the cluster (geometric mean of its axes, at the catalogue's own kpc per arcsec): a halo whose
    # r_e, or a relic whose width, is under half of it is hardly ever found (docs/benchmark.md).
    row["beam_kpc"] = image.beam_fwhm_pixels * image.pixel_arcsec * row["r500_kpc"] / row["r500_arcsec"]
    aperture = aperture_ratio(prediction.probability, float(x), float(y), radius)
    row.update(R=aperture.ratio, coverage=aperture.coverage, detected=bool(aperture.ratio > ratio_threshold),
               status="ok" if aperture.coverage >= 0.999 else "partial_coverage")
    _classify(row, prediction, float(x), float(y), radius, radius / factor, ratio_threshold,
              predictor.card.get("cluster_classes"))
    sources = prediction.sources(image, redshift=row["z"])
    inside = np.hypot(np.asarray(sources["x"]) - x, np.asarray(sources["y"]) - y) <= radius
    row.update(n_sources=int(inside.sum()), source_flux=float(sources["flux"][inside].sum().to_value(u.Jy)))
    if inside.any():
        row.update(largest_source_kpc=float(sources["las_kpc"][inside].max().to_value(u.kpc)))
    if views is not None:
        views(row, image, prediction, (float(x), float(y)), radius, sources[inside])
