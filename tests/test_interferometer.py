import numpy as np
import pytest
import scipy.fft

from radiounet.errors import InvalidParameterError
from radiounet.sky.interferometer import (
    InterferometricImages,
    observe_interferometric,
    uv_coverage,
)
from radiounet.sky.observe import convolve_with_beam
from radiounet.sky.survey import get_survey

SHAPE = (128, 128)


@pytest.fixture(scope="module")
def survey():
    return get_survey("lotss-dr2-6")


@pytest.fixture(scope="module")
def point_source(survey):
    sky = np.zeros(SHAPE)
    sky[70, 50] = 0.010
    return observe_interferometric(sky, survey, np.random.default_rng(3))


def _fwhm(profile, centre):
    """Width at half maximum of a peaked 1-D profile, interpolated linearly."""
    def half_width(side):
        i = np.argmax(side < 0.5)
        return i - 1 + (side[i - 1] - 0.5) / (side[i - 1] - side[i])
    return half_width(profile[centre:]) + half_width(profile[centre::-1])


def test_uv_coverage_layout(survey):
    weights = uv_coverage(SHAPE, survey, np.random.default_rng(0))
    assert weights.shape == (SHAPE[0], SHAPE[1] // 2 + 1)
    assert weights.dtype == np.float32
    assert np.all(weights >= 0)
    assert 0 < np.count_nonzero(weights) < weights.size
    psf = scipy.fft.irfft2(weights, s=SHAPE)
    assert psf[0, 0] == pytest.approx(1.0, rel=1e-5)
    # Both (u, v) and (-u, -v) are sampled, so the dirty beam is point-symmetric.
    np.testing.assert_allclose(psf, np.roll(psf[::-1, ::-1], (1, 1), axis=(0, 1)), atol=1e-6)


def test_psf_peak_at_centre_with_sidelobes(point_source):
    psf = point_source.psf
    assert psf.shape == SHAPE and psf.dtype == np.float32
    centre = (SHAPE[0] // 2, SHAPE[1] // 2)
    assert psf[centre] == pytest.approx(1.0, rel=1e-5)
    assert np.unravel_index(np.argmax(psf), SHAPE) == centre
    far = np.ones(SHAPE, dtype=bool)
    far[centre[0] - 10:centre[0] + 11, centre[1] - 10:centre[1] + 11] = False
    assert psf.min() < -0.005
    assert np.abs(psf[far]).max() > 0.01


def test_psf_main_lobe_matches_survey_beam(point_source, survey):
    psf = point_source.psf
    cy, cx = SHAPE[0] // 2, SHAPE[1] // 2
    beam_fwhm = survey.beam.major.to_value("arcsec") / survey.pixel_arcsec
    assert _fwhm(psf[cy], cx) == pytest.approx(beam_fwhm, rel=0.15)
    assert _fwhm(psf[:, cx], cy) == pytest.approx(beam_fwhm, rel=0.15)


def test_point_source_restored_at_its_flux(point_source):
    assert isinstance(point_source, InterferometricImages)
    restored = point_source.restored
    assert restored.shape == SHAPE and restored.dtype == np.float32
    assert np.unravel_index(np.argmax(restored), SHAPE) == (70, 50)
    assert restored[70, 50] == pytest.approx(0.010, rel=0.1)
    assert point_source.model.sum() == pytest.approx(0.010, rel=0.1)


def test_restored_is_restored_model_plus_residual(point_source, survey):
    expected = convolve_with_beam(point_source.model, survey) + point_source.residual
    np.testing.assert_allclose(point_source.restored, expected, atol=1e-7)


def test_clean_stops_at_threshold(point_source, survey):
    threshold = 3.0 * survey.rms_jy
    assert np.abs(point_source.dirty).max() > 10 * threshold
    assert np.abs(point_source.residual).max() <= threshold * (1 + 1e-5)
    assert 0 < point_source.n_iterations < 2000


def test_clean_stops_at_max_iterations(survey):
    sky = np.zeros(SHAPE)
    sky[40, 90] = 0.05
    images = observe_interferometric(sky, survey, np.random.default_rng(1), max_iterations=7)
    assert images.n_iterations == 7
    assert np.count_nonzero(images.model) >= 1
    untouched = observe_interferometric(sky, survey, np.random.default_rng(1), max_iterations=0)
    assert untouched.n_iterations == 0
    assert not untouched.model.any()
    np.testing.assert_array_equal(untouched.residual, untouched.dirty)


def test_noise_rms_of_empty_sky(survey):
    images = observe_interferometric(np.zeros((192, 192)), survey, np.random.default_rng(5))
    assert images.restored.std() == pytest.approx(survey.rms_jy, rel=0.15)


def test_same_seed_same_images_other_seed_different(survey):
    sky = np.zeros(SHAPE)
    sky[30, 30] = 0.005
    first = observe_interferometric(sky, survey, np.random.default_rng(11))
    again = observe_interferometric(sky, survey, np.random.default_rng(11))
    other = observe_interferometric(sky, survey, np.random.default_rng(12))
    for name in ("restored", "residual", "dirty", "psf", "model"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert first.n_iterations == again.n_iterations
    assert not np.array_equal(first.dirty, other.dirty)
    assert not np.array_equal(first.psf, other.psf)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n_stations=2),
        dict(n_stations=10.0),
        dict(hour_angle_hours=0.0),
        dict(hour_angle_hours=25.0),
        dict(declination_deg=90.5),
        dict(declination_deg=-91.0),
        dict(declination_deg=float("nan")),
        dict(n_times=0),
        dict(robust=2.5),
        dict(clean_gain=0.0),
        dict(clean_gain=1.5),
        dict(clean_threshold_sigma=-1.0),
        dict(max_iterations=-1),
        dict(max_iterations=10.5),
    ],
)
def test_bad_parameters_raise(survey, kwargs):
    with pytest.raises(InvalidParameterError) as info:
        observe_interferometric(np.zeros(SHAPE), survey, np.random.default_rng(0), **kwargs)
    assert info.value.name == next(iter(kwargs))


@pytest.mark.parametrize(
    "sky",
    [np.zeros(16), np.zeros((2, 16, 16)), np.full((16, 16), np.nan)],
    ids=["1-d", "3-d", "nan"],
)
def test_bad_sky_raises(survey, sky):
    with pytest.raises(InvalidParameterError, match="sky"):
        observe_interferometric(sky, survey, np.random.default_rng(0))


def test_uv_coverage_bad_shape_raises(survey):
    with pytest.raises(InvalidParameterError, match="shape"):
        uv_coverage((64,), survey, np.random.default_rng(0))
    with pytest.raises(InvalidParameterError, match="n_stations"):
        uv_coverage(SHAPE, survey, np.random.default_rng(0), n_stations=1)
