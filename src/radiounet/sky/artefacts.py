"""Imaging artefacts of interferometric surveys: stripes and sidelobe rings around bright sources.

Neither is sky emission: both stay out of the mask and the labels (background).

* Stripes: a few plane waves across the field, as left by a badly
  calibrated baseline or radio-frequency interference; wavelengths of 3-30
  beams, any direction.
* Sidelobe rings: concentric rings around a bright source, as left by
  calibration errors on it (direction-dependent errors in LOFAR images),
  of a share of the source's peak, fading with radius.
"""

import numpy as np
import scipy.ndimage

__all__ = ["stripes", "sidelobe_rings"]

_RING_SOURCES = 3
_RING_SOURCE_SNR = 50.0


def stripes(shape, survey, amplitude_rms, rng):
    """Sum of one to three plane waves with an rms of ``amplitude_rms`` times the survey rms, Jy/beam."""
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float32)
    field = np.zeros(shape, dtype=np.float32)
    for _ in range(int(rng.integers(1, 4))):
        wavelength = rng.uniform(3.0, 30.0) * survey.beam_fwhm_pixels
        angle = rng.uniform(0.0, np.pi)
        phase = rng.uniform(0.0, 2 * np.pi)
        field += np.cos(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / wavelength + phase).astype(np.float32)
    field *= amplitude_rms * survey.rms_jy / max(float(field.std()), 1e-12)
    return field


def sidelobe_rings(sources, survey, rng):
    """Rings around the (up to three) brightest sources of ``sources`` above 50 rms, Jy/beam.

    Each ring pattern peaks at 0.2-1% of its source's brightness one ring
    spacing (1.5-4 beams) away and fades as ``exp(-r / L)``, L of 5-20 ring
    spacings. ``sources`` is the noise-free image of the compact sources and
    radio galaxies (Jy/beam): calibration errors ring around bright compact
    emission, not around halos or relics. Sources are its local maxima at
    least two beams apart.
    """
    ny, nx = sources.shape
    out = np.zeros(sources.shape, dtype=np.float32)
    footprint = 2 * int(np.ceil(survey.beam_fwhm_pixels)) + 1
    peaks = (sources == scipy.ndimage.maximum_filter(sources, size=footprint)) & (
        sources > _RING_SOURCE_SNR * survey.rms_jy)
    rows, cols = np.nonzero(peaks)
    order = np.argsort(sources[rows, cols])[::-1][:_RING_SOURCES]
    y, x = np.ogrid[0:ny, 0:nx]
    for y0, x0 in zip(rows[order], cols[order]):
        peak = float(sources[y0, x0])
        spacing = rng.uniform(1.5, 4.0) * survey.beam_fwhm_pixels
        fade = rng.uniform(5.0, 20.0) * spacing
        level = rng.uniform(0.002, 0.01) * peak
        r = np.hypot(x - x0, y - y0).astype(np.float32)
        rings = np.sin(2 * np.pi * r / spacing + rng.uniform(0, 2 * np.pi)) * np.exp(-(r - spacing) / fade)
        rings[r < spacing] = 0.0
        out += (level * rings).astype(np.float32)
    return out
