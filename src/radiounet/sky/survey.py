"""Survey descriptions: beam, pixel scale, noise and frequency.

A :class:`Survey` holds what an observation needs to turn a sky model into
an image as that survey would see it. Presets describe real surveys; a
custom survey is built with :func:`custom_survey`.
"""

from dataclasses import dataclass

import astropy.units as u
import numpy as np
from radio_beam import Beam

from radiounet.errors import InvalidParameterError

__all__ = ["Survey", "PRESETS", "get_survey", "custom_survey"]


@dataclass(frozen=True)
class Survey:
    """An imaging survey as seen by the simulator.

    Parameters
    ----------
    name : str
        Short identifier, written into FITS headers (``TELESCOP``-like use).
    beam : radio_beam.Beam
        Restoring beam (elliptical Gaussian, FWHM major/minor axes and
        position angle east of north).
    pixel_scale : `~astropy.units.Quantity`
        Angular size of one pixel.
    rms : `~astropy.units.Quantity`
        Image noise in Jy/beam.
    frequency : `~astropy.units.Quantity`
        Observing frequency.
    compact_subtracted_above : `~astropy.units.Quantity`, optional
        For a compact-source-subtracted image (as tapered images for diffuse
        emission are made): the flux density, at the survey's frequency, above
        which compact sources were subtracted; a residual of
        :data:`radiounet.sky.compact.SUBTRACTION_RESIDUAL` of their flux stays
        in the image. ``None`` (default): nothing subtracted.
    """

    name: str
    beam: Beam
    pixel_scale: u.Quantity
    rms: u.Quantity
    frequency: u.Quantity
    compact_subtracted_above: u.Quantity = None

    def __post_init__(self):
        pixel = _positive(self.pixel_scale, "pixel_scale", u.arcsec)
        _positive(self.rms, "rms", u.Jy / u.beam)
        _positive(self.frequency, "frequency", u.Hz)
        if self.compact_subtracted_above is not None:
            _positive(self.compact_subtracted_above, "compact_subtracted_above", u.Jy)
        bmaj = self.beam.major.to_value(u.arcsec)
        bmin = self.beam.minor.to_value(u.arcsec)
        if not (np.isfinite(bmaj) and np.isfinite(bmin)) or bmin <= 0:
            raise InvalidParameterError("beam", self.beam, "axes must be positive")
        if bmin < pixel:
            raise InvalidParameterError(
                "beam",
                f"{bmaj:g}x{bmin:g} arcsec",
                f"the beam is smaller than a pixel ({pixel:g} arcsec); "
                "the image would be undersampled",
            )

    @property
    def pixel_arcsec(self):
        """Pixel size in arcsec, as a float."""
        return self.pixel_scale.to_value(u.arcsec)

    @property
    def subtraction_limit_jy(self):
        """Flux density in Jy above which compact sources were subtracted (infinity if none were)."""
        if self.compact_subtracted_above is None:
            return np.inf
        return float(self.compact_subtracted_above.to_value(u.Jy))

    @property
    def beam_fwhm_pixels(self):
        """Beam FWHM (major axis) in pixels, as a float."""
        return self.beam.major.to_value(u.arcsec) / self.pixel_arcsec

    @property
    def rms_jy(self):
        """Noise in Jy/beam, as a float."""
        return self.rms.to_value(u.Jy / u.beam)

    @property
    def beam_area_pixels(self):
        """Beam solid angle in pixels (the 1.1331 FWHM^2 of a Gaussian)."""
        return (self.beam.sr / self.pixel_scale**2).to_value(u.dimensionless_unscaled)

    def beam_sigmas_pixels(self):
        """Gaussian standard deviations of the beam along major and minor axes, in pixels."""
        fwhm_to_sigma = 1.0 / np.sqrt(8.0 * np.log(2.0))
        return (
            self.beam.major.to_value(u.arcsec) * fwhm_to_sigma / self.pixel_arcsec,
            self.beam.minor.to_value(u.arcsec) * fwhm_to_sigma / self.pixel_arcsec,
        )

    def describe(self):
        """One-line human-readable summary."""
        return (
            f"{self.name}: beam {self.beam.major.to_value(u.arcsec):g}\"x"
            f"{self.beam.minor.to_value(u.arcsec):g}\" PA {self.beam.pa.to_value(u.deg):g} deg, "
            f"{self.pixel_arcsec:g}\"/px, rms {self.rms.to_value(u.uJy / u.beam):g} uJy/beam, "
            f"{self.frequency.to_value(u.MHz):g} MHz"
            + ("" if self.compact_subtracted_above is None else
               f", compact sources above {self.compact_subtracted_above.to_value(u.mJy):g} mJy subtracted")
        )


def _positive(quantity, name, unit):
    try:
        value = float(u.Quantity(quantity).to_value(unit))
    except (u.UnitsError, TypeError, ValueError):
        raise InvalidParameterError(name, quantity, f"must be a quantity in {unit}") from None
    if not np.isfinite(value) or value <= 0:
        raise InvalidParameterError(name, quantity, "must be positive and finite")
    return value


