"""The mask rule: diffuse emission (halos, relics) above a threshold in rms units, never anything else."""

import numpy as np
import pytest
import scipy.fft

from radiounet.sky import CLASS_NAMES, FieldConfig, SkyConfig, field_rng, simulate_field
from radiounet.sky.labels import class_labels, diffuse_mask, labelled_snr
from radiounet.sky.observe import beam_transfer, convolve_with_beam, correlated_noise


def test_mask_and_labels_on_hand_made_layers():
    layers = np.zeros((4, 3, 4), np.float32)  # halo, relic, radio galaxy, compact
    layers[0, 0, :] = [0.4, 0.6, 2.0, 0.0]
    layers[1, 0, :] = [0.2, 0.0, 0.0, 0.0]
    layers[2, 1, :] = [1.0, 0.0, 3.0, 0.0]
    layers[3, 2, :] = [0.0, 0.7, 0.0, 0.0]
    layers[0, 1, 2] = 2.5  # halo under a brighter radio galaxy: diffuse first
    mask = diffuse_mask(layers, 0.5)
    assert mask.tolist() == [[True, True, True, False], [False, False, True, False], [False, False, False, False]]
    labels = class_labels(layers, 0.5)
    names = [[CLASS_NAMES[v] for v in row] for row in labels]
    assert names == [
        ["halo", "halo", "halo", "background"],
        ["radio_galaxy", "background", "halo", "background"],
        ["background", "compact", "background", "background"],
    ]


def test_brightest_rule_gives_a_masked_pixel_to_a_brighter_galaxy_or_compact_source():
    layers = np.zeros((4, 1, 5), np.float32)  # halo, relic, radio galaxy, compact
    layers[0, 0] = [1.0, 1.0, 1.0, 1.0, 0.0]
    layers[1, 0] = [0.0, 0.5, 0.0, 0.0, 0.0]
    layers[2, 0] = [2.0, 1.2, 0.5, 0.0, 2.0]
    layers[3, 0] = [0.0, 0.0, 0.0, 3.0, 0.0]
    reference, brightest = (class_labels(layers, 0.5, rule)[0] for rule in ("mask", "brightest"))
    assert [CLASS_NAMES[v] for v in reference] == ["halo", "halo", "halo", "halo", "radio_galaxy"]
    # 1.2 does not outshine halo + relic (1.5): the pixel stays diffuse
    assert [CLASS_NAMES[v] for v in brightest] == ["radio_galaxy", "halo", "halo", "compact", "radio_galaxy"]
    with pytest.raises(ValueError, match="label_rule.*mask, brightest"):
        class_labels(layers, 0.5, "dominant")


def test_brightest_rule_keeps_the_mask_and_the_labels_outside_it(nearby_diffuse_config):
    from dataclasses import replace

    from radiounet.errors import InvalidParameterError

    sky = replace(nearby_diffuse_config.sky, radio_galaxies_mean=3.0, radio_galaxy_snr=(20.0, 50.0))
    config = replace(nearby_diffuse_config, sky=sky)
    reference = simulate_field(config, field_rng(14, 0))
    brightest = simulate_field(replace(config, label_rule="brightest"), field_rng(14, 0))
    assert np.array_equal(brightest.image, reference.image) and np.array_equal(brightest.mask, reference.mask)
    assert np.array_equal(brightest.labels[~reference.mask], reference.labels[~reference.mask])
    changed = brightest.labels != reference.labels
    assert changed.any()
    assert np.isin(brightest.labels[changed], [CLASS_NAMES.index("radio_galaxy"), CLASS_NAMES.index("compact")]).all()
    assert replace(config, label_rule="brightest").to_dict()["label_rule"] == "brightest"
    with pytest.raises(InvalidParameterError, match="label_rule"):
        replace(config, label_rule="dominant")


def _layers(field):
    """Re-render the field's components into noise-free convolved class layers."""
    from radiounet.sky.field import _RENDERERS

    layers = np.zeros((4,) + field.image.shape, np.float32)
    for component in field.components:
        kind = component.kind
        index = {"halo": 0, "relic": 1, "radio_galaxy": 2}[kind]
        _RENDERERS[kind](component, layers[index], field.config.survey)
    return convolve_with_beam(layers, field.config.survey)


