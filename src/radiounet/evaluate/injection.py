"""Injection test: how faint a radio halo can be and still be detected, in real images.

Mock halos (the circular exponential profile ``I(r) = I0 exp(-r / r_e)`` of
Murgia et al. 2009, convolved with the image's beam) of increasing flux density are
added to a real image at a set of sites (the positions of catalogue clusters,
or random positions with a given redshift and R500); each injected cutout goes
through the same prediction and detection ratio as ``radio-unet detect``. The
fraction of sites where the halo is detected, against its flux density and
against its central brightness relative to the local noise, is the
completeness curve from which upper limits are read.

Injection is done in the image plane, not in the visibilities: the halo is
not deconvolved with the image, so faint extended emission is slightly easier
to see than after a real imaging run (documented in the README).

Each site is written to ``OUT/sites/SITE.ecsv`` as soon as it is done, so an
interrupted run resumes where it stopped.
"""

import warnings
from dataclasses import dataclass

import astropy.units as u
import numpy as np
import scipy.signal
from astropy.coordinates import SkyCoord
from astropy.table import QTable, vstack
from tqdm import tqdm

from radiounet.data.normalize import blank_fill, estimate_rms, fill_value, not_fill
from radiounet.detect.aperture import aperture_ratio
from radiounet.errors import InvalidParameterError, RadioUNetError
from radiounet.io.atomic import atomic_path
from radiounet.io.image import pixel_arcsec, read_cutout, read_radio_image, require_beams_across
from radiounet.io.names import safe_filename
from radiounet.io.tables import write_table
from radiounet.sky.cosmology import DEFAULT_COSMOLOGY, kpc_per_arcsec

__all__ = ["INJECTION_COLUMNS", "InjectionSite", "halo_image", "random_sites", "catalog_sites", "inject_site",
           "run_injections", "completeness", "flux_at_completeness", "plot_completeness"]

INJECTION_COLUMNS = ("site", "image", "ra", "dec", "z", "r500_kpc", "r500_arcsec", "re_kpc", "re_arcsec",
                     "flux", "i0", "rms", "i0_snr", "R", "R_baseline", "detected", "detected_baseline", "coverage")
_HALO_EXTENT_IN_RE = 6.0


@dataclass(frozen=True)
class InjectionSite:
    """Where a mock halo goes: a position in one image and the cluster's redshift and R500."""

    name: str
    image: str
    position: SkyCoord
    z: float
    r500_kpc: float
    r500_arcsec: float


def halo_image(shape, x, y, flux_jy, re_pix, beam, pixel_size_arcsec):
    """A circular exponential halo of total flux ``flux_jy``, convolved with ``beam``, in Jy/beam.

    Parameters
    ----------
    shape : tuple of int
    x, y : float
        Centre in pixels (0-based).
    flux_jy : float
        Integrated flux density (Jy) of the profile out to 6 ``r_e``.
    re_pix : float
        e-folding radius in pixels.
    beam : radio_beam.Beam
    pixel_size_arcsec : float

    Returns
    -------
    numpy.ndarray
        float32 image in Jy/beam.
    """
    rows, cols = np.indices(shape, dtype=np.float64)
    r = np.hypot(cols - x, rows - y)
    profile = np.where(r <= _HALO_EXTENT_IN_RE * re_pix, np.exp(-r / re_pix), 0.0)
    # I0 from the analytic flux of the truncated profile, so that a halo cut by the edge keeps its I0.
    sky = profile * _central_brightness(flux_jy, re_pix, beam_area_pixels=1.0)  # Jy/pixel
    kernel = beam.as_kernel(pixel_size_arcsec * u.arcsec).array
    beam_area_pixels = float(beam.sr.to_value(u.arcsec**2)) / pixel_size_arcsec**2
    smoothed = scipy.signal.fftconvolve(sky, kernel / kernel.sum(), mode="same")
    return (smoothed * beam_area_pixels).astype(np.float32)


def _central_brightness(flux_jy, re_pix, beam_area_pixels):
    """I0 of the exponential profile truncated at 6 r_e, in Jy/beam (Jy/pixel with ``beam_area_pixels=1``)."""
    truncated = 1.0 - (1.0 + _HALO_EXTENT_IN_RE) * np.exp(-_HALO_EXTENT_IN_RE)
    return flux_jy / (2 * np.pi * re_pix**2 * truncated) * beam_area_pixels


