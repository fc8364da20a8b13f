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


def sidelobe_rings(image, survey, rng):
    """Rings around the (up to three) brightest peaks of ``image`` above 50 rms, Jy/beam.

    Each ring pattern peaks at 0.2-1% of its source's brightness one ring
    spacing (1.5-4 beams) away and fades as ``exp(-r / L)``, L of 5-20 ring
    spacings. ``image`` is the noise-free image (Jy/beam).
    """
    ny, nx = image.shape
    out = np.zeros(image.shape, dtype=np.float32)
    threshold = _RING_SOURCE_SNR * survey.rms_jy
    flat = np.argsort(image, axis=None)[::-1]
    taken = []
    spacing_min = 2 * survey.beam_fwhm_pixels
    for index in flat[: 50 * _RING_SOURCES]:
        peak = float(image.flat[index])
        if peak < threshold or len(taken) == _RING_SOURCES:
            break
        y0, x0 = divmod(int(index), nx)
        if any(np.hypot(x0 - x1, y0 - y1) < spacing_min for x1, y1 in taken):
            continue
        taken.append((x0, y0))
        spacing = rng.uniform(1.5, 4.0) * survey.beam_fwhm_pixels
        fade = rng.uniform(5.0, 20.0) * spacing
        level = rng.uniform(0.002, 0.01) * peak
        y, x = np.ogrid[0:ny, 0:nx]
        r = np.hypot(x - x0, y - y0).astype(np.float32)
        rings = np.sin(2 * np.pi * r / spacing + rng.uniform(0, 2 * np.pi)) * np.exp(-(r - spacing) / fade)
        rings[r < spacing] = 0.0
        out += (level * rings).astype(np.float32)
    return out
