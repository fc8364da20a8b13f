"""The catalogue of diffuse sources: connected regions of the mask and what the image holds inside them."""

import astropy.units as u
import numpy as np
from astropy.table import QTable
from scipy.ndimage import find_objects, label
from scipy.spatial import ConvexHull, QhullError

from radiounet.models.outputs import called_diffuse

__all__ = ["diffuse_sources", "SOURCE_COLUMNS"]

SOURCE_COLUMNS = ("id", "ra", "dec", "x", "y", "area", "n_pixels", "flux", "flux_err", "peak_probability",
                  "mean_probability", "las", "las_kpc", "semimajor", "semiminor", "orientation", "class",
                  "halo_fraction")


def _largest_size_pixels(rows, cols):
    """Largest distance between two pixels of a region (pixel centres, plus one pixel)."""
    points = np.column_stack([cols, rows]).astype(float)
    if len(points) > 2:
        try:
            points = points[ConvexHull(points).vertices]
        except QhullError:  # all pixels on one line
            pass
    differences = points[:, None, :] - points[None, :, :]
    return float(np.sqrt((differences**2).sum(-1)).max()) + 1.0


def diffuse_sources(probability, threshold, image_jy, rms_jy, wcs, beam_area_pixels, pixel_arcsec, *,
                    redshift=None, cosmology=None, min_pixels=None, class_probability=None,
                    class_names=()):
    """One row per connected region of ``probability >= threshold``.

    Parameters
    ----------
    probability : numpy.ndarray
        Probability map (NaN where blank).
    threshold : float
    image_jy : numpy.ndarray
        The image in Jy/beam on the same grid.
    rms_jy : float, numpy.ndarray or callable
        Noise in Jy/beam: one value, a map, or ``rms_jy(rows, cols)`` giving it at pixels.
    wcs : astropy.wcs.WCS
    beam_area_pixels : float
        Beam solid angle in pixels.
    pixel_arcsec : float
    redshift : float, optional
        Adds the largest linear size in kpc.
    cosmology : astropy.cosmology.Cosmology, optional
        For the linear size (default: flat LambdaCDM, H0 = 70 km/s/Mpc, Om0 = 0.3).
    min_pixels : int, optional
        Smallest region kept (default: one beam area).
    class_probability : numpy.ndarray, optional
        ``(classes, ny, nx)`` probabilities of a class model, named by ``class_names``.

    Returns
    -------
    astropy.table.QTable
        Columns: ``id``; ``ra``, ``dec`` (deg) and ``x``, ``y`` (0-based pixels) of
        the probability-weighted centroid; ``area`` (arcmin2); ``n_pixels``;
        ``flux`` (Jy: sum of Jy/beam over the region / beam area) and
        ``flux_err`` (Jy: rms x sqrt(pixels / beam area), the noise of the sum of
        beam-correlated pixels; the flux-scale error, ~10% for LoTSS, is not
        included); ``peak_probability``, ``mean_probability``; ``las``
        (arcsec: largest angular size) and ``las_kpc`` (NaN without a redshift);
        ``semimajor``, ``semiminor`` (arcsec: twice the second-moment sigmas) and
        ``orientation`` (deg, counter-clockwise from the pixel x axis): an ellipse
        that outlines the region, used for the DS9 regions; ``class``: "halo" or
        "relic", whichever holds more probability in the region, with
        ``halo_fraction`` = sum of P(halo) / sum of P(halo) + P(relic) there (a
        binary model: "diffuse" and NaN).
    """
    min_pixels = max(int(np.ceil(beam_area_pixels)), 1) if min_pixels is None else min_pixels
    with np.errstate(invalid="ignore"):
        above = called_diffuse(probability, threshold)  # blanks (NaN) are never part of a region
    labels, _ = label(above, structure=np.ones((3, 3), dtype=bool))
    del above
    if callable(rms_jy):
        rms = rms_jy
    else:
        rms_map = np.broadcast_to(np.asarray(rms_jy, dtype=float), probability.shape)

        def rms(rows, cols):
            return rms_map[rows, cols]

    scale = np.nan
    if redshift is not None:
        from radiounet.sky.cosmology import DEFAULT_COSMOLOGY, kpc_per_arcsec  # astropy.cosmology: a slow import

        scale = kpc_per_arcsec(redshift, cosmology or DEFAULT_COSMOLOGY).to_value(u.kpc / u.arcsec)
    rows = []
    for index, region_slice in enumerate(find_objects(labels), start=1):
        if region_slice is None:
            continue
        inside = labels[region_slice] == index
        n = int(inside.sum())
        if n < min_pixels:
            continue
        r, c = np.nonzero(inside)
        weights = np.asarray(probability[region_slice], dtype=np.float64)[inside]
        r = r + region_slice[0].start
        c = c + region_slice[1].start
        x, y = np.average(c, weights=weights), np.average(r, weights=weights)
        semimajor, semiminor, orientation = _moments(c - x, r - y, weights)
        flux = float(np.nansum(np.asarray(image_jy[region_slice], dtype=np.float64)[inside])) / beam_area_pixels
        flux_err = float(np.nanmedian(rms(r, c))) * np.sqrt(n / beam_area_pixels)
        sky = wcs.pixel_to_world(x, y).icrs  # the image may be in another frame (Galactic, FK5)
        las = _largest_size_pixels(r, c) * pixel_arcsec
        kind, halo_fraction = _region_class(class_probability, class_names, r, c)
        rows.append(dict(id=len(rows) + 1, ra=sky.ra.deg, dec=sky.dec.deg, x=float(x), y=float(y),
                         area=n * pixel_arcsec**2 / 3600.0, n_pixels=n, flux=flux, flux_err=flux_err,
                         peak_probability=float(weights.max()), mean_probability=float(weights.mean()),
                         las=las, las_kpc=las * scale, semimajor=2 * semimajor * pixel_arcsec,
                         semiminor=2 * semiminor * pixel_arcsec, orientation=orientation, **{"class": kind},
                         halo_fraction=halo_fraction))
    # An empty table keeps the column types, so that the tables of a survey's images stack.
    empty_types = {"id": np.int64, "n_pixels": np.int64, "class": "U8"}
    table = QTable(rows=rows, names=SOURCE_COLUMNS) if rows else QTable(
        {name: np.zeros(0, dtype=empty_types.get(name, np.float64)) for name in SOURCE_COLUMNS})
    return _with_units(table)