def random_sites(image_paths, n_per_image, z, r500_kpc, *, margin_arcsec=0.0, seed=0, beam=None,
                 cosmology=DEFAULT_COSMOLOGY):
    """``n_per_image`` random positions in each image, at least ``margin_arcsec`` from its edges, on valid pixels.

    Every site has the same redshift and R500 (kpc). Raises RadioUNetError
    when an image cannot be segmented (see :func:`radiounet.io.image.read_radio_image`
    and :func:`radiounet.io.image.require_beams_across`), is too small for the
    margin or has no valid pixel there.
    """
    rng = np.random.default_rng(seed)
    r500_arcsec = float(r500_kpc / kpc_per_arcsec(z, cosmology).to_value(u.kpc / u.arcsec))
    sites = []
    for path in image_paths:
        with read_radio_image(path, beam) as image:
            require_beams_across(image)
            if not np.isfinite(image.data).any():
                raise RadioUNetError(f"{path}: every pixel is blank (NaN or infinite)")
            values = not_fill(image.data, fill_value(image.data))
            if not values.size or values.min() == values.max():
                raise RadioUNetError(f"{path}: the pixels are constant where not blank: no noise to inject into")
            ny, nx = image.shape
            margin = int(np.ceil(margin_arcsec / image.pixel_arcsec))
            if 2 * margin >= min(ny, nx):
                raise RadioUNetError(f"{path}: the image ({nx}x{ny} pixels) is too small for halos of this size "
                                     f"({margin} pixels from every edge); use a smaller --re or a larger image")
            found = 0
            for _ in range(100 * n_per_image):
                if found == n_per_image:
                    break
                x, y = rng.integers(margin, nx - margin), rng.integers(margin, ny - margin)
                if not np.isfinite(image.data[y, x]):
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    position = image.wcs.pixel_to_world(x, y)
                sites.append(InjectionSite(f"{_stem(path)}_{found:03d}", str(path), position, float(z),
                                           float(r500_kpc), r500_arcsec))
                found += 1
            if found < n_per_image:
                raise RadioUNetError(f"{path}: found only {found} of {n_per_image} positions on valid pixels")
    return sites


def catalog_sites(catalog, image_paths, beam=None):
    """One site per usable row of a cluster catalogue (``status == "ok"``) whose centre lies in one of the images."""
    from radiounet.detect.clusters import image_containing, usable_images

    images = usable_images(image_paths, beam)
    sites = []
    for row in catalog:
        if row["status"] != "ok":
            continue
        position = SkyCoord(row["ra"], row["dec"])
        path, _ = image_containing(images, position)
        if path is not None:
            sites.append(InjectionSite(safe_filename(str(row["name"])), path, position, float(row["z"]),
                                       float(row["r500_kpc"].to_value(u.kpc)),
                                       float(row["r500_arcsec"].to_value(u.arcsec))))
    return sites


def _stem(path):
    from radiounet.inference.batch import image_stem

    return safe_filename(image_stem(path))


def inject_site(site, predictor, fluxes, re_kpc, *, factor=2.2, ratio_threshold, beam=None,
                cosmology=DEFAULT_COSMOLOGY):
    """Inject a halo of each flux density (Jy) at ``site`` and measure R; one row per flux.

    The cutout around the site is predicted once without a halo (``R_baseline``)
    and once per flux.
    """
    re_arcsec = float(re_kpc / kpc_per_arcsec(site.z, cosmology).to_value(u.kpc / u.arcsec))
    with read_radio_image(site.image, beam) as image:
        scale = pixel_arcsec(image.wcs)
    radius = factor * site.r500_arcsec / scale
    re_pix = re_arcsec / scale
    size = int(2 * np.ceil(max(radius, _HALO_EXTENT_IN_RE * re_pix)) + predictor.tile)
    cutout = read_cutout(site.image, site.position, size, beam)
    cutout = _with_data(cutout, blank_fill(cutout.data))  # a halo added to a fill would make it data
    x, y = (float(v) for v in cutout.wcs.world_to_pixel(site.position))
    rms = estimate_rms(cutout.data * cutout.jy_per_unit)

    def ratio(data):
        probability = predictor.predict(_with_data(cutout, data)).probability
        return aperture_ratio(probability, x, y, radius)

    baseline = ratio(cutout.data)
    rows = []
    for flux in fluxes:
        halo = halo_image(cutout.shape, x, y, flux, re_pix, cutout.beam, scale) / cutout.jy_per_unit
        measured = ratio(cutout.data + halo)
        i0 = _central_brightness(flux, re_pix, cutout.beam_area_pixels)
        rows.append(dict(site=site.name, image=site.image, ra=site.position.icrs.ra.deg,
                         dec=site.position.icrs.dec.deg, z=site.z, r500_kpc=site.r500_kpc, r500_arcsec=site.r500_arcsec,
                         re_kpc=float(re_kpc), re_arcsec=re_arcsec, flux=flux * 1e3, i0=i0 * 1e6, rms=rms * 1e6,
                         i0_snr=i0 / rms, R=measured.ratio, R_baseline=baseline.ratio,
                         detected=bool(measured.ratio > ratio_threshold),
                         detected_baseline=bool(baseline.ratio > ratio_threshold), coverage=measured.coverage))
    return _table(rows)


