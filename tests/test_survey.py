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


def test_a_subtracted_image_keeps_the_faint_sources_and_a_residual_of_the_bright_ones():
    from radiounet.sky import SkyConfig
    from radiounet.sky.compact import SUBTRACTION_RESIDUAL, draw_compact_sources

    full = custom_survey("t", 20 * u.arcsec, 5 * u.arcsec, 150 * u.uJy / u.beam, 144 * u.MHz)
    subtracted = custom_survey("t", 20 * u.arcsec, 5 * u.arcsec, 150 * u.uJy / u.beam, 144 * u.MHz,
                               compact_subtracted_above=1 * u.mJy)
    before = draw_compact_sources(np.random.default_rng(3), full, SkyConfig(), (256, 256))
    after = draw_compact_sources(np.random.default_rng(3), subtracted, SkyConfig(), (256, 256))
    bright = before.flux > 1e-3
    assert 10 < bright.sum() < len(before) and np.array_equal(before.x, after.x)
    assert np.array_equal(after.flux[~bright], before.flux[~bright])
    assert np.allclose(after.flux[bright], SUBTRACTION_RESIDUAL * before.flux[bright])
    assert "above 1 mJy subtracted" in subtracted.describe()
    with pytest.raises(InvalidParameterError, match="compact_subtracted_above"):
        custom_survey("t", 20 * u.arcsec, 5 * u.arcsec, 150 * u.uJy / u.beam, 144 * u.MHz,
                      compact_subtracted_above=-1 * u.mJy)


def test_the_60_arcsec_taper_is_compact_subtracted_so_that_its_sky_is_not_confused():
    """Tapers for diffuse emission are made after subtracting the sources of the full-resolution image; unsubtracted,
    a 60" beam at 400 uJy/beam holds about 0.4 sources above half the rms and most pixels are labelled compact."""
    from dataclasses import replace

    from radiounet.sky import FieldConfig, SkyConfig, field_rng, simulate_field
    from radiounet.sky.labels import CLASS_NAMES

    taper = get_survey("lotss-dr2-60")
    assert taper.compact_subtracted_above.to_value(u.mJy) == pytest.approx(5 * 0.083)
    sky = SkyConfig(fraction_diffuse=0.0, fraction_radio_galaxies=0.0)
    compact = {}
    for name, survey in (("subtracted", taper), ("confused", replace(taper, compact_subtracted_above=None))):
        field = simulate_field(FieldConfig(survey, shape=(192, 192), sky=sky), field_rng(5, 0))
        compact[name] = np.mean(field.labels == CLASS_NAMES.index("compact"))
    assert compact["subtracted"] < 0.2 < 0.35 < compact["confused"]
    assert all(get_survey(name).compact_subtracted_above is None for name in PRESETS if name != "lotss-dr2-60")
