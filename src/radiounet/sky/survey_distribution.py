"""A distribution of surveys: every training field drawn with its own beam, sampling, frequency and noise.

A network trained on one survey learns that survey: how many beams a halo
spans at its resolution, how its noise looks. Drawing the survey per field
puts LoTSS 6" and 20", 60" tapers, MeerKAT, VLA and MWA-like images inside
one training distribution. What is drawn, per field:

* the beam: major axis FWHM log-uniform in ``beam_arcsec``; minor/major
  axis ratio uniform in ``beam_axis_ratio``; position angle uniform;
* the sampling: pixels per beam FWHM uniform in ``pixels_per_beam``, the
  FWHM being the geometric mean of the axes as ``predict`` counts it, the
  field then being regridded to the model's own sampling as ``predict``
  regrids an image;
* the frequency, log-uniform in ``frequency_mhz``: it scales the compact
  source counts (spectral index -0.7);
* the noise: an rms log-uniform in ``rms_ujy`` for a 6" beam at 144 MHz,
  scaled by (beam / 6") and by the frequency with spectral index -0.7, so that a
  field's depth relative to its compact-source population varies as between
  real surveys (deep MeerKAT to shallow tapers);
* noise correlated over more than a beam (``correlated_noise``, a share of
  the noise variance, over ``correlated_noise_scale`` beams), stripes of a
  share ``stripes`` of the rms with probability ``stripe_probability``, and
  sidelobe rings around the brightest sources with probability
  ``sidelobe_probability`` (:mod:`radiounet.sky.artefacts`);
* with probability ``compact_subtracted_probability``, a compact-source-subtracted
  image (as tapers for diffuse emission are made): the compact sources above
  5 times the drawn 6" rms (at the field's frequency), those a 6" image of the
  same depth detects, are subtracted, leaving a residual
  (:data:`radiounet.sky.compact.SUBTRACTION_RESIDUAL`).

Components are drawn in units of the rms and in kpc (see
:class:`radiounet.sky.SkyConfig`), so the same cluster spans from a couple of
beams (a distant cluster at 90") to hundreds (a nearby one at 5").
"""

from dataclasses import dataclass, replace

import astropy.units as u
import numpy as np

from radiounet.errors import InvalidParameterError
from radiounet.sky.survey import custom_survey

__all__ = ["SurveyDistribution", "DrawnObservation", "draw_observation"]

_SPECTRAL_INDEX = -0.7
_REFERENCE_BEAM_ARCSEC = 6.0
_REFERENCE_FREQUENCY_MHZ = 144.0
_DETECTION_SNR = 5.0


@dataclass(frozen=True)
class SurveyDistribution:
    """Ranges of the survey drawn for each field (see the module docstring).

    Ranges are ``(low, high)``; ``beam_arcsec``, ``frequency_mhz`` and
    ``rms_ujy`` are drawn log-uniformly, the others uniformly.
    """

    beam_arcsec: tuple = (5.0, 90.0)
    beam_axis_ratio: tuple = (0.6, 1.0)
    pixels_per_beam: tuple = (3.0, 5.0)
    frequency_mhz: tuple = (120.0, 1500.0)
    rms_ujy: tuple = (15.0, 600.0)
    correlated_noise: tuple = (0.0, 0.5)
    correlated_noise_scale: tuple = (1.0, 3.0)
    stripes: tuple = (0.05, 0.3)
    stripe_probability: float = 0.2
    sidelobe_probability: float = 0.3
    compact_subtracted_probability: float = 0.0

    def __post_init__(self):
        for name in ("beam_arcsec", "beam_axis_ratio", "pixels_per_beam", "frequency_mhz", "rms_ujy",
                     "correlated_noise_scale", "stripes"):
            low, high = getattr(self, name)
            if not (np.isfinite(low) and np.isfinite(high) and 0 < low <= high):
                raise InvalidParameterError(name, (low, high), "must be a range 0 < low <= high")
        if self.beam_axis_ratio[1] > 1:
            raise InvalidParameterError("beam_axis_ratio", self.beam_axis_ratio,
                                        "must lie in (0, 1] (minor over major axis)")
        if self.pixels_per_beam[0] < 1.5:
            raise InvalidParameterError("pixels_per_beam", self.pixels_per_beam,
                                        "must be at least 1.5 (the beam must be sampled)")
        low, high = self.correlated_noise
        if not 0 <= low <= high <= 0.9:
            raise InvalidParameterError("correlated_noise", self.correlated_noise,
                                        "must be a range 0 <= low <= high <= 0.9 (a share of the noise variance)")
        for name in ("stripe_probability", "sidelobe_probability", "compact_subtracted_probability"):
            if not 0 <= getattr(self, name) <= 1:
                raise InvalidParameterError(name, getattr(self, name), "must be a probability")


