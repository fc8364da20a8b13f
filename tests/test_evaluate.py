"""Evaluation: detections against truth classes (hand-made case, sweep, CLI outputs), held-out synthetic fields."""

import itertools
import json

import astropy.units as u
import numpy as np
import pytest
import torch
from astropy.table import QTable, Table

from radiounet.cli import main
from radiounet.evaluate.detections import binary_metrics, evaluate_detections
from radiounet.evaluate.synthetic import evaluate_synthetic


def _detections():
    # 4 with emission (RH, RR), 3 without (NDE), 1 uncertain (U), 1 not measured.
    return QTable({"name": ["a", "b", "c", "d", "e", "f", "g", "h", "i"],
                   "R": [0.05, 0.03, 0.025, 0.04, 0.02, 0.005, 0.001, 0.03, np.nan],
                   "detected": [True, True, False, True, True, False, False, True, False],
                   "status": ["ok"] * 8 + ["outside_images"]})


TRUTH = {"a": "RH", "b": "RH", "c": "RR", "d": "rr", "e": "NDE", "f": "NDE", "g": "NDE", "h": "U", "i": "RH"}


def test_metrics_of_a_hand_made_case():
    evaluation = evaluate_detections(_detections(), TRUTH, n_bootstrap=200)
    # positives a b c d: detected a b d -> tp 3, fn 1; negatives e f g: e detected -> fp 1, tn 2.
    m = evaluation.metrics
    assert m["n"] == 7 and (m["n_positive"], m["n_negative"]) == (4, 3) and evaluation.n_unmatched == 1
    assert m["accuracy"]["value"] == pytest.approx(5 / 7)
    assert m["precision"]["value"] == pytest.approx(3 / 4)
    assert m["recall"]["value"] == pytest.approx(3 / 4)
    assert m["false_negative_rate"]["value"] == pytest.approx(1 / 4)
    low, high = m["accuracy"]["ci95"]
    assert low <= 5 / 7 <= high and 0 <= low < high <= 1
    table = {row["class"]: row for row in evaluation.per_class}
    assert table["RH"]["percent_correct"] == pytest.approx(100) and table["RR"]["percent_correct"] == pytest.approx(50)
    assert table["NDE"]["percent_correct"] == pytest.approx(200 / 3) and table["U"]["kind"] == "uncertain"


def test_threshold_sweep_finds_the_separating_threshold():
    evaluation = evaluate_detections(_detections(), TRUTH, n_bootstrap=10)
    # R > 0.02 keeps every positive (>= 0.025) and no negative (<= 0.02): the only perfect threshold,
    # although the detector's own threshold missed c.
    assert evaluation.best_threshold == pytest.approx(0.02)
    best = evaluation.sweep[evaluation.sweep["threshold"] == evaluation.best_threshold][0]
    assert best["accuracy"] == pytest.approx(1.0)
    assert binary_metrics([True, False], [True, False])["youden"] == pytest.approx(1.0)


def test_evaluate_command_writes_tables_curves_and_prints_intervals(tmp_path, capsys):
    _detections().write(tmp_path / "detections.ecsv")
    Table({"name": list(TRUTH), "class": list(TRUTH.values())}).write(tmp_path / "truth.csv")
    assert main(["evaluate", "--detections", str(tmp_path / "detections.ecsv"), "--truth",
                 str(tmp_path / "truth.csv"), "--truth-column", "class", "--bootstrap", "100"]) == 0
    captured = capsys.readouterr()
    assert "accuracy: 0.714 (95% interval" in captured.out
    assert "note: 4 positive and 3 negative cluster(s): too few" in captured.err
    for name in ("confusion.ecsv", "threshold_sweep.ecsv", "evaluation.json", "roc.png", "precision_recall.png"):
        assert (tmp_path / name).is_file()
    assert json.loads((tmp_path / "evaluation.json").read_text())["best_threshold"] == pytest.approx(0.02)
    assert main(["evaluate", "--detections", str(tmp_path / "detections.ecsv"), "--truth",
                 str(tmp_path / "truth.csv"), "--truth-column", "missing"]) == 2