def custom_survey(name, bmaj, pixel_scale, rms, frequency, bmin=None, bpa=0 * u.deg, compact_subtracted_above=None):
    """Build a survey from its beam, pixel scale, noise and frequency.

    Parameters
    ----------
    name : str
        Identifier of the survey.
    bmaj, bmin : `~astropy.units.Quantity`
        Beam FWHM along major and minor axes (angle). ``bmin`` defaults to
        ``bmaj`` (a circular beam).
    pixel_scale : `~astropy.units.Quantity`
        Pixel size (angle).
    rms : `~astropy.units.Quantity`
        Noise in Jy/beam (or mJy/beam, uJy/beam).
    frequency : `~astropy.units.Quantity`
        Observing frequency.
    bpa : `~astropy.units.Quantity`
        Beam position angle, east of north.
    compact_subtracted_above : `~astropy.units.Quantity`, optional
        Flux density (e.g. mJy) above which compact sources were subtracted
        from the image; ``None``: none were (see :class:`Survey`).

    Returns
    -------
    Survey

    Examples
    --------
    >>> import astropy.units as u
    >>> s = custom_survey("vla-c", 15 * u.arcsec, 3 * u.arcsec, 20 * u.uJy / u.beam, 1.4 * u.GHz)
    >>> round(float(s.beam_area_pixels), 1)
    28.3
    """
    bmin = bmaj if bmin is None else bmin
    bmaj_arcsec = _positive(bmaj, "bmaj", u.arcsec)
    bmin_arcsec = _positive(bmin, "bmin", u.arcsec)
    if bmin_arcsec > bmaj_arcsec:
        raise InvalidParameterError("bmin", bmin, f"must not exceed bmaj ({bmaj_arcsec:g} arcsec)")
    try:
        pa = u.Quantity(bpa).to(u.deg)
    except (u.UnitsError, TypeError, ValueError):
        raise InvalidParameterError("bpa", bpa, "must be an angle") from None
    if not np.isfinite(pa.value):
        raise InvalidParameterError("bpa", bpa, "must be a finite angle")
    beam = Beam(major=bmaj_arcsec * u.arcsec, minor=bmin_arcsec * u.arcsec, pa=pa)
    return Survey(
        name=name,
        beam=beam,
        pixel_scale=_converted(pixel_scale, "pixel_scale", u.arcsec),
        rms=_converted(rms, "rms", u.Jy / u.beam),
        frequency=_converted(frequency, "frequency", u.MHz),
        compact_subtracted_above=(None if compact_subtracted_above is None
                                  else _converted(compact_subtracted_above, "compact_subtracted_above", u.mJy)),
    )


def _converted(quantity, name, unit):
    return _positive(quantity, name, unit) * unit


PRESETS = {
    # Shimwell et al. 2022 (A&A 659, A1): 6" Stokes I mosaics, 1.5" pixels, median rms 83 uJy/beam.
    "lotss-dr2-6": dict(bmaj=6 * u.arcsec, pixel_scale=1.5 * u.arcsec, rms=83 * u.uJy / u.beam,
                        frequency=144 * u.MHz),
    # The 20" low-resolution LoTSS-DR2 mosaics used for diffuse cluster emission
    # (Botteon et al. 2022): 4.5" pixels; Stokes I noise is confusion-limited,
    # higher than the 95 uJy/beam of the 20" Stokes V maps.
    "lotss-dr2-20": dict(bmaj=20 * u.arcsec, pixel_scale=4.5 * u.arcsec, rms=150 * u.uJy / u.beam,
                         frequency=144 * u.MHz),
    # LoTSS tapered to 60" after subtracting the compact sources of the 6" image (as the low-resolution images
    # of Botteon et al. 2022 are made), 15" pixels; the noise of such tapers is a few times the 20" images'.
    # Subtracted: what the 6" image detects, above 5 times its 83 uJy/beam. Without the subtraction a 60" beam
    # holds about 0.4 sources above half this rms: a confused sky.
    "lotss-dr2-60": dict(bmaj=60 * u.arcsec, pixel_scale=15 * u.arcsec, rms=400 * u.uJy / u.beam,
                         frequency=144 * u.MHz, compact_subtracted_above=0.415 * u.mJy),
    # MeerKAT Galaxy Cluster Legacy Survey (Knowles et al. 2022, A&A 657, A56): 7.5" full-resolution
    # images at 1.28 GHz, 1.1"-2" pixels (1.2" here), 3-5 uJy/beam.
    "meerkat-mgcls": dict(bmaj=7.5 * u.arcsec, pixel_scale=1.2 * u.arcsec, rms=3 * u.uJy / u.beam,
                          frequency=1283 * u.MHz),
}


def get_survey(name):
    """Return a preset survey by name.

    Parameters
    ----------
    name : str
        One of the keys of :data:`PRESETS` (``"lotss-dr2-6"``, ``"lotss-dr2-20"``, ``"lotss-dr2-60"``,
        ``"meerkat-mgcls"``).

    Raises
    ------
    InvalidParameterError
        If the name is not a known preset.
    """
    try:
        spec = PRESETS[name]
    except KeyError:
        raise InvalidParameterError(
            "preset", name, f"unknown survey preset; choose one of {', '.join(sorted(PRESETS))}"
        ) from None
    return custom_survey(name, **spec)
