"""The randomised training sky: surveys drawn per field, more morphology families, artefacts, and their config."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from radiounet.errors import InvalidParameterError, RadioUNetError
from radiounet.data.datasets import SyntheticFieldDataset
from radiounet.sky import FieldConfig, SkyConfig, field_rng, get_survey, simulate_field
from radiounet.sky.artefacts import sidelobe_rings, stripes
from radiounet.sky.labels import CLASS_NAMES
from radiounet.sky.survey_distribution import SurveyDistribution, draw_observation
from radiounet.train import loop
from radiounet.train.config import load_config, sky_config, survey_distribution
from radiounet.train.data import build_datasets


def test_drawn_surveys_span_the_asked_beams_samplings_and_frequencies():
    distribution = SurveyDistribution()
    draws = [draw_observation(np.random.default_rng(i), distribution) for i in range(300)]
    bmaj = np.array([d.survey.beam.major.to("arcsec").value for d in draws])
    bmin = np.array([d.survey.beam.minor.to("arcsec").value for d in draws])
    sampling = np.sqrt(bmaj * np.array([d.survey.beam.minor.to("arcsec").value for d in draws])) / np.array(
        [d.survey.pixel_arcsec for d in draws])
    frequency = np.array([d.survey.frequency.to("MHz").value for d in draws])
    assert 5 <= bmaj.min() < 7 and 70 < bmaj.max() <= 90
    # log-uniform: about as many beams under 21" (the geometric middle) as over
    assert 0.4 < np.mean(bmaj < np.sqrt(5 * 90)) < 0.6
    assert np.all(bmin <= bmaj) and np.all(bmin >= 0.6 * bmaj - 1e-9)
    assert np.allclose(sampling, [d.pixels_per_beam for d in draws]) and 3 <= sampling.min() and sampling.max() <= 5
    assert 120 <= frequency.min() < 160 and 1100 < frequency.max() <= 1500
    assert 0 < np.mean([d.stripes > 0 for d in draws]) < 0.4 and 0.15 < np.mean([d.sidelobes for d in draws]) < 0.45
    same = draw_observation(np.random.default_rng(7), distribution)
    assert same.survey == draw_observation(np.random.default_rng(7), distribution).survey


def test_the_drawn_sampling_counts_the_beam_as_predict_does():
    """predict regrids an image to the model's pixels per beam FWHM, the geometric mean of the axes."""
    from astropy.wcs import WCS

    from radiounet.io.image import RadioImage

    for seed in range(10):
        drawn = draw_observation(np.random.default_rng(seed), SurveyDistribution(beam_axis_ratio=(0.6, 0.6)))
        wcs = WCS(naxis=2)
        wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
        wcs.wcs.cdelt = [-drawn.survey.pixel_arcsec / 3600, drawn.survey.pixel_arcsec / 3600]
        image = RadioImage(path="drawn", data=np.zeros((8, 8)), jy_per_unit=1.0, wcs=wcs, beam=drawn.survey.beam,
                           header=wcs.to_header())
        assert image.beam_fwhm_pixels == pytest.approx(drawn.pixels_per_beam)


@pytest.mark.parametrize("kwargs", [dict(beam_arcsec=(10.0, 5.0)), dict(pixels_per_beam=(1.0, 4.0)),
                                    dict(correlated_noise=(0.0, 0.95)), dict(beam_axis_ratio=(0.5, 1.5)),
                                    dict(stripe_probability=2.0)])
def test_a_bad_survey_distribution_is_refused(kwargs):
    with pytest.raises(InvalidParameterError):
        SurveyDistribution(**kwargs)


def _noise_correlation_at_two_pixels(tiles):
    values = []
    for tile in tiles:
        image = tile["image"][0].numpy() / tile["rms"]
        values.append(np.mean(image[:, 2:] * image[:, :-2]) / np.mean(image * image))
    return float(np.mean(values))