def _region_class(class_probability, class_names, rows, cols):
    if class_probability is None:
        return "diffuse", float("nan")
    halo = float(np.nansum(class_probability[class_names.index("halo")][rows, cols]))
    relic = float(np.nansum(class_probability[class_names.index("relic")][rows, cols]))
    fraction = halo / (halo + relic) if halo + relic > 0 else float("nan")
    return ("halo" if halo >= relic else "relic"), fraction


def _moments(dx, dy, weights):
    """Sigmas along the major and minor axes and the major axis angle (deg from +x) of weighted pixels."""
    cov = np.cov(np.vstack([dx, dy]), aweights=weights, bias=True) if len(dx) > 1 else np.zeros((2, 2))
    values, vectors = np.linalg.eigh(cov + np.eye(2) / 12.0)  # + the variance of a uniform pixel
    major = vectors[:, 1]
    return float(np.sqrt(values[1])), float(np.sqrt(values[0])), float(np.degrees(np.arctan2(major[1], major[0])))


def _with_units(table):
    for name, unit in (("ra", u.deg), ("dec", u.deg), ("area", u.arcmin**2), ("flux", u.Jy), ("flux_err", u.Jy),
                       ("las", u.arcsec), ("las_kpc", u.kpc), ("semimajor", u.arcsec), ("semiminor", u.arcsec),
                       ("orientation", u.deg)):
        table[name] = u.Quantity(table[name], unit, dtype=float)
    for name, description in (("x", "0-based pixel column of the centroid"), ("y", "0-based pixel row"),
                              ("flux", "sum of Jy/beam over the region / beam area"),
                              ("flux_err", "image noise only: rms * sqrt(n_pixels / beam area)"),
                              ("las", "largest angular size")):
        table[name].info.description = description
    return table