def _with_data(image, data):
    from dataclasses import replace

    return replace(image, data=np.asarray(data, dtype=np.float32))


def _table(rows):
    table = QTable(rows=rows, names=INJECTION_COLUMNS) if rows else QTable(names=INJECTION_COLUMNS)
    units = dict(ra=u.deg, dec=u.deg, r500_kpc=u.kpc, r500_arcsec=u.arcsec, re_kpc=u.kpc, re_arcsec=u.arcsec,
                 flux=u.mJy, i0=u.uJy / u.beam, rms=u.uJy / u.beam)
    for name, unit in units.items():
        table[name] = u.Quantity(table[name], unit, dtype=float)
    return table


def run_injections(sites, predictor, fluxes, re_kpc, out_dir, *, factor=2.2, ratio_threshold=None, beam=None,
                   cosmology=DEFAULT_COSMOLOGY, progress=True):
    """Inject at every site, writing ``out_dir/sites/SITE.ecsv`` per site (sites already written are reused).

    Parameters
    ----------
    sites : sequence of InjectionSite
    predictor : radiounet.inference.Predictor
    fluxes : sequence of float
        Flux densities in Jy, at the image's frequency.
    re_kpc : float
        e-folding radius of the halos.
    ratio_threshold : float, optional
        Default: the model's calibrated threshold, as in ``detect``.

    Returns
    -------
    astropy.table.QTable
        All rows, columns :data:`INJECTION_COLUMNS`, with the threshold and
        injection settings in ``meta``.
    """
    from radiounet.detect.clusters import REFERENCE_RATIO_THRESHOLD

    fluxes = [float(f) for f in fluxes]
    if not fluxes or min(fluxes) <= 0:
        raise InvalidParameterError("fluxes", fluxes, "must be positive flux densities")
    if ratio_threshold is None:
        ratio_threshold = float(predictor.card.get("detection_ratio_threshold", REFERENCE_RATIO_THRESHOLD))
    names = [site.name for site in sites]
    if len(set(names)) != len(names):
        raise RadioUNetError("injection sites must have distinct names")
    parts = out_dir / "sites"
    parts.mkdir(parents=True, exist_ok=True)
    tables = []
    for site in tqdm(sites, unit="site", desc="inject", disable=not progress):
        path = parts / f"{site.name}.ecsv"
        # A site's table is reused only if made the same way: a run resumed, not one with other settings.
        settings = dict(fluxes_jy=fluxes, re_kpc=float(re_kpc), factor=float(factor),
                        ratio_threshold=float(ratio_threshold), model=str(predictor.model_name),
                        beam=None if beam is None else str(beam), image=str(site.image),
                        ra_deg=float(site.position.ra.deg), dec_deg=float(site.position.dec.deg), z=float(site.z),
                        r500_kpc=float(site.r500_kpc))
        if path.exists():
            table = QTable.read(path, format="ascii.ecsv")
            if table.meta.get("settings") == settings:
                tables.append(table)
                continue
        table = inject_site(site, predictor, fluxes, re_kpc, factor=factor, ratio_threshold=ratio_threshold,
                            beam=beam, cosmology=cosmology)
        table.meta.update(ratio_threshold=ratio_threshold, settings=settings)
        write_table(table, path)
        tables.append(table)
    table = vstack(tables, metadata_conflicts="silent") if tables else _table([])
    table.meta.update(ratio_threshold=ratio_threshold, factor=factor, re_kpc=float(re_kpc),
                      model=predictor.model_name)
    return table