@pytest.mark.parametrize("drawn_sampling", [3.0, 5.0])
def test_fields_drawn_at_other_samplings_reach_the_model_at_its_own(drawn_sampling):
    """Noise of a 4-pixel beam correlates at 0.71 over two pixels; drawn at 3 or 5 pixels per beam (0.54, 0.80)
    and regridded, as predict regrids an image, it must look like 4."""
    empty = SkyConfig(fraction_diffuse=0.0, fraction_radio_galaxies=0.0, compact_density_per_deg2=1e-6)
    distribution = SurveyDistribution(pixels_per_beam=(drawn_sampling, drawn_sampling), beam_axis_ratio=(1.0, 1.0),
                                      correlated_noise=(0.0, 0.0), stripe_probability=0.0, sidelobe_probability=0.0)
    config = FieldConfig(get_survey("lotss-dr2-6"), shape=(96, 96), sky=empty)
    dataset = SyntheticFieldDataset(config, 6, seed=3, tile_size=64, survey_distribution=distribution,
                                    native_beam_pixels=4.0)
    tiles = [dataset[i] for i in range(6)]
    assert all(t["image"].shape == (1, 64, 64) and t["labels"].shape == (64, 64) for t in tiles)
    assert _noise_correlation_at_two_pixels(tiles) == pytest.approx(np.exp(-2 * np.log(2) * 2**2 / 4**2), abs=0.05)
    # The normalising rms is the drawn survey's: the tile's noise has that rms.
    assert np.mean([float(t["image"].std()) / t["rms"] for t in tiles]) == pytest.approx(1.0, abs=0.15)


def test_drawn_survey_tiles_keep_mask_and_labels_together():
    config = load_config(None, ["data.preset='randomised'", "data.pixels_per_beam=4.0", "data.field_size=128",
                                "data.tile_size=64", "data.fraction_diffuse=1.0", "data.fraction_radio_galaxies=0.0",
                                "augment.beam_jitter=[1.0, 1.0]", "augment.pixel_scale_jitter=[1.0, 1.0]",
                                "data.foreground_crop_fraction=1.0"])
    train, validation, survey = build_datasets(config)
    assert survey.beam_fwhm_pixels == pytest.approx(4.0) and survey.name == "randomised"
    diffuse = [CLASS_NAMES.index("halo"), CLASS_NAMES.index("relic")]
    for item in [train[i] for i in range(8)] + [validation[0]]:
        labels, mask = item["labels"].numpy(), item["mask"][0].numpy()
        assert np.array_equal(np.isin(labels, diffuse), mask > 0.5)
    assert any(item["mask"].sum() > 0 for item in (train[i] for i in range(8)))


def test_config_sections_sky_and_survey_reach_the_simulator(tmp_path):
    config = load_config(None, ["sky.relic_tilt_deg=30.0", "sky.halo_profile_index=[0.6, 1.6]",
                                "survey.beam_arcsec=[20.0, 40.0]"])
    assert sky_config(config).relic_tilt_deg == 30.0 and sky_config(config).halo_profile_index == (0.6, 1.6)
    assert survey_distribution(config).beam_arcsec == (20.0, 40.0)
    # The defaults are the simulator's own.
    assert sky_config(load_config(None)) == SkyConfig(fraction_radio_galaxies=0.3, redshift=(0.05, 0.6))


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_every_committed_training_config_loads(path):
    """A recipe in a model card names a config of configs/: it must still be valid."""
    config = load_config(path)
    sky_config(config)
    if config["data"]["preset"] == "randomised":
        assert survey_distribution(config).beam_arcsec[1] >= 60.0


