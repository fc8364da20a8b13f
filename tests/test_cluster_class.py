"""Per-cluster class probabilities (none, halo, relic, both): the regression, detect's columns, evaluate's table."""

import numpy as np
import pytest
import torch
from astropy.table import QTable

from radiounet.cli import main
from radiounet.detect.cluster_class import (CLUSTER_FEATURES, class_ratios, classifier_from_calibration,
                                            cluster_class_probabilities, cluster_features,
                                            cross_validated_probabilities, fit_cluster_classifier)
from radiounet.errors import RadioUNetError
from radiounet.evaluate.detections import cluster_class_confusion
from radiounet.models import UNet, UNetConfig, save_model
from radiounet.sky.labels import CLASS_NAMES, CLUSTER_CLASSES, cluster_class_of


def _ratios(r_halo, r_relic, r_galaxy):
    """The five ratios of clusters whose halo lies within R500 and whose relic lies in the outskirts."""
    r_halo, r_relic = np.asarray(r_halo, dtype=float), np.asarray(r_relic, dtype=float)
    return dict(R_halo=r_halo, R_relic=r_relic, R_radio_galaxy=r_galaxy, R_halo_R500=3 * r_halo,
                R_relic_outskirts=1.2 * r_relic)


def _synthetic_ratios(n, seed=0):
    """Aperture ratios where a halo raises R_halo (most within R500) and a relic R_relic (most in the
    outskirts), with scatter."""
    rng = np.random.default_rng(seed)
    has_halo, has_relic = rng.uniform(size=n) < 0.5, rng.uniform(size=n) < 0.4
    r_halo = 10 ** (np.where(has_halo, -1.5, -3.2) + 0.3 * rng.normal(size=n))
    r_relic = 10 ** (np.where(has_relic, -1.8, -3.5) + 0.3 * rng.normal(size=n))
    r_galaxy = 10 ** (-2.0 + 0.3 * rng.normal(size=n))
    truth = [cluster_class_of(h, r) for h, r in zip(has_halo, has_relic)]
    return QTable(dict(**_ratios(r_halo, r_relic, r_galaxy), cluster_class=truth))


def _features(r_halo, r_relic, r_galaxy):
    """Features of clusters whose halo lies within R500 and relic in the outskirts."""
    return cluster_features(_ratios(r_halo, r_relic, r_galaxy))


def test_cluster_class_names_follow_halo_and_relic():
    assert [cluster_class_of(h, r) for h, r in ((0, 0), (1, 0), (0, 1), (1, 1))] == list(CLUSTER_CLASSES)


def test_class_ratios_measure_the_halo_within_r500_and_the_relic_in_the_outskirts():
    """A halo filling R500 and a relic filling the outskirts, each of probability 1: every ratio is the
    share of its region it covers."""
    ny = nx = 201
    yy, xx = np.mgrid[:ny, :nx]
    distance = np.hypot(xx - 100, yy - 100)
    planes = np.zeros((len(CLASS_NAMES), ny, nx))
    planes[CLASS_NAMES.index("halo")] = distance <= 20
    planes[CLASS_NAMES.index("relic")] = (distance > 20) & (distance <= 44) & (xx > 100)
    ratios = class_ratios(planes, CLASS_NAMES, 100.0, 100.0, 44.0, 20.0)
    aperture, core = distance <= 44, distance <= 20
    assert ratios["R_halo_R500"] == pytest.approx(1.0)
    assert ratios["R_halo"] == pytest.approx(core.sum() / aperture.sum())
    assert ratios["R_relic"] == pytest.approx(planes[2][aperture].mean())
    assert ratios["R_relic_outskirts"] == pytest.approx(planes[2][aperture & ~core].mean())
    assert ratios["R_relic_outskirts"] > ratios["R_relic"] and ratios["R_radio_galaxy"] == 0
    # No outskirts when the aperture is R500 itself.
    assert np.isnan(class_ratios(planes, CLASS_NAMES, 100.0, 100.0, 20.0, 20.0)["R_relic_outskirts"])


def test_the_regression_recovers_separable_outcomes_out_of_fold():
    table = _synthetic_ratios(400)
    features = cluster_features(table)
    assert features.shape == (400, len(CLUSTER_FEATURES))
    classifier = fit_cluster_classifier(features, list(table["cluster_class"]))
    assert classifier["features"] == list(CLUSTER_FEATURES)
    probabilities = cluster_class_probabilities(classifier, features)
    assert probabilities.shape == (400, 4) and np.allclose(probabilities.sum(1), 1)
    out_of_fold = cross_validated_probabilities(features, np.asarray(table["cluster_class"]))
    predicted = np.asarray(CLUSTER_CLASSES)[out_of_fold.argmax(1)]
    assert np.mean(predicted == np.asarray(table["cluster_class"])) > 0.9
    # A cluster with a bright relic and no halo is a relic; one with neither is none.
    both_ways = cluster_class_probabilities(classifier, _features([1e-4, 1e-4], [0.05, 1e-4], [0.01, 0.01]))
    assert both_ways[0].argmax() == CLUSTER_CLASSES.index("relic")
    assert both_ways[1].argmax() == CLUSTER_CLASSES.index("none")