@dataclass(frozen=True)
class DrawnObservation:
    """One draw of :class:`SurveyDistribution`: the survey and the noise and artefacts of one field.

    Attributes
    ----------
    survey : radiounet.sky.Survey
    pixels_per_beam : float
        Pixels per beam FWHM, the geometric mean of the axes.
    correlated_noise : float
        Share of the noise variance correlated over ``correlated_noise_scale`` beams.
    correlated_noise_scale : float
    stripes : float
        Amplitude of the stripes in units of the rms (0: none).
    sidelobes : bool
        Whether the brightest sources get sidelobe rings.
    """

    survey: object
    pixels_per_beam: float
    correlated_noise: float
    correlated_noise_scale: float
    stripes: float
    sidelobes: bool


def _log_uniform(rng, low, high):
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def draw_observation(rng, distribution, name="randomised"):
    """Draw a survey and its noise and artefacts from ``distribution``.

    Parameters
    ----------
    rng : numpy.random.Generator
    distribution : SurveyDistribution
    name : str
        Name given to the drawn survey.

    Returns
    -------
    DrawnObservation

    Examples
    --------
    >>> import numpy as np
    >>> drawn = draw_observation(np.random.default_rng(0), SurveyDistribution())
    >>> 3.0 <= drawn.pixels_per_beam <= 5.0
    True
    """
    d = distribution
    bmaj = _log_uniform(rng, *d.beam_arcsec)
    bmin = bmaj * rng.uniform(*d.beam_axis_ratio)
    bpa = rng.uniform(0.0, 180.0)
    sampling = float(rng.uniform(*d.pixels_per_beam))
    frequency = _log_uniform(rng, *d.frequency_mhz)
    frequency_scale = (frequency / _REFERENCE_FREQUENCY_MHZ) ** _SPECTRAL_INDEX
    rms_at_6 = _log_uniform(rng, *d.rms_ujy)
    rms = rms_at_6 * bmaj / _REFERENCE_BEAM_ARCSEC * frequency_scale
    survey = custom_survey(name, bmaj * u.arcsec, np.sqrt(bmaj * bmin) / sampling * u.arcsec, rms * u.uJy / u.beam,
                           frequency * u.MHz, bmin=bmin * u.arcsec, bpa=bpa * u.deg)
    correlated = float(rng.uniform(*d.correlated_noise))
    scale = float(rng.uniform(*d.correlated_noise_scale))
    stripes = float(rng.uniform(*d.stripes)) if rng.uniform() < d.stripe_probability else 0.0
    sidelobes = bool(rng.uniform() < d.sidelobe_probability)
    # Drawn last and only when asked for, so that distributions without it keep their fields.
    if d.compact_subtracted_probability and rng.uniform() < d.compact_subtracted_probability:
        survey = replace(survey, compact_subtracted_above=_DETECTION_SNR * rms_at_6 * frequency_scale * u.uJy)
    return DrawnObservation(survey, sampling, correlated, scale, stripes, sidelobes)
