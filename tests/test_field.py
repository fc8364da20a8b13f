"""Whole fields: WCS, determinism, field-type fractions, truth."""

from collections import Counter

import astropy.units as u
import numpy as np
import pytest
from astropy.wcs.utils import proj_plane_pixel_scales

from radiounet.errors import InvalidParameterError
from radiounet.sky import FieldConfig, SkyConfig, field_rng, simulate_field


def test_wcs_is_celestial_with_the_survey_pixel_scale_and_north_up(small_config):
    field = simulate_field(small_config, field_rng(1, 0))
    wcs = field.wcs
    assert wcs.has_celestial
    scales = proj_plane_pixel_scales(wcs) * 3600
    assert scales == pytest.approx([1.5, 1.5])
    centre = wcs.pixel_to_world(127.5, 127.5)
    assert centre.ra.deg == pytest.approx(wcs.wcs.crval[0])
    assert centre.dec.deg == pytest.approx(wcs.wcs.crval[1])
    # North up, east left: one pixel up increases Dec, one pixel right decreases RA.
    up = wcs.pixel_to_world(127.5, 128.5)
    right = wcs.pixel_to_world(128.5, 127.5)
    assert (up.dec - centre.dec).to_value(u.arcsec) == pytest.approx(1.5, rel=1e-3)
    assert centre.separation(right).to_value(u.arcsec) == pytest.approx(1.5, rel=1e-3)
    assert centre.position_angle(right).to_value(u.deg) == pytest.approx(270, abs=0.1)


def test_same_seed_same_field_and_other_seed_other_field(small_config):
    a = simulate_field(small_config, field_rng(7, 3))
    b = simulate_field(small_config, field_rng(7, 3))
    c = simulate_field(small_config, field_rng(8, 3))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.image, c.image)


def test_field_type_fractions_follow_the_configuration(lotss):
    sky = SkyConfig(fraction_diffuse=0.5, fraction_radio_galaxies=0.3)
    config = FieldConfig(lotss, shape=(64, 64), sky=sky)
    counts = Counter(simulate_field(config, field_rng(3, i)).field_type for i in range(300))
    assert counts["diffuse"] / 300 == pytest.approx(0.5, abs=0.09)
    assert counts["radio_galaxies"] / 300 == pytest.approx(0.3, abs=0.08)
    assert counts["empty"] / 300 == pytest.approx(0.2, abs=0.07)


def test_diffuse_fields_hold_the_components_they_report(nearby_diffuse_config):
    for index in range(5):
        field = simulate_field(nearby_diffuse_config, field_rng(4, index))
        kinds = {c.kind for c in field.components}
        assert kinds & {"halo", "relic"}
        for c in field.components:
            # The mask covers each bright halo and relic at the position the truth gives.
            assert field.mask[int(round(c.y)), int(round(c.x))] or c.kind == "relic"
        assert 0.15 <= field.cluster.z <= 0.3


def test_image_noise_is_the_survey_rms_in_empty_fields(lotss):
    config = FieldConfig(lotss, shape=(512, 512), sky=SkyConfig(fraction_diffuse=0.0, fraction_radio_galaxies=0.0))
    field = simulate_field(config, field_rng(5, 0))
    # Sources add a positive tail; the median absolute deviation sees the noise.
    mad_rms = 1.4826 * np.median(np.abs(field.image - np.median(field.image)))
    assert mad_rms == pytest.approx(lotss.rms_jy, rel=0.1)


def test_correlated_noise_holds_its_share_of_the_variance_over_a_few_beams_and_keeps_the_truth(lotss):
    """The stand-in for real noise: sqrt(1 / (1 - share)) times the rms, correlated well beyond the beam."""
    from dataclasses import replace

    white = FieldConfig(lotss, shape=(512, 512), sky=SkyConfig(fraction_diffuse=0.0, fraction_radio_galaxies=0.0))
    plain = simulate_field(white, field_rng(5, 0))
    real_like = simulate_field(replace(white, correlated_noise=0.3), field_rng(5, 0))
    assert np.array_equal(plain.labels, real_like.labels) and np.array_equal(plain.mask, real_like.mask)
    added = real_like.image - plain.image
    assert added.std() == pytest.approx(np.sqrt(0.3 / 0.7) * lotss.rms_jy, rel=0.01)
    lag = int(round(2 * lotss.beam_fwhm_pixels))

    def correlation_at_two_beams(image):
        centred = image - image.mean()
        return float(np.mean(centred[:, lag:] * centred[:, :-lag]) / centred.var())

    assert correlation_at_two_beams(plain.image - np.median(plain.image)) < 0.05 < 0.2 < correlation_at_two_beams(added)
    assert replace(white, correlated_noise=0.3).to_dict()["correlated_noise"] == 0.3


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(shape=(8, 8)), "size"),
        (dict(shape=(100000, 100)), "size"),
        (dict(shape=(100.5, 100)), "size"),
        (dict(mask_threshold=-1.0), "mask_threshold"),
        (dict(correlated_noise=0.95), "correlated_noise"),
        (dict(correlated_noise_scale=0.0), "correlated_noise_scale"),
        (dict(sky=None), None),
    ],
)
def test_invalid_field_configuration_is_named(lotss, kwargs, name):
    if name is None:
        with pytest.raises(InvalidParameterError, match="fraction_diffuse"):
            SkyConfig(fraction_diffuse=0.8, fraction_radio_galaxies=0.5)
        with pytest.raises(InvalidParameterError, match="redshift"):
            SkyConfig(redshift=(0.5, 0.1))
        return
    with pytest.raises(InvalidParameterError) as info:
        FieldConfig(lotss, **kwargs)
    assert info.value.name == name


def test_interferometric_mode_gives_a_restored_image_with_the_same_truth(lotss):
    from dataclasses import replace

    sky = SkyConfig(fraction_diffuse=1.0, fraction_radio_galaxies=0.0, redshift=(0.2, 0.3), halo_snr=(10, 20))
    plain = FieldConfig(lotss, shape=(192, 192), sky=sky)
    interferometric = replace(plain, interferometric=True)
    a = simulate_field(plain, field_rng(6, 0))
    b = simulate_field(interferometric, field_rng(6, 0))
    assert np.array_equal(a.mask, b.mask) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.image, b.image)
    # Same sky: the two images agree where the emission is bright.
    bright = a.image > 10 * lotss.rms_jy
    assert bright.any()
    assert np.corrcoef(a.image[bright], b.image[bright])[0, 1] > 0.8
