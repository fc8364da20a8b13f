import astropy.units as u
import numpy as np
import pytest

from radiounet.errors import InvalidParameterError
from radiounet.sky import PRESETS, custom_survey, get_survey


def test_lotss_presets_match_the_survey_papers():
    six = get_survey("lotss-dr2-6")
    assert six.beam.major.to_value(u.arcsec) == pytest.approx(6.0)
    assert six.pixel_arcsec == pytest.approx(1.5)
    assert six.rms.to_value(u.uJy / u.beam) == pytest.approx(83.0)
    assert six.frequency.to_value(u.MHz) == pytest.approx(144.0)
    twenty = get_survey("lotss-dr2-20")
    assert twenty.beam.major.to_value(u.arcsec) == pytest.approx(20.0)
    assert set(PRESETS) >= {"lotss-dr2-6", "lotss-dr2-20"}


def test_beam_area_in_pixels_is_the_gaussian_solid_angle():
    survey = custom_survey("test", 10 * u.arcsec, 2 * u.arcsec, 1 * u.mJy / u.beam, 1 * u.GHz, bmin=5 * u.arcsec)
    expected = np.pi / (4 * np.log(2)) * 10 * 5 / 2**2
    assert survey.beam_area_pixels == pytest.approx(expected, rel=1e-6)


def test_custom_survey_accepts_other_units():
    survey = custom_survey("x", 0.1 * u.arcmin, 1.5 * u.arcsec, 0.05 * u.mJy / u.beam, 1.4 * u.GHz)
    assert survey.beam.major.to_value(u.arcsec) == pytest.approx(6.0)
    assert survey.rms_jy == pytest.approx(5e-5)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(rms=-1 * u.uJy / u.beam), "rms"),
        (dict(rms=0 * u.uJy / u.beam), "rms"),
        (dict(bmaj=1 * u.arcsec), "beam"),
        (dict(pixel_scale=-1 * u.arcsec), "pixel_scale"),
        (dict(frequency=np.nan * u.MHz), "frequency"),
        (dict(rms=5 * u.arcsec), "rms"),
    ],
)
def test_invalid_survey_parameters_are_named(kwargs, name):
    spec = dict(bmaj=6 * u.arcsec, pixel_scale=1.5 * u.arcsec, rms=83 * u.uJy / u.beam, frequency=144 * u.MHz)
    spec.update(kwargs)
    with pytest.raises(InvalidParameterError) as info:
        custom_survey("bad", **spec)
    assert info.value.name == name
    assert name in str(info.value)


def test_beam_smaller_than_a_pixel_is_refused_with_a_reason():
    with pytest.raises(InvalidParameterError, match="smaller than a pixel"):
        custom_survey("bad", 1 * u.arcsec, 1.5 * u.arcsec, 83 * u.uJy / u.beam, 144 * u.MHz)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(InvalidParameterError, match="lotss-dr2-6"):
        get_survey("nvss")