def _tiny_predictor(tmp_path, card):
    """A Predictor of an untrained U-Net with ``card`` (the ``tiny_card`` fixture's)."""
    from radiounet.inference import Predictor
    from radiounet.models import UNet, UNetConfig, save_model

    return Predictor(save_model(tmp_path / "m.safetensors", UNet(UNetConfig(depth=2, width=4)), card))


def test_calibration_returns_the_best_threshold_of_its_own_sweep(tmp_path, tiny_card):
    from radiounet.evaluate.calibrate import calibrate_ratio_threshold
    from radiounet.sky import get_survey

    predictor = _tiny_predictor(tmp_path, tiny_card())
    threshold, table, metrics = calibrate_ratio_threshold(predictor, get_survey("lotss-dr2-6"), n_fields=6, size=128)
    assert len(table) == 6 and np.all((table["R"] >= 0) & (table["R"] <= 1))
    sweep = [binary_metrics(np.asarray(table["R"]) > t, np.asarray(table["diffuse"]))["accuracy"]
             for t in np.concatenate([[0.0], np.asarray(table["R"])])]
    assert metrics["accuracy"] == pytest.approx(max(sweep))
    assert threshold == 0.0 or threshold in set(np.asarray(table["R"]).tolist())


def test_calibrate_finds_the_r_threshold_of_a_survey_of_ones_own_for_detect(tmp_path, tiny_card, capsys):
    from radiounet.evaluate.calibrate import CALIBRATION_SEED, best_ratio_threshold

    model = _tiny_predictor(tmp_path, tiny_card(detection_ratio_threshold=0.3)).model_name
    command = ["calibrate", "--model", model, "--out", str(tmp_path / "cal"), "--fields", "6", "--size", "128",
               "--bmaj", "45", "--pixel-scale", "11.25", "--rms", "450", "--frequency", "1400", "--device", "cpu",
               "--no-progress"]
    assert main(command) == 0
    out = capsys.readouterr().out
    table = QTable.read(tmp_path / "cal" / "calibration.ecsv")
    assert len(table) == 6 and table.meta["survey"].startswith('custom: beam 45"x45"')
    best = best_ratio_threshold(table)  # the R of one field
    printed = float(out.split("--ratio-threshold ")[1].split()[0])
    assert table.meta["ratio_threshold"] == printed and len(out.split("--ratio-threshold ")[1].split()[0]) < 12
    # Given back as printed, it decides every field as the calibration did.
    assert np.array_equal(np.asarray(table["R"]) > printed, np.asarray(table["R"]) > best)
    at_model = binary_metrics(np.asarray(table["R"]) > 0.3, np.asarray(table["diffuse"]))
    assert table.meta["metrics_at_model_threshold"]["accuracy"] == at_model["accuracy"]
    assert "the model's own 0.3 on the same fields" in out and "fewer than 10 fields" in out
    assert table.meta["seed"] == CALIBRATION_SEED and table.meta["correlated_noise"] == 0.3
    for bad, words in ((["--fields", "0"], "fields"), (["--redshift-range", "0.5", "0.1"], "redshift-range"),
                       (["--correlated-noise", "1.5"], "correlated-noise"), (["--model", "nosuch"], "nosuch"),
                       (["--size", "100000"], "size")):
        assert main(command[:4] + [str(tmp_path / "refused")] + command[5:] + bad) == 2
        error = capsys.readouterr().err.strip()
        assert error.count("\n") == 0 and words in error and not (tmp_path / "refused").exists()


