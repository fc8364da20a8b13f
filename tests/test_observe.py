import astropy.units as u
import numpy as np
import pytest

from radiounet.sky import custom_survey
from radiounet.sky.observe import convolve_with_beam, correlated_noise
from radiounet.sky.render import add_gaussian, add_point_sources


def test_point_source_peaks_at_its_flux_density_in_jy_per_beam(lotss):
    sky = np.zeros((128, 128), np.float32)
    add_point_sources(sky, [64.0], [40.0], [0.01])
    image = convolve_with_beam(sky, lotss)
    assert image.max() == pytest.approx(0.01, rel=1e-3)
    assert np.unravel_index(image.argmax(), image.shape) == (40, 64)
    # Integrated flux = sum over the image / beam area in pixels.
    assert image.sum() / lotss.beam_area_pixels == pytest.approx(0.01, rel=1e-3)


def test_gaussian_stamp_conserves_flux_and_centroid():
    sky = np.zeros((64, 64), np.float32)
    add_gaussian(sky, 30.3, 20.7, 2.5, 3.0, 1.5, 0.4)
    assert sky.sum() == pytest.approx(2.5, rel=1e-5)
    yy, xx = np.indices(sky.shape)
    assert (sky * xx).sum() / sky.sum() == pytest.approx(30.3, abs=0.01)
    assert (sky * yy).sum() / sky.sum() == pytest.approx(20.7, abs=0.01)


def test_emission_at_one_edge_does_not_wrap_to_the_other(lotss):
    sky = np.zeros((64, 64), np.float32)
    sky[32, 0] = 1.0
    image = convolve_with_beam(sky, lotss)
    assert np.abs(image[:, -8:]).max() < 1e-6


def test_elliptical_beam_is_oriented_east_of_north():
    # PA 90 deg: major axis east-west, i.e. along the pixel x axis.
    survey = custom_survey("t", 12 * u.arcsec, 1 * u.arcsec, 1 * u.mJy / u.beam, 144 * u.MHz,
                           bmin=4 * u.arcsec, bpa=90 * u.deg)
    sky = np.zeros((65, 65), np.float32)
    sky[32, 32] = 1.0
    image = convolve_with_beam(sky, survey)
    along_x = image[32, 32 + 6]  # half the major FWHM away: half power
    along_y = image[32 + 6, 32]
    assert along_x == pytest.approx(0.5, abs=0.02)
    assert along_y < 0.01


def test_noise_has_the_survey_rms_and_is_correlated_on_the_beam_scale(lotss):
    noise = correlated_noise((1024, 1024), lotss, np.random.default_rng(3))
    assert noise.std() == pytest.approx(lotss.rms_jy, rel=0.03)
    assert abs(noise.mean()) < 0.05 * lotss.rms_jy
    # Autocorrelation of beam-smoothed white noise is the beam convolved with itself:
    # at a lag of one FWHM it is 2**-2 = 0.25.
    fwhm = lotss.beam.major.to_value(u.arcsec) / lotss.pixel_arcsec  # 4 pixels
    lag = int(round(fwhm))
    correlation = np.mean(noise[:, :-lag] * noise[:, lag:]) / noise.var()
    assert correlation == pytest.approx(0.25, abs=0.04)
    assert abs(np.mean(noise[:, :-40] * noise[:, 40:]) / noise.var()) < 0.03
