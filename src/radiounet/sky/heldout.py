"""A second sky generator, for evaluation only: the same physics drawn another way.

The training simulator (:mod:`radiounet.sky.field`) has one family of shapes
per component and one noise. A network trained on it can learn those shapes
instead of the physics; this module draws skies it never saw, written apart
from it, so that ``radio-unet benchmark`` can tell the two apart. Nothing used
in training imports it (a test holds that).

What differs from the training simulator:

halos (``HALO_SUBTYPES``)
    ``double-exponential`` (a core and wings of 2.5-4 times its scale),
    ``beta`` (``(1 + (r/r_c)^2)^(0.5 - 3 beta)``: power-law wings),
    ``merger`` (elongated, axis ratio 0.3-0.6, off-centre, brighter on one
    side) and ``mini-halo`` (20-80 kpc, around a bright central compact
    source); substructure as clumps of smoothed white noise, of any strength
    from none to strong.
relics (``RELIC_SUBTYPES``)
    ``straight`` (a straight ridge), ``patchy`` (an arc broken into knots and
    gaps), ``double`` (a pair on opposite sides, of different shapes) and
    ``thin`` (0.7-1.5 beam wide); 0.5-2 Mpc long and 40-200 kpc wide (at most a
    quarter of the length), symmetric Gaussian cross-section, up to 40
    deg from tangential, 0.3-3 Mpc from the centre, peak up to 100 times the rms.
radio galaxies (``RADIO_GALAXY_SUBTYPES``)
    ``relaxed-lobes`` (two lobes with flat-topped profiles, no hot spots, a
    dim or absent core), ``narrow-angle-tail`` (one curved tail behind a
    bright head) and ``group`` (2-4 small doubles within 300 kpc).
noise
    white noise convolved with an elongated kernel of its own (not the beam,
    1-1.5 beams, axis ratio 1.2-2.2), plane-wave stripes of 0.1-0.5 times the rms,
    and sidelobe rings and spokes (0.1-0.5% of the peak) around the brightest compact sources.

The mask and labels follow the reference rule of :mod:`radiounet.sky.labels`
on the beam-convolved components, as for the training simulator, so that the
figures of both generators mean the same.
"""

from dataclasses import dataclass

import astropy.units as u
import numpy as np
import scipy.fft
import scipy.ndimage

from radiounet.errors import InvalidParameterError
from radiounet.sky.cluster import Cluster, Component, log_uniform
from radiounet.sky.field import SimulatedField, _make_wcs
from radiounet.sky.labels import CLASS_LAYERS, class_labels, diffuse_mask, labelled_snr
from radiounet.sky.observe import convolve_with_beam
from radiounet.sky.render import add_gaussian, add_point_sources
from radiounet.sky.survey import Survey

__all__ = ["HALO_SUBTYPES", "RELIC_SUBTYPES", "RADIO_GALAXY_SUBTYPES", "HeldOutConfig", "simulate_heldout_field",
           "render_heldout_sky"]

HALO_SUBTYPES = ("double-exponential", "beta", "merger", "mini-halo")
RELIC_SUBTYPES = ("straight", "patchy", "double", "thin")
RADIO_GALAXY_SUBTYPES = ("relaxed-lobes", "narrow-angle-tail", "group")
_FIELD_TYPES = ("diffuse", "radio_galaxies")
_SIGMA_PER_FWHM = 1.0 / np.sqrt(8.0 * np.log(2.0))