def test_calibration_across_surveys_pools_their_fields_and_reports_each(tmp_path, tiny_card):
    from radiounet.evaluate.calibrate import best_ratio_threshold, calibrate_across_surveys
    from radiounet.sky import get_survey

    predictor = _tiny_predictor(tmp_path, tiny_card())
    surveys = [get_survey("lotss-dr2-6"), get_survey("lotss-dr2-20")]
    threshold, table, metrics = calibrate_across_surveys(predictor, surveys, n_fields=3, size=128)
    assert list(table["survey"]) == ["lotss-dr2-6"] * 3 + ["lotss-dr2-20"] * 3
    # Each survey draws clusters of its own (one seed for all once gave field i of every survey the same cluster).
    assert not set(np.asarray(table["z"][:3])) & set(np.asarray(table["z"][3:]))
    # ... the same ones whatever the order the surveys are given in.
    _, reversed_table, _ = calibrate_across_surveys(predictor, surveys[::-1], n_fields=3, size=128)
    for name in ("lotss-dr2-6", "lotss-dr2-20"):
        assert list(reversed_table[reversed_table["survey"] == name]["z"]) == list(table[table["survey"] == name]["z"])
    assert threshold == best_ratio_threshold(table)
    assert set(metrics["per_survey"]) == {"lotss-dr2-6", "lotss-dr2-20"}
    for name, entry in metrics["per_survey"].items():
        mine = table[table["survey"] == name]
        assert entry["own_threshold"] == best_ratio_threshold(mine)
        called = np.asarray(mine["R"]) > threshold
        assert entry["accuracy"] == pytest.approx(np.mean(called == np.asarray(mine["diffuse"])))
    pooled = np.mean((np.asarray(table["R"]) > threshold) == np.asarray(table["diffuse"]))
    assert metrics["accuracy"] == pytest.approx(pooled)


def test_no_calibration_field_holds_a_cluster_of_the_benchmark():
    """The R threshold is chosen on calibration fields and scored by the benchmark: they must not share clusters
    (one seed for both once gave calibration field i the mass of the benchmark's 6" image i)."""
    from radiounet.evaluate.benchmark import (BENCHMARK_FAMILIES, BENCHMARK_SEED, BENCHMARK_SETUPS, PLANS,
                                              benchmark_fields, setup_seed)
    from radiounet.evaluate.calibrate import CALIBRATION_SEED, calibration_fields, survey_seeds
    from radiounet.sky import get_survey

    def masses(fields):
        return {field.cluster.m500.value for field in fields}

    plan = PLANS["quick"]
    surveys = [get_survey(name) for name in BENCHMARK_SETUPS]
    seeds = survey_seeds(surveys, CALIBRATION_SEED)
    calibration = set().union(*(masses(calibration_fields(survey, n_fields=4, size=64, seed=seeds[survey.name]))
                                for survey in surveys))
    benchmark = set().union(*(masses(benchmark_fields(family, get_survey(setup), plan, diffuse,
                                                      setup_seed(BENCHMARK_SEED, family, get_survey(setup), diffuse)))
                              for family in BENCHMARK_FAMILIES for setup in BENCHMARK_SETUPS
                              for diffuse in (True, False)))
    assert len(calibration) == 16 and len(benchmark) == 2 * 4 * plan.n_diffuse + 2 * 4 * plan.n_radio_galaxy
    assert not calibration & benchmark


def test_the_correlated_noise_of_the_calibration_is_a_reproducible_share_of_the_variance_over_beams(lotss):
    """The stand-in for real noise: 30% of the variance in a field smoothed over 1.5 beams (6 pixels here),
    correlated at 2 beams where the simulator's noise is not; truth untouched."""
    from radiounet.evaluate.calibrate import with_correlated_noise
    from radiounet.sky import FieldConfig, SkyConfig, field_rng, simulate_field

    sky = SkyConfig(fraction_diffuse=1.0, fraction_radio_galaxies=0.0)
    field = simulate_field(FieldConfig(lotss, shape=(256, 256), sky=sky), field_rng(3, 0))
    noisy = with_correlated_noise(field, lotss, 0.3, seed=5)
    added = noisy.image - field.image
    assert np.std(added) == pytest.approx(np.sqrt(0.3 / 0.7) * lotss.rms_jy, rel=0.05)

    def correlation(image, lag):
        centred = image - image.mean()
        return np.mean(centred[:, lag:] * centred[:, :-lag]) / np.var(centred)

    assert correlation(added, 8) > 0.5
    assert np.array_equal(noisy.mask, field.mask) and np.array_equal(noisy.labels, field.labels)
    assert np.array_equal(with_correlated_noise(field, lotss, 0.3, seed=5).image, noisy.image)
    assert not np.array_equal(with_correlated_noise(field, lotss, 0.3, seed=6).image, noisy.image)


