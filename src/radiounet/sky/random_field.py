"""Gaussian random fields with a power-law spectrum, for turbulent substructure."""

import numpy as np
import scipy.fft

__all__ = ["gaussian_random_field", "lognormal_modulation"]


def gaussian_random_field(shape, slope, rng, *, min_scale=2.0, max_scale=None, axis_ratio=1.0, angle=0.0):
    """Zero-mean, unit-variance Gaussian random field with power spectrum ``P(k) ~ k**-slope``.

    Parameters
    ----------
    shape : tuple of int
        Output shape ``(ny, nx)``.
    slope : float
        Spectral index of the power spectrum (11/3 for Kolmogorov turbulence).
    rng : `numpy.random.Generator`
        Source of randomness.
    min_scale : float
        Smallest structure in pixels: modes with wavelength below it are removed.
    max_scale : float, optional
        Outer (injection) scale in pixels: the spectrum flattens for
        wavelengths above it, ``P ~ (k**2 + max_scale**-2)**(-slope/2)``.
    axis_ratio : float
        >= 1 stretches structures along ``angle`` by this factor (filaments).
    angle : float
        Direction of the stretch in radians, counter-clockwise from the +x axis.

    Returns
    -------
    numpy.ndarray
        float32 array of the given shape.
    """
    ny, nx = shape
    ky = scipy.fft.fftfreq(ny)[:, None]
    kx = scipy.fft.rfftfreq(nx)[None, :]
    cos, sin = np.cos(angle), np.sin(angle)
    k_along = kx * cos + ky * sin
    k_across = -kx * sin + ky * cos
    k = np.hypot(k_along * axis_ratio, k_across)
    k_outer = 0.0 if max_scale is None else 1.0 / max_scale
    with np.errstate(divide="ignore"):
        amplitude = np.where(k > 0, (k**2 + k_outer**2) ** (-slope / 4.0), 0.0)
    amplitude[k > 1.0 / min_scale] = 0.0
    noise = rng.standard_normal((ny, kx.shape[1])) + 1j * rng.standard_normal((ny, kx.shape[1]))
    field = scipy.fft.irfft2(noise * amplitude, s=shape, workers=1)
    std = field.std()
    if std == 0:
        return np.zeros(shape, dtype=np.float32)
    return ((field - field.mean()) / std).astype(np.float32)


def lognormal_modulation(field, sigma):
    """Mean-one log-normal modulation ``exp(sigma g - sigma^2 / 2)`` of a unit Gaussian field ``g``."""
    return np.exp(sigma * field - 0.5 * sigma**2).astype(np.float32)
