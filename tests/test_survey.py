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


@pytest.mark.parametrize("name, beam, pixel, rms, frequency", [
    ("lotss-dr2-60", 60.0, 15.0, 400.0, 144.0),
    ("meerkat-mgcls", 7.5, 1.2, 3.0, 1283.0),
])
def test_taper_and_meerkat_presets(name, beam, pixel, rms, frequency):
    survey = get_survey(name)
    assert survey.beam.major.to_value(u.arcsec) == pytest.approx(beam)
    assert survey.pixel_arcsec == pytest.approx(pixel)
    assert survey.rms.to_value(u.uJy / u.beam) == pytest.approx(rms)
    assert survey.frequency.to_value(u.MHz) == pytest.approx(frequency)
    # Sampled as the surveys' images are: 4 pixels per beam for the taper, 6.25 for MeerKAT's 1.2" pixels.
    assert survey.beam_fwhm_pixels == pytest.approx(beam / pixel)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_simulates_a_field_with_its_noise(name):
    from radiounet.sky import FieldConfig, SkyConfig, field_rng, simulate_field

    survey = get_survey(name)
    sky = SkyConfig(fraction_diffuse=0.0, fraction_radio_galaxies=0.0, compact_density_per_deg2=1e-3)
    field = simulate_field(FieldConfig(survey, shape=(128, 128), sky=sky), field_rng(1, 0))
    assert field.image.std() / survey.rms_jy == pytest.approx(1.0, rel=0.25)
    assert field.wcs.wcs.cdelt[1] * 3600 == pytest.approx(survey.pixel_arcsec)


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
