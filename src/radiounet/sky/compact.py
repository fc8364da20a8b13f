"""Compact sources: the field population of mostly unresolved radio sources.

Flux densities follow a power-law differential source count
``dN/dS ~ S**-slope`` (``config.compact_count_slope``, 1.6-2.5 in the
literature), normalised to ``config.compact_density_per_deg2`` sources per
square degree above ``config.compact_reference_flux`` at 144 MHz, and scaled
to the survey's frequency with a spectral index of -0.7. Sources are drawn
down to half the image rms; a fraction ``config.compact_resolved_fraction``
of them are slightly resolved Gaussians of 0.3-1 beam FWHM.

In a compact-source-subtracted image (``survey.compact_subtracted_above``)
the sources above that flux density keep :data:`SUBTRACTION_RESIDUAL` of
their flux, as imperfect subtraction leaves in real images; fainter ones stay.
"""

from dataclasses import dataclass

import astropy.units as u
import numpy as np

from radiounet.sky.render import add_gaussian, add_point_sources

__all__ = ["CompactSources", "SUBTRACTION_RESIDUAL", "draw_compact_sources", "render_compact_sources",
           "left_after_subtraction"]

_SPECTRAL_INDEX = -0.7
_MAX_FLUX_JY = 1.0
#: Share of a subtracted source's flux density left in the image.
SUBTRACTION_RESIDUAL = 0.02


@dataclass(frozen=True)
class CompactSources:
    """Positions (pixels), flux densities (Jy) and sizes (FWHM in pixels, 0 if unresolved)."""

    x: np.ndarray
    y: np.ndarray
    flux: np.ndarray
    fwhm_major: np.ndarray
    fwhm_minor: np.ndarray
    angle: np.ndarray

    def __len__(self):
        return len(self.flux)


def draw_compact_sources(rng, survey, config, shape):
    """Draw the compact-source population of a field of ``shape`` pixels."""
    ny, nx = shape
    area_deg2 = nx * ny * (survey.pixel_arcsec / 3600.0) ** 2
    frequency_scale = (survey.frequency.to_value(u.MHz) / 144.0) ** _SPECTRAL_INDEX
    reference = config.compact_reference_flux.to_value(u.Jy) * frequency_scale
    s_min = 0.5 * survey.rms_jy
    s_max = _MAX_FLUX_JY * frequency_scale
    gamma = config.compact_count_slope
    density = config.compact_density_per_deg2 * (s_min / reference) ** (1 - gamma)
    n = rng.poisson(density * area_deg2)
    # Inverse CDF of a power law truncated to [s_min, s_max].
    a, b = s_min ** (1 - gamma), s_max ** (1 - gamma)
    flux = (a + rng.uniform(size=n) * (b - a)) ** (1 / (1 - gamma))
    x = rng.uniform(-0.5, nx - 0.5, size=n)
    y = rng.uniform(-0.5, ny - 0.5, size=n)
    resolved = rng.uniform(size=n) < config.compact_resolved_fraction
    beam_fwhm = survey.beam_fwhm_pixels
    fwhm_major = np.where(resolved, rng.uniform(0.3, 1.0, size=n) * beam_fwhm, 0.0)
    fwhm_minor = fwhm_major * rng.uniform(0.4, 1.0, size=n)
    angle = rng.uniform(0, np.pi, size=n)
    return CompactSources(x, y, left_after_subtraction(flux, survey), fwhm_major, fwhm_minor, angle)


def left_after_subtraction(flux, survey):
    """Flux densities (Jy) of compact sources as ``survey``'s image holds them, after any subtraction."""
    flux = np.asarray(flux, dtype=float)
    return np.where(flux > survey.subtraction_limit_jy, flux * SUBTRACTION_RESIDUAL, flux)


def render_compact_sources(sources, sky):
    """Add the sources to ``sky`` (Jy/pixel) in place."""
    point = sources.fwhm_major == 0
    add_point_sources(sky, sources.x[point], sources.y[point], sources.flux[point])
    fwhm_to_sigma = 1.0 / np.sqrt(8.0 * np.log(2.0))
    for i in np.flatnonzero(~point):
        add_gaussian(
            sky, sources.x[i], sources.y[i], sources.flux[i],
            sources.fwhm_major[i] * fwhm_to_sigma, sources.fwhm_minor[i] * fwhm_to_sigma, sources.angle[i],
        )
