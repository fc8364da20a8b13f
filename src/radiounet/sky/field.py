"""Simulate one labelled cluster field: sky model -> observation -> image, mask, labels and truth.

The chain, in order: draw the cluster (redshift, mass, position) -> choose
the field type (diffuse / radio galaxies only / empty) -> draw and render each
component into its class layer (Jy/pixel) -> convolve the layers with the
beam -> add beam-correlated noise (or observe with an interferometer) ->
threshold the noise-free layers into the mask and the class labels.
"""

from dataclasses import asdict, dataclass, field

import astropy.units as u
import numpy as np
from astropy.wcs import WCS

from radiounet.errors import InvalidParameterError
from radiounet.io.image import MIN_BEAMS_ACROSS
from radiounet.sky.cluster import Cluster
from radiounet.sky.compact import draw_compact_sources, left_after_subtraction, render_compact_sources
from radiounet.sky.halo import draw_halo, render_halo
from radiounet.sky.interferometer import observe_interferometric
from radiounet.sky.labels import CLASS_LAYERS, LABEL_RULES, class_labels, diffuse_mask, labelled_snr
from radiounet.sky.observe import CORRELATED_NOISE_SCALE, convolve_with_beam, correlated_noise, wide_correlated_noise
from radiounet.sky.artefacts import sidelobe_rings, stripes
from radiounet.sky.radio_galaxy import (ALL_RADIO_GALAXY_SUBTYPES, RADIO_GALAXY_SUBTYPES, draw_radio_galaxy,
                                        render_radio_galaxy)
from radiounet.sky.render import add_point_sources
from radiounet.sky.relic import draw_relics, render_relic
from radiounet.sky.survey import Survey

__all__ = ["FIELD_TYPES", "SkyConfig", "FieldConfig", "SimulatedField", "simulate_field", "field_rng"]

#: Field types: with diffuse emission (halo and/or relics, radio galaxies possible),
#: with radio galaxies but no diffuse emission, and with compact sources only.
FIELD_TYPES = ("diffuse", "radio_galaxies", "empty")

MIN_FIELD_SIZE = 32
MAX_FIELD_SIZE = 16384