@pytest.mark.parametrize("overrides, message", [
    (["sky.relic_tilt_deg=120.0"], "sky.relic_tilt_deg = 120.0: must lie between 0 and 90"),
    (["sky.halo_axis_ratio=[0.5, 2.0]"], "sky.halo_axis_ratio"),
    (["survey.pixels_per_beam=[1.0, 2.0]"], "survey.pixels_per_beam"),
    (["data.preset='randomised'"], "data.pixels_per_beam is needed with data.preset = 'randomised'"),
    (["sky.halo_snr=[1.0]"], "sky.halo_snr must be like"),
    (["sky.radio_galaxy_subtypes=[['FRI']]"], "sky.radio_galaxy_subtypes must be like"),
    (["data.radio_galaxies_mean=-1.0"], "data.radio_galaxies_mean"),
    (["sky.halo_profile_index=[1.0, 3.0]"], "sky.halo_profile_index"),
    (["data.preset='randomised'", "data.pixels_per_beam=4.0"], "augment.beam_jitter"),
])
def test_bad_sky_and_survey_settings_are_named(overrides, message):
    with pytest.raises(RadioUNetError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(None, overrides)


def _components(sky, n, seed, preset="lotss-dr2-20", shape=(256, 256)):
    config = FieldConfig(get_survey(preset), shape=shape, sky=sky)
    return [simulate_field(config, field_rng(seed, i)) for i in range(n)]


def test_mini_halos_are_small_centred_and_sit_on_a_bright_central_source():
    sky = SkyConfig(fraction_diffuse=1.0, fraction_radio_galaxies=0.0, halo_probability=1.0, relic_probability=0.0,
                    mini_halo_probability=1.0, radio_galaxies_mean=0.0, redshift=(0.05, 0.1))
    for field in _components(sky, 4, 1, preset="lotss-dr2-6"):
        (halo,) = field.components
        assert halo.subtype == "mini-halo" and 15 <= halo.params["re_kpc"] <= 60
        assert (halo.x, halo.y) == (field.cluster.x, field.cluster.y)
        y, x = int(round(halo.y)), int(round(halo.x))
        rms = field.config.survey.rms_jy
        assert field.image[y - 1:y + 2, x - 1:x + 2].max() > 0.5 * halo.params["central_source_snr"] * rms


def test_halos_host_a_central_compact_source_as_often_as_configured():
    sky = dict(fraction_diffuse=1.0, fraction_radio_galaxies=0.0, halo_probability=1.0, relic_probability=0.0,
               radio_galaxies_mean=0.0, redshift=(0.05, 0.1))
    hosting = _components(SkyConfig(halo_central_source_probability=1.0, **sky), 3, 4, preset="lotss-dr2-6")
    for field in hosting:
        (halo,) = field.components
        assert halo.subtype == "exponential"
        y, x = int(round(halo.y)), int(round(halo.x))
        assert field.labels[y, x] == CLASS_NAMES.index("halo")  # the reference labels: the halo's pixel stays halo
        rms = field.config.survey.rms_jy
        assert field.image[y - 1:y + 2, x - 1:x + 2].max() > 0.5 * halo.params["central_source_snr"] * rms
    # Off (the default), the fields of existing configurations keep every byte.
    plain = _components(SkyConfig(**sky), 3, 4, preset="lotss-dr2-6")
    assert all("central_source_snr" not in f.components[0].params for f in plain)
    assert not any(np.array_equal(a.image, b.image) for a, b in zip(hosting, plain))
    explicit = _components(SkyConfig(halo_central_source_probability=0.0, **sky), 3, 4, preset="lotss-dr2-6")
    assert all(np.array_equal(a.image, b.image) for a, b in zip(plain, explicit))


def test_halo_profiles_and_relic_shapes_vary_as_configured():
    sky = SkyConfig(fraction_diffuse=1.0, fraction_radio_galaxies=0.0, radio_galaxies_mean=0.0,
                    halo_probability=1.0, relic_probability=1.0, halo_profile_index=(0.6, 1.6),
                    halo_axis_ratio=(0.35, 0.5), relic_tilt_deg=35.0, relic_symmetric_probability=0.5,
                    relic_curvature=(4.0, 8.0))
    fields = _components(sky, 12, 2)
    halos = [c for f in fields for c in f.components if c.kind == "halo"]
    relics = [c for f in fields for c in f.components if c.kind == "relic"]
    indices = [h.params["profile_index"] for h in halos]
    assert min(indices) >= 0.6 and max(indices) <= 1.6 and np.ptp(indices) > 0.3
    assert all(0.35 <= h.params["axis_ratio"] <= 0.5 for h in halos)
    assert {"arc", "symmetric"} <= {r.subtype for r in relics}
    tilts = [r.params["tilt_deg"] for r in relics]
    assert max(abs(t) for t in tilts) <= 35 and np.std(tilts) > 5
    for r in relics:
        tangential = (r.params["radial_pa_deg"] + 90) % 180
        assert (r.pa_deg - tangential - r.params["tilt_deg"] + 90) % 180 - 90 == pytest.approx(0, abs=1e-6)
        assert r.params["curvature_kpc"] >= 4 * r.params["distance_kpc"] - 1e-6


def test_remnant_radio_galaxies_have_no_core_and_are_labelled_radio_galaxy():
    sky = SkyConfig(fraction_diffuse=0.0, fraction_radio_galaxies=1.0, radio_galaxies_mean=0.0,
                    radio_galaxy_subtypes=("remnant",), radio_galaxy_snr=(10.0, 20.0),
                    radio_galaxy_size_kpc=(400.0, 600.0), redshift=(0.1, 0.2))
    for field in _components(sky, 3, 4):
        (galaxy,) = field.components
        assert galaxy.subtype == "remnant" and galaxy.params["core_snr"] == 0 and galaxy.flux > 0
        assert (field.labels == CLASS_NAMES.index("radio_galaxy")).sum() > 50 and not field.mask.any()


def test_absent_cores_are_drawn_as_often_as_asked():
    sky = SkyConfig(fraction_diffuse=0.0, fraction_radio_galaxies=1.0, radio_galaxies_mean=2.0,
                    radio_galaxy_core_absent_probability=0.5)
    galaxies = [c for f in _components(sky, 20, 5, shape=(96, 96)) for c in f.components]
    assert 0.3 < np.mean([g.params["core_snr"] == 0 for g in galaxies]) < 0.7


def test_default_sky_draws_none_of_the_new_families():
    fields = _components(SkyConfig(fraction_diffuse=0.7, fraction_radio_galaxies=0.3, radio_galaxies_mean=2.0), 20, 6,
                         shape=(128, 128))
    components = [c for f in fields for c in f.components]
    assert {c.subtype for c in components} <= {"exponential", "arc", "FRI", "WAT", "head-tail", "FRII"}
    assert all(c.params["core_snr"] > 0 for c in components if c.kind == "radio_galaxy")


def test_stripes_have_the_asked_rms():
    survey = get_survey("lotss-dr2-20")
    field = stripes((128, 160), survey, 0.2, np.random.default_rng(0))
    assert field.shape == (128, 160) and field.std() == pytest.approx(0.2 * survey.rms_jy, rel=1e-3)


def test_sidelobe_rings_circle_bright_sources_only():
    """Around a source of 1000 rms: nothing inside one ring spacing, rings of 0.2-1% of its peak further out; three
    rings at most, around distinct sources."""
    survey = get_survey("lotss-dr2-6")
    image = np.zeros((200, 200), dtype=np.float32)
    assert not sidelobe_rings(image + 10 * survey.rms_jy, survey, np.random.default_rng(0)).any()
    image[100, 100] = 1000 * survey.rms_jy
    rings = sidelobe_rings(image, survey, np.random.default_rng(0))
    y, x = np.mgrid[0:200, 0:200]
    r = np.hypot(x - 100, y - 100)
    assert not rings[r < 1.5 * survey.beam_fwhm_pixels].any()
    ring = np.abs(rings[(r > 6 * survey.beam_fwhm_pixels) & (r < 12 * survey.beam_fwhm_pixels)])
    assert 0.05 * survey.rms_jy < ring.max() <= 0.01 * 1000 * survey.rms_jy
    many = np.zeros((200, 200), dtype=np.float32)
    many[20:180:40, 20:180:40] = 100 * survey.rms_jy
    rng = np.random.default_rng(1)
    assert np.count_nonzero(sidelobe_rings(many, survey, rng)) > 0


def test_artefacts_stay_out_of_the_mask_and_labels():
    sky = SkyConfig(fraction_diffuse=1.0, fraction_radio_galaxies=0.0, redshift=(0.1, 0.2))
    plain = FieldConfig(get_survey("lotss-dr2-20"), shape=(128, 128), sky=sky)
    with_artefacts = replace(plain, stripes=0.3, sidelobes=True)
    a, b = simulate_field(plain, field_rng(9, 0)), simulate_field(with_artefacts, field_rng(9, 0))
    assert np.array_equal(a.mask, b.mask) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.image, b.image)


