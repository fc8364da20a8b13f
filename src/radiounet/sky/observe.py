"""Observe a sky model: convolution with the survey beam, beam-correlated noise, and noise correlated wider.

Images are in Jy/beam; sky models in Jy/pixel. A point source of flux
density S in the sky model peaks at S Jy/beam after :func:`convolve_with_beam`,
because the beam kernel is normalised to a peak of one.
"""

import numpy as np
import scipy.fft

__all__ = ["beam_covariance", "beam_transfer", "convolve_with_beam", "correlated_noise", "wide_correlated_noise",
           "CORRELATED_NOISE_SCALE"]

#: Smoothing (sigma, in beam FWHM) of the stand-in for the correlated noise of real images.
CORRELATED_NOISE_SCALE = 1.5


def beam_covariance(survey):
    """2x2 covariance matrix (pixels^2) of the beam's Gaussian in the pixel frame."""
    sigma_major, sigma_minor = survey.beam_sigmas_pixels()
    angle = np.pi / 2 + survey.beam.pa.to_value("rad")
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return rotation @ np.diag([sigma_major**2, sigma_minor**2]) @ rotation.T


def beam_transfer(shape, survey):
    """Discrete Fourier transform (``rfft2`` layout) of the peak-one beam kernel.

    The transform of a Gaussian is analytic, so no kernel array is built and
    the kernel is exactly centred.
    """
    cov = beam_covariance(survey)
    ky = scipy.fft.fftfreq(shape[0])[:, None]
    kx = scipy.fft.rfftfreq(shape[1])[None, :]
    quad = cov[0, 0] * kx**2 + 2 * cov[0, 1] * kx * ky + cov[1, 1] * ky**2
    norm = 2 * np.pi * np.sqrt(np.linalg.det(cov))
    return (norm * np.exp(-2 * np.pi**2 * quad)).astype(np.complex64)


def _padding(survey):
    return int(np.ceil(4 * survey.beam.major.to_value("arcsec") / survey.pixel_arcsec))


def convolve_with_beam(sky, survey):
    """Convolve sky model(s) in Jy/pixel with the beam, giving Jy/beam.

    The sky is zero-padded by four beam FWHM so that emission near one edge
    does not wrap around to the opposite edge.

    Parameters
    ----------
    sky : numpy.ndarray
        ``(ny, nx)`` or a stack ``(n, ny, nx)`` of sky models.
    survey : radiounet.sky.Survey

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape.
    """
    sky = np.asarray(sky, dtype=np.float32)
    ny, nx = sky.shape[-2:]
    pad = _padding(survey)
    padded_shape = (scipy.fft.next_fast_len(ny + 2 * pad, real=True),
                    scipy.fft.next_fast_len(nx + 2 * pad, real=True))
    spectrum = scipy.fft.rfft2(sky, s=padded_shape, workers=1)
    spectrum *= beam_transfer(padded_shape, survey)
    return scipy.fft.irfft2(spectrum, s=padded_shape, workers=1)[..., :ny, :nx].astype(np.float32)


def correlated_noise(shape, survey, rng):
    """Gaussian noise with the survey's rms, correlated on the beam scale.

    White noise convolved with the beam (periodic, so the statistics are the
    same everywhere) and scaled so that the pixel standard deviation is the
    survey rms.
    """
    sigma_major, sigma_minor = survey.beam_sigmas_pixels()
    white = rng.standard_normal(shape, dtype=np.float32)
    smoothed = scipy.fft.irfft2(
        scipy.fft.rfft2(white, workers=1) * beam_transfer(shape, survey), s=shape, workers=1
    )
    # A peak-one Gaussian kernel has sum of squares pi * sigma_major * sigma_minor.
    scale = survey.rms_jy / np.sqrt(np.pi * sigma_major * sigma_minor)
    return (smoothed * scale).astype(np.float32)


def wide_correlated_noise(shape, survey, share, scale_beams, rng):
    """Gaussian noise correlated over a few beams, a stand-in for the noise of real survey images.

    Real survey noise (calibration residuals, sidelobes, sources below the
    confusion limit) stays correlated well beyond the beam. This field is white
    noise smoothed by a Gaussian of ``scale_beams`` beam FWHM (sigma), periodic,
    with an rms of ``sqrt(share / (1 - share))`` times the survey's: added to
    :func:`correlated_noise` it holds ``share`` of the noise variance, and the
    image noise grows by ``1 / sqrt(1 - share)`` (1.2 for 0.3). It is the
    numpy twin of the field that ``radiounet.evaluate.calibrate`` adds to its
    calibration fields.
    """
    sigma = scale_beams * survey.beam_fwhm_pixels
    white = rng.standard_normal(shape, dtype=np.float32)
    ky = scipy.fft.fftfreq(shape[0])[:, None]
    kx = scipy.fft.rfftfreq(shape[1])[None, :]
    transfer = np.exp(-2 * np.pi**2 * sigma**2 * (ky**2 + kx**2))
    smoothed = scipy.fft.irfft2(scipy.fft.rfft2(white, workers=1) * transfer, s=shape, workers=1)
    scale = np.sqrt(share / (1 - share)) * survey.rms_jy / max(float(smoothed.std()), 1e-12)
    return (smoothed * scale).astype(np.float32)