def test_simulated_mask_follows_the_rule_and_holds_no_radio_galaxy(nearby_diffuse_config):
    sky = SkyConfig(fraction_diffuse=1.0, fraction_radio_galaxies=0.0, redshift=(0.15, 0.3),
                    halo_snr=(5.0, 10.0), relic_snr=(5.0, 10.0), radio_galaxies_mean=3.0)
    config = FieldConfig(nearby_diffuse_config.survey, shape=(384, 384), sky=sky)
    for index in range(4):
        field = simulate_field(config, field_rng(11, index))
        layers = _layers(field)
        threshold = config.mask_threshold * config.survey.rms_jy
        expected = (layers[0] + layers[1]) > threshold
        assert np.array_equal(field.mask, expected)
        assert np.array_equal(np.isin(field.labels, [1, 2]), field.mask)
        assert field.mask.any()
        only_galaxy = (layers[2] > threshold) & (layers[0] + layers[1] < 1e-3 * threshold)
        assert not (field.mask & only_galaxy).any()


@pytest.mark.parametrize("fraction_radio_galaxies", [1.0, 0.0])
def test_fields_without_diffuse_emission_have_an_empty_mask(lotss, fraction_radio_galaxies):
    config = FieldConfig(lotss, shape=(256, 256), sky=SkyConfig(
        fraction_diffuse=0.0, fraction_radio_galaxies=fraction_radio_galaxies, radio_galaxy_snr=(20.0, 50.0)))
    for index in range(3):
        field = simulate_field(config, field_rng(12, index))
        assert field.field_type == ("radio_galaxies" if fraction_radio_galaxies else "empty")
        assert not field.mask.any()
        present = set(np.unique(field.labels).tolist())
        assert CLASS_NAMES.index("compact") in present
        assert present.isdisjoint({CLASS_NAMES.index("halo"), CLASS_NAMES.index("relic")})
        if fraction_radio_galaxies:
            assert CLASS_NAMES.index("radio_galaxy") in present


def test_mask_threshold_is_in_units_of_the_noise(nearby_diffuse_config):
    from dataclasses import replace

    low = simulate_field(replace(nearby_diffuse_config, mask_threshold=0.5), field_rng(13, 0))
    high = simulate_field(replace(nearby_diffuse_config, mask_threshold=3.0), field_rng(13, 0))
    assert high.mask.sum() < low.mask.sum()
    assert not (high.mask & ~low.mask).any()


def test_labelled_snr_is_the_sum_over_the_noise_of_a_sum_of_beam_correlated_pixels(lotss):
    """The SNR of a halo as a whole is the emission's sum over rms * sqrt(n * beam area), the scatter of a sum of n
    pixels in an image whose noise is correlated over the beam; the simulator's noise (white noise convolved with
    the beam) is correlated over twice that area, so that its sums over several beams scatter more, up to sqrt(2)
    times: there the SNR is an upper bound."""
    yy, xx = np.mgrid[:128, :128]
    disc = (yy - 64) ** 2 + (xx - 64) ** 2 <= 20 ** 2
    sigma_major, sigma_minor = lotss.beam_sigmas_pixels()
    weights = scipy.fft.irfft2(scipy.fft.rfft2(disc.astype(float)) * beam_transfer(disc.shape, lotss), s=disc.shape)
    exact = lotss.rms_jy / np.sqrt(np.pi * sigma_major * sigma_minor) * np.sqrt(np.sum(weights ** 2))
    rng = np.random.default_rng(5)
    sums = [correlated_noise((128, 128), lotss, rng)[disc].sum() for _ in range(300)]
    assert np.std(sums) == pytest.approx(exact, rel=0.15)
    expected = lotss.rms_jy * np.sqrt(disc.sum() * lotss.beam_area_pixels)
    assert expected < exact < np.sqrt(2) * expected

    layers = np.zeros((4, 128, 128), np.float32)
    layers[0][disc] = 0.1 * lotss.rms_jy
    labels = np.where(disc, CLASS_NAMES.index("halo"), 0)
    snr = labelled_snr(layers, labels, lotss.rms_jy, lotss.beam_area_pixels)
    assert snr["halo"] == pytest.approx(0.1 * lotss.rms_jy * disc.sum() / expected)
    assert np.isnan(snr["relic"])


def test_a_field_gives_the_snr_of_its_halo_and_relics(nearby_diffuse_config, lotss):
    field = simulate_field(nearby_diffuse_config, field_rng(11, 0))
    layers = _layers(field)
    for kind in ("halo", "relic"):
        where = field.labels == CLASS_NAMES.index(kind)
        if where.any():
            noise = lotss.rms_jy * np.sqrt(where.sum() * lotss.beam_area_pixels)
            expected = (layers[0] + layers[1])[where].sum() / noise
            assert field.diffuse_snr[kind] == pytest.approx(expected, rel=1e-3) and field.diffuse_snr[kind] > 5
        else:
            assert np.isnan(field.diffuse_snr[kind])
    empty = simulate_field(FieldConfig(lotss, shape=(128, 128), sky=SkyConfig(fraction_diffuse=0.0)), field_rng(1, 0))
    assert np.isnan(empty.diffuse_snr["halo"]) and np.isnan(empty.diffuse_snr["relic"])