def test_a_class_model_can_start_from_the_class_network_of_a_gated_model(tmp_path):
    from radiounet.models.gated import gate_model
    from radiounet.models.store import save_model
    from radiounet.models.unet import UNet, UNetConfig

    # Seeded apart from the training's own initialisation, so that only loaded weights can match.
    torch.manual_seed(123)
    classes, binary = UNet(UNetConfig(out_channels=5, depth=2, width=4)), UNet(UNetConfig(depth=2, width=4))
    gated_path = save_model(tmp_path / "gated.safetensors", gate_model(classes, binary), dict(threshold=0.5))
    config = load_config(None, ["model.depth=2", "model.width=4", "model.out_channels=5", "data.field_size=64",
                                "data.tile_size=32", "data.train_fields=4", "data.val_fields=2", "training.epochs=1",
                                "training.batch_size=2", "training.workers=0", "training.tensorboard=false",
                                "training.learning_rate=1e-12", f"training.init_model='{gated_path}'"])
    train_set, val_set, survey = build_datasets(config)
    result = loop.train(config, tmp_path / "run", datasets=(train_set, val_set), survey=survey, progress=False,
                        init_model=config["training"]["init_model"])
    from safetensors.torch import load_file

    after = load_file(str(result.model_path))
    convolutions = [k for k, v in classes.state_dict().items() if k.endswith("weight") and v.ndim == 4]
    assert all(torch.allclose(after[k], classes.state_dict()[k], atol=1e-6) for k in convolutions)
    assert not torch.allclose(classes.state_dict()["encoder.0.0.weight"][:1],
                              binary.state_dict()["encoder.0.0.weight"][:1])


