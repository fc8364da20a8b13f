"""The detection ratio R: exact pixel counts for known maps."""

import astropy.units as u
import numpy as np
import pytest

from radiounet.detect.aperture import aperture_ratio


@pytest.mark.parametrize("radius, expected", [(0.5, 1), (1, 5), (1.5, 9), (2, 13), (3, 29), (10, 317)])
def test_pixel_counts_of_circles_centred_on_a_pixel(radius, expected):
    # Gauss circle problem: lattice points with x^2 + y^2 <= r^2.
    result = aperture_ratio(np.zeros((41, 41)), 20, 20, radius)
    assert result.n_pixels == expected and result.n_expected == expected and result.coverage == 1.0


def test_ratio_is_the_mean_probability_in_the_circle():
    probability = np.zeros((50, 50))
    probability[20:30, 20:30] = 1.0  # 100 pixels of 1 inside a circle of 317 pixels
    result = aperture_ratio(probability, 25, 25, 10)
    assert result.ratio == pytest.approx(100 / 317)


def test_blank_and_outside_pixels_reduce_the_coverage_not_the_ratio():
    probability = np.full((41, 41), 0.2)
    probability[:, :20] = np.nan  # the left half is blank
    result = aperture_ratio(probability, 20, 20, 3)
    assert result.n_expected == 29 and result.n_pixels == 29 - 11  # columns dx = -1, -2, -3 hold 5 + 5 + 1
    assert result.ratio == pytest.approx(0.2) and result.coverage == pytest.approx(18 / 29)
    corner = aperture_ratio(np.ones((10, 10)), 0, 0, 2)
    assert corner.n_pixels == 6 and corner.coverage == pytest.approx(6 / 13)
    outside = aperture_ratio(np.ones((10, 10)), 50, 50, 2)
    assert outside.n_pixels == 0 and np.isnan(outside.ratio) and outside.coverage == 0


def test_a_circle_under_a_pixel_takes_the_pixel_holding_its_centre():
    probability = np.zeros((10, 10))
    probability[4, 6] = 0.7
    result = aperture_ratio(probability, 6.3, 3.6, 0.2)  # no pixel centre within 0.2 pixels of (6.3, 3.6)
    assert result.n_pixels == result.n_expected == 1 and result.ratio == pytest.approx(0.7)
    assert result.coverage == 1.0


def test_the_aperture_takes_pixels_and_refuses_what_is_not_a_circle_of_pixels():
    probability = np.ones((11, 11))
    assert aperture_ratio(probability, 5 * u.pix, 5 * u.pix, 1 * u.pix) == aperture_ratio(probability, 5, 5, 1)
    with pytest.raises(TypeError, match="radius is in pixels.*not one in arcsec"):
        aperture_ratio(probability, 5, 5, 30 * u.arcsec)
    with pytest.raises(ValueError, match="radius must be at least 0"):
        aperture_ratio(probability, 5, 5, -2)
    with pytest.raises(ValueError, match="x must be finite"):
        aperture_ratio(probability, np.nan, 5, 2)