def test_calibration_summary_counts_every_field_once():
    result = classifier_from_calibration(_synthetic_ratios(120, seed=1))
    confusion = np.array(result["confusion"])
    assert confusion.sum() == result["n_fields"] == 120
    assert confusion.sum(1).tolist() == [result["n_per_class"][name] for name in CLUSTER_CLASSES]
    assert result["cross_validated_accuracy"] == pytest.approx(np.trace(confusion) / 120)


def test_the_regression_rejects_unknown_outcomes_and_gives_nan_for_nan_ratios():
    features = _features([0.1, 0.001], [0.001, 0.1], [0.01, 0.01])
    with pytest.raises(RadioUNetError, match="truth"):
        fit_cluster_classifier(features, ["halo", "mini-halo"])
    classifier = fit_cluster_classifier(features, ["halo", "relic"])
    probabilities = cluster_class_probabilities(classifier, _features([np.nan, 0.1], [0.1, 0.1], [0.1, 0.1]))
    assert np.isnan(probabilities[0]).all() and np.isfinite(probabilities[1]).all()
    with pytest.raises(RadioUNetError, match="log10"):
        cluster_features(dict(R_halo=[0.1]), ["R_halo"])
    with pytest.raises(RadioUNetError, match="R_relic_outskirts"):
        cluster_features(dict(R_halo=[0.1], R_relic=[0.1], R_radio_galaxy=[0.1], R_halo_R500=[0.1]))


@pytest.fixture(scope="module")
def class_model_with_classifier(tmp_path_factory, tiny_card):
    torch.manual_seed(0)
    net = UNet(UNetConfig(depth=2, width=4, norm="none", dropout=0.0, out_channels=len(CLASS_NAMES)))
    table = _synthetic_ratios(200, seed=2)
    classifier = fit_cluster_classifier(cluster_features(table), list(table["cluster_class"]))
    card = tiny_card(classes=list(CLASS_NAMES), cluster_classes=classifier)
    return save_model(tmp_path_factory.mktemp("model") / "classes.safetensors", net, card)


def test_detect_with_a_class_model_gives_class_probabilities_that_agree_with_detected(tmp_path,
                                                                                        class_model_with_classifier,
                                                                                        capsys):
    sims = tmp_path / "sims"
    assert main(["simulate", "--out", str(sims), "--n-fields", "3", "--size", "160", "--seed", "5", "--no-png",
                 "--no-progress"]) == 0
    # Clusters a tenth of their simulated size, so that 2.2 R500 lies within the 160-pixel images.
    small = QTable.read(sims / "truth.ecsv")
    small["r500_kpc"] = small["r500_kpc"] / 10
    small.write(tmp_path / "small.ecsv")
    catalog = ["--catalog", str(tmp_path / "small.ecsv"), "--images", str(sims), "--name-column", "field",
               "--ra-column", "ra", "--dec-column", "dec", "--redshift-column", "z", "--r500-column", "r500_kpc",
               "--model", str(class_model_with_classifier), "--no-progress"]
    for threshold, factor, out in (("0", "2.2", "all"), ("0.999", "2.2", "none"), ("0", "0.8", "core")):
        assert main(["detect", *catalog, "--ratio-threshold", threshold, "--factor", factor,
                     "--out", str(tmp_path / out)]) == 0
    detected = QTable.read(tmp_path / "all" / "detections.ecsv")
    probabilities = np.column_stack([detected[f"P_{name}"] for name in CLUSTER_CLASSES])
    assert len(detected) == 3 and np.allclose(probabilities.sum(1), 1)
    assert np.allclose(detected["R"], detected["R_halo"] + detected["R_relic"], rtol=1e-4)
    for row, p in zip(detected, probabilities):
        assert row["detected"] and row["class"] == ("none", "halo", "relic", "both")[1 + int(np.argmax(p[1:]))]
    assert set(QTable.read(tmp_path / "none" / "detections.ecsv")["class"]) == {"none"}
    # Within R500 there are no outskirts: no probabilities, and the class from the ratios themselves.
    for row in QTable.read(tmp_path / "core" / "detections.ecsv"):
        assert np.isnan(row["R_relic_outskirts"]) and np.isnan(row["P_none"])
        assert row["class"] == ("both" if min(row["R_halo"], row["R_relic"]) > 0 else
                                "halo" if row["R_halo"] >= row["R_relic"] else "relic")
    assert ">P relic</th>" in (tmp_path / "all" / "report.html").read_text()

    assert main(["evaluate", "--detections", str(tmp_path / "all" / "detections.ecsv"), "--truth",
                 str(tmp_path / "small.ecsv"), "--truth-name-column", "field", "--truth-column", "cluster_class",
                 "--positive", "halo,relic,both", "--negative", "none", "--bootstrap", "10"]) == 0
    confusion = QTable.read(tmp_path / "all" / "cluster_class_confusion.ecsv")
    truth = QTable.read(sims / "truth.ecsv")
    assert list(confusion["true_class"]) == list(CLUSTER_CLASSES)
    assert [int(n) for n in confusion["n"]] == [int(np.sum(truth["cluster_class"] == c)) for c in CLUSTER_CLASSES]
    assert int(confusion["none"].sum()) == 0  # everything was detected
    assert "cluster classes (rows: truth" in capsys.readouterr().out