def _wilson(k, n, z=1.0):
    """Wilson score interval of a binomial fraction (z = 1: the 68% interval)."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return float(centre - half), float(centre + half)


def completeness(injections, by="flux", bins=None):
    """Fraction of injected halos detected, per flux level or per bin of ``i0_snr``.

    Sites already detected without a halo (``detected_baseline``) are left
    out: they say nothing about the halo.

    Parameters
    ----------
    injections : astropy.table.QTable
        From :func:`run_injections`.
    by : {"flux", "i0_snr"}
    bins : array-like, optional
        Bin edges of ``i0_snr`` (default: 10 logarithmic bins over its range);
        ``by="flux"`` groups by the injected flux levels.

    Returns
    -------
    astropy.table.QTable
        ``flux`` (mJy) or ``i0_snr_low``/``i0_snr_high``/``i0_snr``, then ``n``,
        ``n_detected``, ``completeness`` and its 68% Wilson interval
        ``completeness_low``, ``completeness_high``.
    """
    usable = injections[~np.asarray(injections["detected_baseline"], bool)]
    detected = np.asarray(usable["detected"], bool)
    rows = []
    if by == "flux":
        flux = usable["flux"].to_value(u.mJy)
        for level in np.unique(flux):
            pick = np.isclose(flux, level)
            rows.append(dict(flux=level, **_fraction(detected[pick])))
        table = QTable(rows=rows) if rows else _empty_curve(("flux",))
        table["flux"] = u.Quantity(table["flux"], u.mJy)
        return table
    if by != "i0_snr":
        raise InvalidParameterError("by", by, "must be 'flux' or 'i0_snr'")
    snr = np.asarray(usable["i0_snr"], dtype=float)
    if bins is None:
        positive = snr[snr > 0]
        bins = np.geomspace(positive.min(), positive.max() * 1.0001, 11) if len(positive) else np.array([])
    for low, high in zip(bins[:-1], bins[1:]):
        pick = (snr >= low) & (snr < high)
        if pick.any():
            rows.append(dict(i0_snr_low=low, i0_snr_high=high, i0_snr=float(np.sqrt(low * high)),
                             **_fraction(detected[pick])))
    return QTable(rows=rows) if rows else _empty_curve(("i0_snr_low", "i0_snr_high", "i0_snr"))


def _empty_curve(abscissae):
    """A completeness table without rows (every site detected without a halo), with all its columns."""
    counts = ("n", "n_detected")
    names = abscissae + counts + ("completeness", "completeness_low", "completeness_high")
    return QTable(names=names, dtype=[int if name in counts else float for name in names])


def _fraction(detected):
    n, k = len(detected), int(detected.sum())
    low, high = _wilson(k, n)
    return dict(n=n, n_detected=k, completeness=k / n if n else float("nan"), completeness_low=low,
                completeness_high=high)


def flux_at_completeness(curve, level):
    """Flux density (mJy) where the completeness per flux first reaches ``level`` (log-linear interpolation).

    NaN when the curve never reaches it; the lowest flux when the first point already does.
    """
    flux = curve["flux"].to_value(u.mJy)
    fraction = np.asarray(curve["completeness"], dtype=float)
    above = np.nonzero(fraction >= level)[0]
    if not len(above):
        return float("nan")
    i = above[0]
    if i == 0:
        return float(flux[0])
    f0, f1 = fraction[i - 1], fraction[i]
    t = (level - f0) / (f1 - f0)
    return float(np.exp(np.log(flux[i - 1]) + t * (np.log(flux[i]) - np.log(flux[i - 1]))))


def plot_completeness(by_flux, by_snr, path, title=None):
    """Two panels: completeness against flux density and against I0 / rms, with 68% intervals."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, table, x, label in ((axes[0], by_flux, "flux", "injected flux density (mJy)"),
                                (axes[1], by_snr, "i0_snr", "central brightness $I_0$ / rms")):
        if len(table):
            values = u.Quantity(table[x]).value
            fraction = np.asarray(table["completeness"], dtype=float)
            err = [fraction - np.asarray(table["completeness_low"]), np.asarray(table["completeness_high"]) - fraction]
            ax.errorbar(values, fraction, yerr=err, marker="o", capsize=3)
        ax.set_xscale("log")
        ax.set_ylim(-0.03, 1.03)
        ax.axhline(0.5, color="0.7", lw=0.8, ls="--")
        ax.axhline(0.9, color="0.7", lw=0.8, ls=":")
        ax.set_xlabel(label)
        ax.set_ylabel("fraction detected")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