def test_calibration_with_correlated_noise_measures_other_ratios_and_refuses_a_share_out_of_range(tmp_path, tiny_card):
    from radiounet.errors import InvalidParameterError
    from radiounet.evaluate.calibrate import calibrate_ratio_threshold
    from radiounet.sky import get_survey

    predictor = _tiny_predictor(tmp_path, tiny_card())
    survey = get_survey("lotss-dr2-6")
    _, plain, _ = calibrate_ratio_threshold(predictor, survey, n_fields=2, size=128)
    _, noisy, _ = calibrate_ratio_threshold(predictor, survey, n_fields=2, size=128, correlated_noise=0.3)
    assert np.all(np.asarray(plain["diffuse"]) == np.asarray(noisy["diffuse"]))
    # The untrained network's R moves little with the noise (about 1e-5 of 0.53, as its random weights go), but it
    # moves: without the noise it would be the same to the bit.
    assert not np.array_equal(np.asarray(plain["R"]), np.asarray(noisy["R"]))
    with pytest.raises(InvalidParameterError, match="correlated_noise"):
        calibrate_ratio_threshold(predictor, survey, n_fields=1, size=128, correlated_noise=1.0)


class _ConstantLogit(torch.nn.Module):
    """A stand-in model that calls every pixel diffuse (positive logit) or none (negative); counts the pixels it
    sees."""

    def __init__(self, logit):
        super().__init__()
        self.logit = logit
        self.pixels = 0

    def forward(self, x):
        self.pixels += x[:, 0].numel()
        return torch.full_like(x, self.logit)


def _constant_predictor(tmp_path, card, logit):
    """:func:`_tiny_predictor` (in its own folder under ``tmp_path``) with a :class:`_ConstantLogit` model."""
    folder = tmp_path / f"constant-{logit}-{card['native_sampling']['beam_fwhm_pixels']}"
    folder.mkdir()
    predictor = _tiny_predictor(folder, card)
    predictor.model = _ConstantLogit(logit)
    return predictor


@pytest.mark.parametrize("logit, expected", [(8.0, 1.0), (-8.0, 0.0)])
def test_held_out_radio_galaxy_fractions_count_fields_and_galaxy_pixels(lotss, logit, expected):
    results = evaluate_synthetic(_ConstantLogit(logit), lotss, tile_size=64, n_fields=4)
    galaxies = results["radio_galaxies"]
    for key in ("mean_fraction_called_diffuse", "p90_fraction_called_diffuse", "max_fraction_called_diffuse",
                "footprint_fraction_called_diffuse"):
        assert galaxies[key] == expected
    assert results["empty"]["mean_fraction_called_diffuse"] == expected
    assert "footprint_fraction_called_diffuse" not in results["empty"]
    assert (results["diffuse"]["recall"] == 1.0) == (expected == 1.0)


def test_one_overlap_function_with_an_explicit_value_for_empty_sets():
    from radiounet._overlap import overlap_metrics
    from radiounet.train.metrics import PixelCounts

    assert overlap_metrics(3, 1, 2) == pytest.approx(dict(dice=6 / 9, iou=0.5, precision=0.75, recall=0.6))
    assert all(np.isnan(v) for v in overlap_metrics(0, 0, 0).values())
    assert overlap_metrics(0, 0, 0, empty=0.0)["dice"] == 0.0
    # Validation during training: nothing to find and nothing found scores 1.
    assert PixelCounts().metrics() == dict(dice=1.0, iou=1.0, precision=1.0, recall=1.0)