def test_compact_subtraction_is_drawn_as_often_as_asked_and_changes_nothing_else():
    plain, sometimes, always = (SurveyDistribution(compact_subtracted_probability=p) for p in (0.0, 0.5, 1.0))
    for seed in range(40):
        drawn = draw_observation(np.random.default_rng(seed), always)
        unsubtracted = draw_observation(np.random.default_rng(seed), plain)
        assert unsubtracted.survey.compact_subtracted_above is None
        assert replace(drawn.survey, compact_subtracted_above=None) == unsubtracted.survey
        assert replace(drawn, survey=unsubtracted.survey) == unsubtracted
        # what a 6" image of the same depth detects (5 rms), at the field's frequency and beam
        rms_6 = drawn.survey.rms.to_value("uJy/beam") * 6 / drawn.survey.beam.major.to_value("arcsec")
        assert drawn.survey.compact_subtracted_above.to_value("uJy") == pytest.approx(5 * rms_6)
    share = np.mean([draw_observation(np.random.default_rng(s), sometimes).survey.compact_subtracted_above is not None
                     for s in range(400)])
    assert 0.4 < share < 0.6
    with pytest.raises(InvalidParameterError, match="compact_subtracted_probability"):
        SurveyDistribution(compact_subtracted_probability=1.5)