@dataclass(frozen=True)
class HeldOutConfig:
    """What the held-out generator draws.

    Parameters
    ----------
    survey : Survey
    shape : tuple of int
        ``(ny, nx)`` in pixels.
    redshift : tuple
        Cluster redshifts, drawn uniformly (default: 0.02-0.9, the PSZ2 range).
    m500_1e14_msun : tuple
        Cluster masses, log-uniform.
    halo_snr, relic_snr, radio_galaxy_snr : tuple
        Peak brightness of each component in the noise-free image (convolved
        with the beam), in units of the rms, log-uniform; so a component
        smaller than the beam is as visible as its number says.
    halo_subtypes, relic_subtypes, radio_galaxy_subtypes : tuple of str
        Morphologies drawn (uniformly) from.
    diffuse_mix : tuple of float
        Relative weights of a halo only, relics only, and both, in diffuse fields.
    radio_galaxies_mean : float
        Mean number of radio galaxies in a diffuse field (Poisson); a
        radio-galaxy field has one more.
    mask_threshold : float
        Threshold of the mask and labels in units of the rms.
    """

    survey: Survey
    shape: tuple = (512, 512)
    redshift: tuple = (0.02, 0.9)
    m500_1e14_msun: tuple = (2.0, 12.0)
    halo_snr: tuple = (0.7, 15.0)
    relic_snr: tuple = (2.0, 100.0)
    radio_galaxy_snr: tuple = (3.0, 100.0)
    halo_subtypes: tuple = HALO_SUBTYPES
    relic_subtypes: tuple = RELIC_SUBTYPES
    radio_galaxy_subtypes: tuple = RADIO_GALAXY_SUBTYPES
    diffuse_mix: tuple = (4.0, 3.0, 2.0)
    radio_galaxies_mean: float = 0.8
    mask_threshold: float = 0.5

    def __post_init__(self):
        if len(self.shape) != 2 or min(self.shape) < 32:
            raise InvalidParameterError("shape", self.shape, "must be (ny, nx), each side at least 32 pixels")
        for name in ("redshift", "m500_1e14_msun", "halo_snr", "relic_snr", "radio_galaxy_snr"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise InvalidParameterError(name, (low, high), "must be a range 0 < low <= high")
        for name, known in (("halo_subtypes", HALO_SUBTYPES), ("relic_subtypes", RELIC_SUBTYPES),
                            ("radio_galaxy_subtypes", RADIO_GALAXY_SUBTYPES)):
            chosen = getattr(self, name)
            if not chosen or set(chosen) - set(known):
                raise InvalidParameterError(name, chosen, f"must be a non-empty subset of {', '.join(known)}")
        if len(self.diffuse_mix) != 3 or min(self.diffuse_mix) < 0 or sum(self.diffuse_mix) <= 0:
            raise InvalidParameterError("diffuse_mix", self.diffuse_mix,
                                        "must be three non-negative weights (halo, relics, both), not all zero")
        if self.radio_galaxies_mean < 0:
            raise InvalidParameterError("radio_galaxies_mean", self.radio_galaxies_mean, "must not be negative")
        if not self.mask_threshold > 0:
            raise InvalidParameterError("mask_threshold", self.mask_threshold, "must be positive (units of rms)")


def simulate_heldout_field(config, rng, field_type="diffuse"):
    """One held-out field: a halo and/or relics (``"diffuse"``, radio galaxies possible) or radio galaxies only.

    Returns
    -------
    SimulatedField
        As :func:`radiounet.sky.simulate_field` returns it; ``config`` is the
        :class:`HeldOutConfig`.
    """
    survey, shape = config.survey, tuple(config.shape)
    wcs = _make_wcs(rng, survey, shape)
    cluster, layers, components, n_compact = render_heldout_sky(config, rng, field_type)
    convolved = convolve_with_beam(layers, survey)
    image = convolved.sum(axis=0) + _anisotropic_noise(rng, survey, shape) + _stripes(rng, survey, shape)
    image += _sidelobes(rng, survey, convolved[CLASS_LAYERS.index("compact")])
    threshold = config.mask_threshold * survey.rms_jy
    labels = class_labels(convolved, threshold)
    return SimulatedField(image=image.astype(np.float32), mask=diffuse_mask(convolved, threshold), labels=labels,
                          wcs=wcs, cluster=cluster, field_type=field_type, components=components, n_compact=n_compact,
                          config=config,
                          diffuse_snr=labelled_snr(convolved, labels, survey.rms_jy, survey.beam_area_pixels))


def render_heldout_sky(config, rng, field_type="diffuse"):
    """The sky model of a held-out field, before the beam and the noise.

    Returns
    -------
    cluster : Cluster
    layers : numpy.ndarray
        ``(4, ny, nx)`` Jy/pixel, one layer per class of :data:`radiounet.sky.labels.CLASS_LAYERS`.
    components : list of Component
    n_compact : int
    """
    if field_type not in _FIELD_TYPES:
        raise InvalidParameterError("field_type", field_type, f"must be one of {', '.join(_FIELD_TYPES)}")
    shape = tuple(config.shape)
    cluster = _draw_cluster(rng, config)
    layers = np.zeros((len(CLASS_LAYERS),) + shape, dtype=np.float32)
    halo, relic, galaxy, compact = (layers[CLASS_LAYERS.index(k)] for k in CLASS_LAYERS)
    components = []
    if field_type == "diffuse":
        with_halo, with_relic = _diffuse_kinds(rng, config.diffuse_mix)
        if with_halo:
            components.append(_add_halo(rng, cluster, config, halo, compact))
        if with_relic:
            components.extend(_add_relics(rng, cluster, config, relic))
        n_galaxies = rng.poisson(config.radio_galaxies_mean)
    else:
        n_galaxies = 1 + rng.poisson(config.radio_galaxies_mean)
    for i in range(n_galaxies):
        on_cluster = i == 0 and rng.uniform() < 0.4
        components.append(_add_radio_galaxy(rng, cluster, config, galaxy, compact, on_cluster))
    n_compact = _add_compact_sources(rng, config, compact)
    return cluster, layers, components, n_compact


def _draw_cluster(rng, config):
    ny, nx = config.shape
    offset = rng.uniform(-0.1, 0.1, size=2)
    return Cluster(z=float(rng.uniform(*config.redshift)),
                   m500=log_uniform(rng, *config.m500_1e14_msun) * 1e14 * u.Msun,
                   x=(nx - 1) / 2 + offset[0] * nx, y=(ny - 1) / 2 + offset[1] * ny,
                   pixel_arcsec=config.survey.pixel_arcsec)


def _diffuse_kinds(rng, mix):
    """Halo only, relics only or both, with the weights ``mix``."""
    kind = rng.choice(3, p=np.asarray(mix, float) / sum(mix))
    return kind != 1, kind != 0


def _scaled_to_peak(part, snr, survey):
    """``part`` (a sky model in Jy/pixel, arbitrary scale) scaled so that, observed with the beam, it peaks at
    ``snr`` times the rms; so a component's brightness is what the noise-free image shows, whatever its size."""
    peak = float(convolve_with_beam(part, survey).max())
    return (part * (snr * survey.rms_jy / peak)).astype(np.float32) if peak > 0 else part.astype(np.float32)


def _window(shape, x, y, half):
    ny, nx = shape
    return (slice(max(int(y - half), 0), min(int(y + half) + 1, ny)),
            slice(max(int(x - half), 0), min(int(x + half) + 1, nx)))


def _clumps(rng, shape, scale_pix, strength):
    """Mean-one positive modulation: white noise smoothed by a Gaussian of ``scale_pix``, exponentiated."""
    if strength == 0 or min(shape) == 0:
        return np.ones(shape, dtype=np.float32)
    field = scipy.ndimage.gaussian_filter(rng.standard_normal(shape), scale_pix, mode="wrap")
    field -= field.mean()
    if field.std() < 1e-6:  # a window smaller than the clumps: smoothing left nothing to modulate with
        return np.ones(shape, dtype=np.float32)
    field /= field.std()
    return np.exp(strength * field - 0.5 * strength**2).astype(np.float32)


def _add_halo(rng, cluster, config, layer, compact):
    survey = config.survey
    subtype = str(rng.choice(config.halo_subtypes))
    kpc = cluster.kpc_per_pixel
    r500_pix = cluster.r500.to_value(u.kpc) / kpc
    axis_ratio, offset_r500 = rng.uniform(0.65, 1.0), 0.05
    if subtype == "mini-halo":
        scale_kpc = rng.uniform(20.0, 80.0)
    elif subtype == "beta":
        scale_kpc = rng.uniform(80.0, 350.0)
    else:
        scale_kpc = log_uniform(rng, 60.0, 300.0)
    if subtype == "merger":
        axis_ratio, offset_r500 = rng.uniform(0.3, 0.6), 0.2
    scale = scale_kpc / kpc
    x, y = (cluster.x, cluster.y) + rng.uniform(-offset_r500, offset_r500, size=2) * r500_pix
    angle = rng.uniform(0, np.pi)
    extent = (10.0 if subtype == "beta" else 8.0) * scale
    window = _window(layer.shape, x, y, extent)
    rows = np.arange(layer.shape[0])[window[0], None] - y
    cols = np.arange(layer.shape[1])[None, window[1]] - x
    along = cols * np.cos(angle) + rows * np.sin(angle)
    across = -cols * np.sin(angle) + rows * np.cos(angle)
    r = np.hypot(along, across / axis_ratio)
    params = dict(scale_kpc=scale_kpc, axis_ratio=axis_ratio)
    if subtype == "double-exponential":
        wing_ratio, wing_share = rng.uniform(2.5, 4.0), rng.uniform(0.1, 0.3)
        profile = (1 - wing_share) * np.exp(-r / scale) + wing_share * np.exp(-r / (wing_ratio * scale))
        params.update(wing_ratio=wing_ratio, wing_share=wing_share)
    elif subtype == "beta":
        beta = rng.uniform(0.5, 0.75)
        profile = (1 + (r / scale) ** 2) ** (0.5 - 3 * beta)
        params.update(beta=beta)
    else:
        profile = np.exp(-r / scale)
    if subtype == "merger":
        gradient = rng.uniform(0.3, 0.8)
        profile = profile * np.clip(1 + gradient * along / (3 * scale), 0.2, None)
        params.update(gradient=gradient)
    profile[r > extent] = 0.0
    strength = float(rng.choice([0.0, rng.uniform(0.1, 0.4), rng.uniform(0.4, 0.9)]))
    profile = profile * _clumps(rng, profile.shape, max(survey.beam_fwhm_pixels, 0.5 * scale), strength)
    snr = log_uniform(rng, *config.halo_snr)
    part = np.zeros_like(layer)
    part[window] = profile
    emission = _scaled_to_peak(part, snr, survey)
    layer += emission
    if subtype == "mini-halo":
        add_point_sources(compact, [x], [y], [log_uniform(rng, 50.0, 500.0) * survey.rms_jy])
    params.update(clump_strength=strength)
    return Component(kind="halo", subtype=subtype, x=float(x), y=float(y), flux=float(emission.sum()),
                     size_kpc=2 * 3 * scale_kpc, surface_brightness_snr=snr,
                     pa_deg=float(np.degrees(angle - np.pi / 2) % 180), params=params)


def _add_relics(rng, cluster, config, layer):
    subtype = str(rng.choice(config.relic_subtypes))
    radial = rng.uniform(0, 2 * np.pi)
    if subtype != "double":
        return [_add_relic(rng, cluster, config, layer, subtype, radial)]
    first, second = rng.choice(["straight", "patchy", "thin"], size=2)
    return [_add_relic(rng, cluster, config, layer, str(first), radial, pair=True),
            _add_relic(rng, cluster, config, layer, str(second), radial + np.pi + rng.normal(0, 0.3), pair=True)]


def _add_relic(rng, cluster, config, layer, shape_name, radial, pair=False):
    """A relic drawn as a chain of elliptical Gaussians along its ridge line."""
    survey = config.survey
    kpc = cluster.kpc_per_pixel
    beam_pix = survey.beam_fwhm_pixels
    direction = np.array([np.cos(radial), np.sin(radial)])
    distance = min(rng.uniform(300.0, 3000.0) / kpc, _room(cluster, direction, layer.shape))
    distance = max(distance, 2 * beam_pix)
    centre = np.array([cluster.x, cluster.y]) + distance * direction
    length = rng.uniform(500.0, 2000.0) / kpc
    if shape_name == "thin":
        width = rng.uniform(0.7, 1.5) * beam_pix
    else:
        width = max(min(rng.uniform(40.0, 200.0) / kpc, length / 4), 0.7 * beam_pix)
    tilt = rng.uniform(-np.radians(40), np.radians(40))
    tangent = np.array([-direction[1], direction[0]])
    tangent = np.cos(tilt) * tangent + np.sin(tilt) * direction
    curvature = 0.0 if shape_name == "straight" else 1.0 / (distance * rng.uniform(0.7, 2.0))
    n_points = int(np.clip(3 * length / max(min(width, beam_pix), 1.0), 8, 600))
    t = np.linspace(-0.5, 0.5, n_points) * length
    # The ridge bends around the cluster: its ends curl towards the centre.
    inwards = np.array([-tangent[1], tangent[0]])
    if inwards @ direction > 0:
        inwards = -inwards
    points = centre[None, :] + t[:, None] * tangent[None, :] + (curvature * t**2 / 2)[:, None] * inwards[None, :]
    weight = np.exp(-np.log(2) * (2 * t / length) ** 6)
    if shape_name == "patchy":
        knots = rng.uniform(-0.5, 0.5, size=rng.integers(3, 8)) * length
        weight *= 0.15 + np.sum(rng.uniform(0.5, 1.0, size=len(knots))[:, None]
                                * np.exp(-0.5 * ((t[None, :] - knots[:, None]) / (0.06 * length)) ** 2), axis=0)
    ridge = np.zeros_like(layer)
    sigma_along = max(length / max(n_points - 1, 1), 0.5)
    angle = float(np.arctan2(tangent[1], tangent[0]))
    for (px, py), w in zip(points, weight):
        add_gaussian(ridge, px, py, float(w), sigma_along, width * _SIGMA_PER_FWHM, angle=angle)
    snr = log_uniform(rng, *config.relic_snr)
    emission = _scaled_to_peak(ridge, snr, survey)
    layer += emission
    return Component(kind="relic", subtype=shape_name, x=float(centre[0]), y=float(centre[1]),
                     flux=float(emission.sum()), size_kpc=length * kpc, surface_brightness_snr=snr,
                     pa_deg=float(np.degrees(np.arctan2(-tangent[0], tangent[1])) % 180),
                     params=dict(distance_kpc=distance * kpc, width_kpc=width * kpc, length_kpc=length * kpc,
                                 tilt_deg=float(np.degrees(tilt)), curvature_per_kpc=curvature / kpc, pair=pair,
                                 length_pix=length, width_pix=width))


def _room(cluster, direction, shape):
    """How far from the cluster centre along ``direction`` a point stays 5% inside the field."""
    ny, nx = shape
    limits = []
    for centre, d, n in ((cluster.x, direction[0], nx), (cluster.y, direction[1], ny)):
        if d > 1e-9:
            limits.append((0.95 * (n - 1) - centre) / d)
        elif d < -1e-9:
            limits.append((0.05 * (n - 1) - centre) / d)
    return max(min(limits), 0.0)


def _add_radio_galaxy(rng, cluster, config, layer, compact, on_cluster):
    survey = config.survey
    ny, nx = layer.shape
    kpc = cluster.kpc_per_pixel
    subtype = str(rng.choice(config.radio_galaxy_subtypes))
    if on_cluster:
        x, y = (cluster.x, cluster.y) + rng.normal(0, 0.15 * cluster.r500.to_value(u.kpc) / kpc, size=2)
    else:
        x, y = rng.uniform(0.1 * nx, 0.9 * nx), rng.uniform(0.1 * ny, 0.9 * ny)
    part = np.zeros_like(layer)
    beam_sigma = survey.beam_fwhm_pixels * _SIGMA_PER_FWHM
    axis = rng.uniform(0, 2 * np.pi)
    core_snr = 0.0
    if subtype == "relaxed-lobes":
        size_kpc = log_uniform(rng, 100.0, 1000.0)
        separation = size_kpc / kpc
        lobe = separation * rng.uniform(0.15, 0.3)
        for sign in (1, -1):
            _add_flat_lobe(part, x + sign * 0.5 * separation * np.cos(axis), y + sign * 0.5 * separation * np.sin(axis),
                           lobe, lobe * rng.uniform(0.5, 0.9), axis + rng.normal(0, 0.3), rng.uniform(0.6, 1.0))
        core_snr = float(rng.choice([0.0, rng.uniform(1.0, 10.0)]))
    elif subtype == "narrow-angle-tail":
        size_kpc = log_uniform(rng, 100.0, 800.0)
        length = size_kpc / kpc
        bend = rng.uniform(-2.0, 2.0) / length
        n_points = int(np.clip(3 * length / max(beam_sigma, 1.0), 8, 400))
        s = np.linspace(0, length, n_points)
        heading = axis + bend * s
        step = length / (n_points - 1)
        px = x + np.concatenate([[0], np.cumsum(np.cos(heading[:-1]) * step)])
        py = y + np.concatenate([[0], np.cumsum(np.sin(heading[:-1]) * step)])
        for sx, sy, si, direction in zip(px, py, s, heading):
            width = max(0.03 * length + 0.15 * si, 0.5)
            add_gaussian(part, sx, sy, float(np.exp(-si / (0.5 * length)) * width), max(step, 0.5), width,
                         angle=float(direction))
        core_snr = log_uniform(rng, 10.0, 300.0)
    else:
        size_kpc = 300.0
        for _ in range(rng.integers(2, 5)):
            gx, gy = (x, y) + rng.uniform(-150.0, 150.0, size=2) / kpc
            jet, jet_axis = log_uniform(rng, 20.0, 120.0) / kpc, rng.uniform(0, 2 * np.pi)
            for sign in (1, -1):
                add_gaussian(part, gx + sign * 0.5 * jet * np.cos(jet_axis), gy + sign * 0.5 * jet * np.sin(jet_axis),
                             rng.uniform(0.5, 1.0), max(0.3 * jet, 0.5), max(0.15 * jet, 0.5), angle=jet_axis)
            add_point_sources(compact, [gx], [gy], [log_uniform(rng, 5.0, 50.0) * survey.rms_jy])
        core_snr = 0.0
    snr = log_uniform(rng, *config.radio_galaxy_snr)
    emission = _scaled_to_peak(part, snr, survey)
    layer += emission
    if core_snr:
        # The core is a radio-galaxy pixel, not a compact source: it is part of the galaxy.
        add_point_sources(layer, [x], [y], [core_snr * survey.rms_jy])
    return Component(kind="radio_galaxy", subtype=subtype, x=float(x), y=float(y), flux=float(emission.sum()),
                     size_kpc=size_kpc, surface_brightness_snr=snr,
                     pa_deg=float(np.degrees(axis - np.pi / 2) % 180), params=dict(core_snr=core_snr))


def _add_flat_lobe(sky, x, y, a, b, angle, brightness):
    """A lobe of uniform emissivity: the projected ellipsoid ``sqrt(1 - (r/a)^2)``, no hot spot."""
    window = _window(sky.shape, x, y, a + 1)
    rows = np.arange(sky.shape[0])[window[0], None] - y
    cols = np.arange(sky.shape[1])[None, window[1]] - x
    along = cols * np.cos(angle) + rows * np.sin(angle)
    across = -cols * np.sin(angle) + rows * np.cos(angle)
    sky[window] += brightness * np.sqrt(np.clip(1 - (along / a) ** 2 - (across / b) ** 2, 0, None))


def _add_compact_sources(rng, config, layer):
    """Unresolved sources: on average 0.01 per beam, peaks of 3 rms and up with a Pareto tail (index 0.9)."""
    survey = config.survey
    ny, nx = layer.shape
    n = rng.poisson(0.01 * ny * nx / survey.beam_area_pixels)
    snr = np.minimum(3.0 * rng.uniform(size=n) ** (-1 / 0.9), 5000.0)
    add_point_sources(layer, rng.uniform(0, nx - 1, n), rng.uniform(0, ny - 1, n), snr * survey.rms_jy)
    return int(n)


def _anisotropic_noise(rng, survey, shape):
    """Gaussian noise of the survey's rms, correlated by an elongated kernel of its own (not the beam)."""
    fwhm = survey.beam_fwhm_pixels * rng.uniform(1.0, 1.5)
    ratio, angle = rng.uniform(1.2, 2.2), rng.uniform(0, np.pi)
    sigma_long, sigma_short = fwhm * _SIGMA_PER_FWHM * np.sqrt(ratio), fwhm * _SIGMA_PER_FWHM / np.sqrt(ratio)
    ky = scipy.fft.fftfreq(shape[0])[:, None]
    kx = scipy.fft.rfftfreq(shape[1])[None, :]
    k_along = kx * np.cos(angle) + ky * np.sin(angle)
    k_across = -kx * np.sin(angle) + ky * np.cos(angle)
    transfer = np.exp(-2 * np.pi**2 * ((sigma_long * k_along) ** 2 + (sigma_short * k_across) ** 2))
    noise = scipy.fft.irfft2(scipy.fft.rfft2(rng.standard_normal(shape)) * transfer, s=shape)
    return (noise * (survey.rms_jy / noise.std())).astype(np.float32)


def _stripes(rng, survey, shape):
    """One to three plane waves of 5-40 beams' wavelength, together 0.1-0.5 times the rms."""
    rows, cols = np.indices(shape, dtype=np.float32)
    stripes = np.zeros(shape, dtype=np.float32)
    for _ in range(rng.integers(1, 4)):
        wavelength = rng.uniform(5.0, 40.0) * survey.beam_fwhm_pixels
        angle = rng.uniform(0, np.pi)
        stripes += np.cos(2 * np.pi * (cols * np.cos(angle) + rows * np.sin(angle)) / wavelength
                          + rng.uniform(0, 2 * np.pi)).astype(np.float32)
    return stripes * np.float32(rng.uniform(0.1, 0.5) * survey.rms_jy / max(float(stripes.std()), 1e-12))


def _sidelobes(rng, survey, compact):
    """Rings and six spokes of alternating sign, 0.1-0.5% of the peak (a dynamic range of 200-1000), around
    the three brightest sources above 50 rms (calibration and deconvolution residuals)."""
    artefacts = np.zeros(compact.shape, dtype=np.float32)
    beam = survey.beam_fwhm_pixels
    # Sources, not pixels: the maxima of their own 3-beam neighbourhood.
    peaks = (compact == scipy.ndimage.maximum_filter(compact, size=max(int(3 * beam), 3))) \
        & (compact >= 50 * survey.rms_jy)
    peak_rows, peak_cols = np.nonzero(peaks)
    for index in np.argsort(compact[peak_rows, peak_cols])[::-1][:3]:
        y, x = peak_rows[index], peak_cols[index]
        peak = float(compact[y, x])
        window = _window(compact.shape, x, y, 25 * beam)
        dy = np.arange(compact.shape[0])[window[0], None] - y
        dx = np.arange(compact.shape[1])[None, window[1]] - x
        r, theta = np.hypot(dy, dx), np.arctan2(dy, dx)
        wavelength, spokes = rng.uniform(2.0, 5.0) * beam, 1 + 0.6 * np.cos(6 * theta + rng.uniform(0, np.pi))
        pattern = np.cos(2 * np.pi * r / wavelength) * np.exp(-r / (8 * beam)) * spokes
        pattern[r < beam] = 0.0
        artefacts[window] += (rng.uniform(0.001, 0.005) * peak * pattern).astype(np.float32)
    return artefacts