@dataclass(frozen=True)
class SkyConfig:
    """Distributions of the sky model's parameters.

    Ranges are ``(low, high)``; brightness ranges ("snr") are peak surface
    brightness in units of the image rms, drawn log-uniformly so that both
    near-noise and bright components occur. See each component module for
    how its parameters are used.
    """

    fraction_diffuse: float = 0.6
    fraction_radio_galaxies: float = 0.2
    halo_probability: float = 0.75
    relic_probability: float = 0.4
    redshift: tuple = (0.05, 0.6)
    m500_1e14_msun: tuple = (2.0, 12.0)
    cluster_offset_fraction: float = 0.15
    halo_re_kpc: tuple = (50.0, 300.0)
    halo_offset_r500: float = 0.05
    halo_snr: tuple = (1.0, 20.0)
    halo_axis_ratio: tuple = (0.6, 1.0)
    halo_substructure: tuple = (0.2, 0.6)
    halo_profile_index: tuple = (1.0, 1.0)
    mini_halo_probability: float = 0.0
    halo_central_source_probability: float = 0.0
    mini_halo_re_kpc: tuple = (15.0, 60.0)
    relic_distance_kpc: tuple = (500.0, 3000.0)
    relic_length_kpc: tuple = (500.0, 2000.0)
    relic_width_kpc: tuple = (50.0, 200.0)
    relic_pair_probability: float = 0.25
    relic_snr: tuple = (2.0, 40.0)
    relic_curvature: tuple = (0.6, 1.5)
    relic_filament_sigma: tuple = (0.3, 0.7)
    relic_tilt_deg: float = 0.0
    relic_symmetric_probability: float = 0.0
    radio_galaxies_mean: float = 1.0
    central_radio_galaxy_probability: float = 0.5
    radio_galaxy_subtypes: tuple = RADIO_GALAXY_SUBTYPES
    radio_galaxy_size_kpc: tuple = (50.0, 1000.0)
    radio_galaxy_snr: tuple = (2.0, 100.0)
    radio_galaxy_core_snr: tuple = (5.0, 300.0)
    radio_galaxy_core_absent_probability: float = 0.0
    compact_count_slope: float = 1.8
    compact_density_per_deg2: float = 800.0
    compact_reference_flux: u.Quantity = field(default_factory=lambda: 0.4 * u.mJy)
    compact_resolved_fraction: float = 0.1

    def __post_init__(self):
        for name in ("fraction_diffuse", "fraction_radio_galaxies", "halo_probability", "relic_probability",
                     "relic_pair_probability", "central_radio_galaxy_probability", "compact_resolved_fraction",
                     "mini_halo_probability", "halo_central_source_probability", "relic_symmetric_probability",
                     "radio_galaxy_core_absent_probability"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidParameterError(name, value, "must be a probability between 0 and 1")
        if self.fraction_diffuse + self.fraction_radio_galaxies > 1.0 + 1e-9:
            raise InvalidParameterError(
                "fraction_diffuse + fraction_radio_galaxies",
                self.fraction_diffuse + self.fraction_radio_galaxies,
                "must not exceed 1 (the rest are empty fields)",
            )
        if self.fraction_diffuse > 0 and self.halo_probability + self.relic_probability == 0:
            raise InvalidParameterError("halo_probability", 0, "diffuse fields need halos or relics")
        for name in ("redshift", "m500_1e14_msun", "halo_re_kpc", "halo_snr", "halo_axis_ratio",
                     "halo_substructure", "halo_profile_index", "mini_halo_re_kpc", "relic_distance_kpc",
                     "relic_length_kpc", "relic_width_kpc", "relic_snr", "relic_curvature", "relic_filament_sigma",
                     "radio_galaxy_size_kpc", "radio_galaxy_snr", "radio_galaxy_core_snr"):
            low, high = getattr(self, name)
            if not (np.isfinite(low) and np.isfinite(high) and 0 < low <= high):
                raise InvalidParameterError(name, (low, high), "must be a range 0 < low <= high")
        if self.halo_profile_index[1] > 2:
            raise InvalidParameterError("halo_profile_index", self.halo_profile_index,
                                        "must be at most 2 (more peaked profiles have wings beyond 20 r_e)")
        if self.halo_axis_ratio[1] > 1:
            raise InvalidParameterError("halo_axis_ratio", self.halo_axis_ratio, "must lie in (0, 1]")
        if not 0 <= self.relic_tilt_deg <= 90:
            raise InvalidParameterError("relic_tilt_deg", self.relic_tilt_deg, "must lie between 0 and 90 degrees")
        if self.radio_galaxies_mean < 0:
            raise InvalidParameterError("radio_galaxies_mean", self.radio_galaxies_mean, "must not be negative")
        if not 1.0 < self.compact_count_slope < 4.0:
            raise InvalidParameterError("compact_count_slope", self.compact_count_slope, "must be in (1, 4)")
        unknown = set(self.radio_galaxy_subtypes) - set(ALL_RADIO_GALAXY_SUBTYPES)
        if unknown or not self.radio_galaxy_subtypes:
            raise InvalidParameterError(
                "radio_galaxy_subtypes", self.radio_galaxy_subtypes,
                f"must be a non-empty subset of {', '.join(ALL_RADIO_GALAXY_SUBTYPES)}",
            )


@dataclass(frozen=True)
class FieldConfig:
    """What to simulate: a survey, a field size, the sky distributions and the labelling rule.

    Parameters
    ----------
    survey : Survey
        Beam, pixel scale, noise and frequency.
    shape : tuple of int
        ``(ny, nx)`` in pixels.
    sky : SkyConfig
        Distributions of the components.
    mask_threshold : float
        Threshold of the mask and labels in units of the image rms.
    interferometric : bool
        Observe through a uv-coverage with CLEAN instead of a plain beam convolution.
    correlated_noise : float
        Share of the noise variance given to noise correlated over
        ``correlated_noise_scale`` beams, a stand-in for the noise of real
        images (:func:`radiounet.sky.observe.wide_correlated_noise`); 0 (the
        default) keeps the beam-correlated noise alone. The mask and labels are
        kept: their threshold stays in units of the survey rms.
    correlated_noise_scale : float
        Smoothing (sigma) of that noise, in beam FWHM.
    label_rule : {"mask", "brightest"}
        How the class labels treat a radio galaxy or compact source on a halo
        or relic (:mod:`radiounet.sky.labels`): ``"mask"`` (default, the
        reference) gives every masked pixel to halo or relic, ``"brightest"``
        to the brightest component. The mask is the same under both.
    stripes : float
        Amplitude (rms, in units of the survey rms) of plane-wave stripes
        added to the image (:func:`radiounet.sky.artefacts.stripes`); 0, the
        default, adds none.
    sidelobes : bool
        Add sidelobe rings around the brightest sources
        (:func:`radiounet.sky.artefacts.sidelobe_rings`).
    """

    survey: Survey
    shape: tuple = (2000, 2000)
    sky: SkyConfig = field(default_factory=SkyConfig)
    mask_threshold: float = 0.5
    interferometric: bool = False
    correlated_noise: float = 0.0
    correlated_noise_scale: float = CORRELATED_NOISE_SCALE
    label_rule: str = "mask"
    stripes: float = 0.0
    sidelobes: bool = False

    def __post_init__(self):
        shape = tuple(self.shape)
        if len(shape) != 2 or not all(isinstance(n, (int, np.integer)) for n in shape):
            raise InvalidParameterError("size", self.shape, "must be two integers (ny, nx)")
        if not all(MIN_FIELD_SIZE <= n <= MAX_FIELD_SIZE for n in shape):
            raise InvalidParameterError(
                "size", shape, f"each side must be between {MIN_FIELD_SIZE} and {MAX_FIELD_SIZE} pixels"
            )
        bmaj = float(self.survey.beam.major.to_value(u.arcsec))
        side = min(shape) * self.survey.pixel_arcsec
        if bmaj * MIN_BEAMS_ACROSS > side:
            raise InvalidParameterError("bmaj", f"{bmaj:g} arcsec", f"the beam is larger than 1/{MIN_BEAMS_ACROSS} "
                                        f"of the field ({side:g} arcsec); give a larger --size or a smaller beam")
        if not (np.isfinite(self.mask_threshold) and self.mask_threshold > 0):
            raise InvalidParameterError("mask_threshold", self.mask_threshold, "must be positive (units of rms)")
        if not 0 <= self.correlated_noise <= 0.9:
            raise InvalidParameterError("correlated_noise", self.correlated_noise,
                                        "must lie between 0 and 0.9 (a share of the noise variance)")
        if not (np.isfinite(self.correlated_noise_scale) and self.correlated_noise_scale > 0):
            raise InvalidParameterError("correlated_noise_scale", self.correlated_noise_scale,
                                        "must be positive (beam FWHM)")
        if not (np.isfinite(self.stripes) and self.stripes >= 0):
            raise InvalidParameterError("stripes", self.stripes, "must be a non-negative amplitude (units of rms)")
        if self.label_rule not in LABEL_RULES:
            raise InvalidParameterError("label_rule", self.label_rule, f"must be one of {', '.join(LABEL_RULES)}")

    def to_dict(self):
        """JSON-serialisable description, for provenance files."""
        sky = asdict(self.sky)
        sky["compact_reference_flux"] = str(self.sky.compact_reference_flux)
        return dict(
            survey=dict(
                name=self.survey.name,
                bmaj_arcsec=float(self.survey.beam.major.to_value(u.arcsec)),
                bmin_arcsec=float(self.survey.beam.minor.to_value(u.arcsec)),
                bpa_deg=float(self.survey.beam.pa.to_value(u.deg)),
                pixel_arcsec=self.survey.pixel_arcsec,
                rms_jy_per_beam=self.survey.rms_jy,
                frequency_mhz=float(self.survey.frequency.to_value(u.MHz)),
                **({} if self.survey.compact_subtracted_above is None
                   else dict(compact_subtracted_above_jy=self.survey.subtraction_limit_jy)),
            ),
            shape=list(self.shape),
            sky=sky,
            mask_threshold=self.mask_threshold,
            interferometric=self.interferometric,
            correlated_noise=self.correlated_noise,
            correlated_noise_scale=self.correlated_noise_scale,
            label_rule=self.label_rule,
            stripes=self.stripes,
            sidelobes=self.sidelobes,
        )


@dataclass
class SimulatedField:
    """A simulated observation and everything known about it.

    Attributes
    ----------
    image : numpy.ndarray
        Observed image, Jy/beam, float32.
    mask : numpy.ndarray
        Diffuse-emission reference mask, bool.
    labels : numpy.ndarray
        Class labels, uint8, values index :data:`radiounet.sky.CLASS_NAMES`.
    wcs : astropy.wcs.WCS
        Celestial WCS (SIN projection, as in LoTSS mosaics).
    cluster : Cluster
    field_type : str
        One of :data:`FIELD_TYPES`.
    components : list of Component
        Halos, relics and radio galaxies (compact sources are summarised in ``n_compact``).
    n_compact : int
    config : FieldConfig
    diffuse_snr : dict
        ``{"halo": float, "relic": float}``: the signal-to-noise ratio of each as a whole against the survey's rms
        (:func:`radiounet.sky.labels.labelled_snr`), NaN where absent or not computed.
    """

    image: np.ndarray
    mask: np.ndarray
    labels: np.ndarray
    wcs: WCS
    cluster: Cluster
    field_type: str
    components: list
    n_compact: int
    config: FieldConfig
    diffuse_snr: dict = field(default_factory=lambda: {"halo": np.nan, "relic": np.nan})

    def classes_present(self):
        """Sorted names of the extended component kinds in the field."""
        return sorted({c.kind for c in self.components})


def field_rng(seed, index):
    """The random generator of field ``index`` of a run with ``seed``.

    Fields are independent streams of one seed, so a field's content does not
    depend on how many workers made the run or in which order.
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


def _make_wcs(rng, survey, shape):
    ra = rng.uniform(0.0, 360.0)
    dec = np.degrees(np.arcsin(rng.uniform(0.0, np.sin(np.radians(85.0)))))
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.crval = [ra, dec]
    # FITS pixels are 1-based: the reference pixel is the image centre.
    wcs.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    pixel_deg = survey.pixel_arcsec / 3600.0
    wcs.wcs.cdelt = [-pixel_deg, pixel_deg]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.equinox = 2000.0
    return wcs


def _draw_cluster(rng, config):
    ny, nx = config.shape
    sky = config.sky
    offset = config.sky.cluster_offset_fraction * rng.uniform(-1, 1, size=2)
    return Cluster(
        z=float(rng.uniform(*sky.redshift)),
        m500=float(np.exp(rng.uniform(*np.log(sky.m500_1e14_msun)))) * 1e14 * u.Msun,
        x=(nx - 1) / 2 + offset[0] * nx / 2,
        y=(ny - 1) / 2 + offset[1] * ny / 2,
        pixel_arcsec=config.survey.pixel_arcsec,
    )


def _draw_field_type(rng, sky):
    r = rng.uniform()
    if r < sky.fraction_diffuse:
        return "diffuse"
    if r < sky.fraction_diffuse + sky.fraction_radio_galaxies:
        return "radio_galaxies"
    return "empty"


def _draw_components(rng, config, cluster, field_type):
    survey, sky = config.survey, config.sky
    components = []
    if field_type == "diffuse":
        has_halo = rng.uniform() < sky.halo_probability
        has_relic = rng.uniform() < sky.relic_probability
        if not (has_halo or has_relic):
            has_halo = rng.uniform() < sky.halo_probability / (sky.halo_probability + sky.relic_probability)
            has_relic = not has_halo
        if has_halo:
            components.append(draw_halo(rng, cluster, survey, sky))
        if has_relic:
            components.extend(draw_relics(rng, cluster, survey, sky, config.shape))
        n_galaxies = rng.poisson(sky.radio_galaxies_mean)
    elif field_type == "radio_galaxies":
        n_galaxies = 1 + rng.poisson(sky.radio_galaxies_mean)
    else:
        n_galaxies = 0
    for i in range(n_galaxies):
        near_centre = i == 0 and rng.uniform() < sky.central_radio_galaxy_probability
        components.append(draw_radio_galaxy(rng, cluster, survey, sky, config.shape, near_centre))
    return components


_RENDERERS = {"halo": render_halo, "relic": render_relic, "radio_galaxy": render_radio_galaxy}


def simulate_field(config, rng):
    """Simulate one field.

    Parameters
    ----------
    config : FieldConfig
    rng : `numpy.random.Generator`
        All randomness comes from it (see :func:`field_rng`).

    Returns
    -------
    SimulatedField

    Examples
    --------
    >>> from radiounet.sky import FieldConfig, get_survey, simulate_field, field_rng
    >>> cfg = FieldConfig(get_survey("lotss-dr2-6"), shape=(128, 128))
    >>> f = simulate_field(cfg, field_rng(seed=1, index=0))
    >>> f.image.shape, f.image.dtype.name
    ((128, 128), 'float32')
    """
    survey = config.survey
    wcs = _make_wcs(rng, survey, config.shape)
    cluster = _draw_cluster(rng, config)
    field_type = _draw_field_type(rng, config.sky)
    components = _draw_components(rng, config, cluster, field_type)
    compact = draw_compact_sources(rng, survey, config.sky, config.shape)

    layers = np.zeros((len(CLASS_LAYERS),) + tuple(config.shape), dtype=np.float32)
    for component in components:
        _RENDERERS[component.kind](component, layers[CLASS_LAYERS.index(component.kind)], survey)
    render_compact_sources(compact, layers[CLASS_LAYERS.index("compact")])
    for halo in (c for c in components if "central_source_snr" in c.params):
        add_point_sources(layers[CLASS_LAYERS.index("compact")], [halo.x], [halo.y],
                          left_after_subtraction([halo.params["central_source_snr"] * survey.rms_jy], survey))

    convolved = convolve_with_beam(layers, survey)
    if config.interferometric:
        image = observe_interferometric(layers.sum(axis=0), survey, rng).restored
    else:
        image = convolved.sum(axis=0) + correlated_noise(config.shape, survey, rng)
    if config.correlated_noise:
        image = image + wide_correlated_noise(config.shape, survey, config.correlated_noise,
                                              config.correlated_noise_scale, rng)
    if config.stripes:
        image = image + stripes(config.shape, survey, config.stripes, rng)
    if config.sidelobes:
        bright = convolved[CLASS_LAYERS.index("radio_galaxy")] + convolved[CLASS_LAYERS.index("compact")]
        image = image + sidelobe_rings(bright, survey, rng)
    threshold = config.mask_threshold * survey.rms_jy
    labels = class_labels(convolved, threshold, config.label_rule)
    return SimulatedField(
        image=image.astype(np.float32),
        mask=diffuse_mask(convolved, threshold),
        labels=labels,
        wcs=wcs,
        cluster=cluster,
        field_type=field_type,
        components=components,
        n_compact=len(compact),
        config=config,
        diffuse_snr=labelled_snr(convolved, labels, survey.rms_jy, survey.beam_area_pixels),
    )