def test_detect_applies_the_regression_of_an_older_card_on_its_own_features(tmp_path, tiny_card):
    """Cards shipped before R_halo_R500 and R_relic_outskirts hold a regression on the three aperture ratios:
    detect evaluates it on those, even where the aperture (0.2 R500) has no outskirts."""
    torch.manual_seed(1)
    net = UNet(UNetConfig(depth=2, width=4, norm="none", dropout=0.0, out_channels=len(CLASS_NAMES)))
    table = _synthetic_ratios(200, seed=4)
    aperture_only = CLUSTER_FEATURES[:3]
    classifier = fit_cluster_classifier(cluster_features(table, aperture_only), list(table["cluster_class"]),
                                        feature_names=aperture_only)
    model = save_model(tmp_path / "old.safetensors", net, tiny_card(classes=list(CLASS_NAMES),
                                                                     cluster_classes=classifier))
    sims = tmp_path / "sims"
    assert main(["simulate", "--out", str(sims), "--n-fields", "2", "--size", "128", "--seed", "6", "--no-png",
                 "--no-progress"]) == 0
    assert main(["detect", "--catalog", str(sims / "truth.ecsv"), "--images", str(sims), "--name-column", "field",
                 "--ra-column", "ra", "--dec-column", "dec", "--redshift-column", "z", "--r500-column", "r500_kpc",
                 "--model", str(model), "--factor", "0.2", "--ratio-threshold", "0", "--no-progress",
                 "--out", str(tmp_path / "out")]) == 0
    detected = QTable.read(tmp_path / "out" / "detections.ecsv")
    expected = cluster_class_probabilities(classifier, cluster_features(detected, aperture_only))
    assert np.allclose(np.column_stack([detected[f"P_{name}"] for name in CLUSTER_CLASSES]), expected)
    assert np.isfinite(expected).all() and np.isnan(detected["R_relic_outskirts"]).all()


def test_cluster_class_confusion_is_none_for_a_binary_model():
    detections = QTable(dict(name=["a"], status=["ok"], R_halo=[np.nan], **{"class": ["diffuse"]}))
    assert cluster_class_confusion(detections, {"a": "RH"}) is None


def test_cluster_class_confusion_is_none_when_no_truth_class_is_a_cluster_class():
    """The simulator's field types (diffuse, empty, radio_galaxies) say nothing of halo or relic: no
    table of zeros."""
    detections = QTable(dict(name=["a", "b"], status=["ok", "ok"], R_halo=[0.01, 0.0], **{"class": ["halo", "none"]}))
    assert cluster_class_confusion(detections, {"a": "diffuse", "b": "empty"}) is None
    table = cluster_class_confusion(detections, {"a": "RH", "b": "empty"})
    assert list(table["n"]) == [0, 1, 0, 0] and int(table["halo"][1]) == 1


def test_calibration_fields_of_a_class_model_record_the_class_ratios_and_the_truth(class_model_with_classifier):
    from radiounet.evaluate.calibrate import calibrate_ratio_threshold
    from radiounet.inference import Predictor
    from radiounet.sky import get_survey

    _, table, _ = calibrate_ratio_threshold(Predictor(class_model_with_classifier), get_survey("lotss-dr2-6"),
                                            n_fields=4, size=128)
    assert set(table["cluster_class"]) <= set(CLUSTER_CLASSES)
    assert np.allclose(table["R"], table["R_halo"] + table["R_relic"], rtol=1e-4)
    # Fields without diffuse emission are "none" (what the labels hold inside the aperture).
    assert all(c == "none" for c, d in zip(table["cluster_class"], table["diffuse"]) if not d)