@pytest.mark.parametrize("logit, expected", [(8.0, 1.0), (-8.0, 0.0)])
def test_whole_image_metrics_count_halo_relic_and_radio_galaxy_pixels(tmp_path, lotss, tiny_card, logit, expected):
    from radiounet.evaluate import evaluate_whole_images

    results = evaluate_whole_images(_constant_predictor(tmp_path, tiny_card(), logit), lotss, size=160, n_fields=3,
                                    n_radio_galaxy_fields=2)
    diffuse, galaxies = results["diffuse"], results["radio_galaxies"]
    assert diffuse["recall"] == expected and diffuse["halo_found"] == expected and diffuse["relic_found"] == expected
    assert galaxies["mean_fraction_called_diffuse"] == expected and galaxies["n_fields"] == 2
    assert "relic_labelled_radio_galaxy" not in diffuse


def test_whole_images_are_regridded_for_a_model_of_another_sampling(tmp_path, lotss, tiny_card):
    from radiounet.evaluate import evaluate_whole_images

    pixels, results = {}, {}
    for pixels_per_beam in (4.0, 2.0):
        predictor = _constant_predictor(tmp_path, tiny_card(pixels_per_beam), 8.0)
        results[pixels_per_beam] = evaluate_whole_images(predictor, lotss, size=256, n_fields=2,
                                                         n_radio_galaxy_fields=1)
        pixels[pixels_per_beam] = predictor.model.pixels
    # At 2 pixels per beam the 256-pixel images are segmented on a 128-pixel grid (a quarter of the pixels), and
    # the map regridded back covers every pixel of the image.
    assert pixels[2.0] < pixels[4.0] / 2
    for result in results.values():
        assert result["diffuse"]["recall"] == 1.0 and result["radio_galaxies"]["mean_fraction_called_diffuse"] == 1.0


def test_calibration_fields_are_regridded_for_a_model_of_another_sampling(tmp_path, lotss, tiny_card):
    from radiounet.evaluate.calibrate import calibrate_ratio_threshold

    pixels = {}
    for pixels_per_beam in (4.0, 2.0):
        predictor = _constant_predictor(tmp_path, tiny_card(pixels_per_beam), 8.0)
        _, table, _ = calibrate_ratio_threshold(predictor, lotss, n_fields=2, size=256)
        pixels[pixels_per_beam] = predictor.model.pixels
        # The aperture, on the fields' own 1.5" pixels, holds the model's one probability everywhere.
        assert np.allclose(table["R"], torch.sigmoid(torch.tensor(8.0)).item(), rtol=1e-5)
    assert pixels[2.0] < pixels[4.0] / 2


class _BrightnessLogit(torch.nn.Module):
    """A stand-in model whose diffuse probability rises with the normalised brightness: sigmoid(x - 1)."""

    def forward(self, x):
        return x - 1.0


def test_the_selected_threshold_is_the_best_of_its_sweep_and_the_sweep_is_what_predict_gives(tmp_path, tiny_card):
    import astropy.units as u

    from radiounet.errors import InvalidParameterError
    from radiounet.evaluate import evaluate_whole_images
    from radiounet.evaluate.calibrate import survey_seeds
    from radiounet.evaluate.threshold import select_threshold
    from radiounet.sky import custom_survey, get_survey

    predictor = _tiny_predictor(tmp_path, tiny_card())
    predictor.model = _BrightnessLogit()
    surveys = [get_survey("lotss-dr2-6"),
               custom_survey("vla-like", 15 * u.arcsec, 3.75 * u.arcsec, 20 * u.uJy / u.beam, 1.4 * u.GHz)]
    images = dict(size=128, n_fields=3, n_radio_galaxy_fields=2, seed=11)
    thresholds = (0.3, 0.5, 0.7, 0.9)
    best, table = select_threshold(predictor, surveys, thresholds=thresholds, **images)
    assert list(table["threshold"]) == list(thresholds)
    assert len(set(np.round(table["dice_mean"], 6))) > 1
    assert best == table["threshold"][np.argmax(table["dice_mean"])]
    # Each row is what predict's own mask gives at that threshold on the same images (each survey's of its own seed).
    for row in table:
        predictor.threshold = float(row["threshold"])
        for survey in surveys:
            whole = evaluate_whole_images(predictor, survey, redshift=(0.02, 0.9),
                                          **dict(images, seed=survey_seeds(surveys, images["seed"])[survey.name]))
            assert row[f"dice_{survey.name}"] == pytest.approx(whole["diffuse"]["dice"])
            assert row[f"radio_galaxy_called_{survey.name}"] == pytest.approx(
                whole["radio_galaxies"]["mean_fraction_called_diffuse"])
    # With a budget of radio-galaxy pixels called diffuse, only the thresholds within it are eligible.
    budget = float(np.median(table["radio_galaxy_called_mean"]))
    chosen, _ = select_threshold(predictor, surveys, thresholds=thresholds, max_radio_galaxy_called=budget, **images)
    within = table[table["radio_galaxy_called_mean"] <= budget]
    assert chosen == within["threshold"][np.argmax(within["dice_mean"])] and chosen > best
    with pytest.raises(InvalidParameterError, match="thresholds"):
        select_threshold(predictor, surveys, thresholds=(0.5, 1.5), **images)
    with pytest.raises(InvalidParameterError, match="distinct names"):
        select_threshold(predictor, [surveys[0], surveys[0]], thresholds=thresholds, **images)


def test_the_seeds_of_calibration_threshold_selection_held_out_fields_and_benchmark_never_meet():
    """Each use of simulated skies that measures or tunes a model draws at seeds of its own: two uses sharing a
    seed would share their clusters (as the calibration and the benchmark once did)."""
    from radiounet.evaluate.benchmark import BENCHMARK_FAMILIES, BENCHMARK_SEED, BENCHMARK_SETUPS, setup_seed
    from radiounet.evaluate.calibrate import CALIBRATION_SEED, SURVEY_SEED_STEP
    from radiounet.evaluate.synthetic import HELD_OUT_SEED, WHOLE_IMAGE_SEED
    from radiounet.evaluate.threshold import THRESHOLD_SEED
    from radiounet.sky.survey import custom_survey, get_survey

    surveys = range(10)  # up to ten surveys calibrated or selected together
    uses = {
        "calibration": {CALIBRATION_SEED + k * SURVEY_SEED_STEP for k in surveys},
        "threshold selection": {THRESHOLD_SEED + k * SURVEY_SEED_STEP + kind for k in surveys for kind in (0, 1)},
        "held-out fields": {HELD_OUT_SEED + kind for kind in range(3)},
        "held-out whole images": {WHOLE_IMAGE_SEED + kind for kind in (0, 1)},
        # Surveys of one's own take setup places 4-99.
        "benchmark": {BENCHMARK_SEED + 1000 * family + 10 * place + kind
                      for family in range(len(BENCHMARK_FAMILIES)) for place in range(100) for kind in (0, 1)},
    }
    for (name, seeds), (other, others) in itertools.combinations(uses.items(), 2):
        assert not seeds & others, f"{name} and {other} share seeds {sorted(seeds & others)}"
    own = custom_survey("custom", 15 * u.arcsec, 3 * u.arcsec, 20 * u.uJy / u.beam, 1.4 * u.GHz)
    assert {setup_seed(BENCHMARK_SEED, family, survey, diffuse) for family in BENCHMARK_FAMILIES
            for survey in [own, *map(get_survey, BENCHMARK_SETUPS)] for diffuse in (True, False)} <= uses["benchmark"]
