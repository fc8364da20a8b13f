"""The class model: training from class labels, derived diffuse probability, class outputs of predict and detect."""

from pathlib import Path

import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.table import QTable

from radiounet.cli import main
from radiounet.evaluate.synthetic import (RADIO_GALAXY_OUTCOMES, evaluate_synthetic, radio_galaxy_labelled,
                                          radio_galaxy_outcome)
from radiounet.inference import Predictor
from radiounet.models import UNet, UNetConfig, load_model, save_model
from radiounet.models.outputs import diffuse_probability
from radiounet.sky.labels import CLASS_NAMES
from radiounet.train import loop
from radiounet.train.config import load_config
from radiounet.train.data import build_datasets
from radiounet.train.losses import class_segmentation_loss
from radiounet.train.metrics import ConfusionCounts

LOTSS = Path(__file__).parent / "data" / "lotss_dr1_P218+55_200px.fits"


@pytest.fixture(scope="module")
def class_model(tmp_path_factory, tiny_card):
    torch.manual_seed(0)
    net = UNet(UNetConfig(depth=2, width=4, norm="none", dropout=0.0, out_channels=len(CLASS_NAMES)))
    card = tiny_card(classes=list(CLASS_NAMES))
    return save_model(tmp_path_factory.mktemp("model") / "classes.safetensors", net, card)


def test_diffuse_probability_is_halo_plus_relic():
    logits = torch.randn(2, len(CLASS_NAMES), 4, 4)
    softmax = torch.softmax(logits, 1)
    assert torch.allclose(diffuse_probability(logits)[:, 0], softmax[:, 1] + softmax[:, 2])
    assert torch.allclose(diffuse_probability(logits[:, :1]), torch.sigmoid(logits[:, :1]))


def test_class_loss_rewards_the_right_classes():
    labels = torch.zeros(1, 1, 4, 4, dtype=torch.long)
    labels[0, 0, :2] = 3  # radio galaxy
    target = torch.zeros(1, 1, 4, 4)
    right = torch.nn.functional.one_hot(labels[:, 0], len(CLASS_NAMES)).permute(0, 3, 1, 2).float() * 20
    wrong = right.roll(1, dims=1)
    assert class_segmentation_loss(right, labels, target) < 0.01 < class_segmentation_loss(wrong, labels, target)


def test_confusion_counts_and_class_dice():
    counts = ConfusionCounts(3)
    counts.update(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]))
    assert counts.counts.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert counts.dice() == pytest.approx([1.0, 2 / 3, 2 / 3])


def test_radio_galaxy_labelled_counts_its_footprint():
    labels = np.zeros((4, 4), int)
    labels[:2, :2] = 3
    predicted = np.zeros((4, 4), int)
    predicted[:2, :2] = [[3, 3], [1, 0]]
    assert radio_galaxy_labelled(predicted, labels) is True
    predicted[:2, :2] = [[3, 1], [2, 0]]
    assert radio_galaxy_labelled(predicted, labels) is False
    assert radio_galaxy_outcome(predicted, labels) == "halo_or_relic"
    assert radio_galaxy_labelled(predicted, np.zeros((4, 4), int)) is None
    predicted[:2, :2] = [[4, 4], [0, 4]]
    assert radio_galaxy_outcome(predicted, labels) == "compact_or_background"
    assert radio_galaxy_labelled(predicted, labels) is False


def test_a_class_model_trains_from_a_binary_one(tmp_path):
    config_path = tmp_path / "tiny.toml"
    config_path.write_text("[model]\ndepth = 2\nwidth = 4\n[data]\nfield_size = 64\ntile_size = 32\n"
                           "train_fields = 8\nval_fields = 4\n[training]\nepochs = 1\nbatch_size = 4\n"
                           "workers = 0\ntensorboard = false\n")
    binary = load_config(config_path)
    train_set, val_set, survey = build_datasets(binary)
    first = loop.train(binary, tmp_path / "binary", datasets=(train_set, val_set), survey=survey, progress=False)
    classes = load_config(config_path, [f"model.out_channels={len(CLASS_NAMES)}"])
    result = loop.train(classes, tmp_path / "classes", datasets=(train_set, val_set), survey=survey,
                        init_model=first.model_path, progress=False)
    model, card = load_model(result.model_path)
    assert card["classes"] == list(CLASS_NAMES) and model.head.out_channels == len(CLASS_NAMES)
    assert set(card["validation"]["class_dice"]) == set(CLASS_NAMES)
    binary_model, _ = load_model(first.model_path)
    # All but the head started from the binary model: the first encoder weights moved little.
    name = next(k for k in binary_model.state_dict() if k.endswith("weight") and not k.startswith("head"))
    assert torch.allclose(model.state_dict()[name], binary_model.state_dict()[name], atol=0.05)


def test_predict_with_a_class_model_writes_a_class_cube_and_a_class_column(tmp_path, class_model):
    out = tmp_path / "out"
    assert main(["predict", str(LOTSS), "--model", str(class_model), "--out", str(out), "--threshold", "0.01",
                 "--no-progress"]) == 0
    stem = LOTSS.name[: -len(".fits")]
    with fits.open(out / f"{stem}.classes.fits") as hdul:
        cube, header = hdul[0].data, hdul[0].header
    probability = fits.getdata(out / f"{stem}.prob.fits")
    assert cube.shape == (len(CLASS_NAMES),) + probability.shape
    assert [header[f"CLASS{k}"] for k in range(len(CLASS_NAMES))] == list(CLASS_NAMES)
    assert header["CTYPE3"] == "CLASS"
    assert np.allclose(np.nansum(cube, axis=0), 1, atol=1e-4)
    assert np.allclose(cube[1] + cube[2], probability, atol=1e-5, equal_nan=True)
    sources = QTable.read(out / f"{stem}.sources.ecsv")
    assert len(sources) and set(sources["class"]) <= {"halo", "relic"}
    assert np.all((sources["halo_fraction"] >= 0) & (sources["halo_fraction"] <= 1))


def test_held_out_metrics_of_a_class_model_include_the_confusion_matrix(class_model, lotss):
    model, _ = load_model(class_model)
    results = evaluate_synthetic(model, lotss, tile_size=64, n_fields=3)
    classes = results["classes"]
    assert np.array(classes["confusion"]).sum() == 3 * 3 * 64 * 64
    assert set(classes["dice"]) == set(CLASS_NAMES) and 0 <= classes["radio_galaxy_labelled_fraction"] <= 1
    outcomes = classes["radio_galaxy_outcomes"]
    assert outcomes["all"]["n_fields"] == classes["n_fields_with_radio_galaxy"] > 0
    assert outcomes["all"]["radio_galaxy"] == classes["radio_galaxy_labelled_fraction"]
    assert "empty" not in outcomes and outcomes["radio_galaxies"]["n_fields"] == 3
    for counts in outcomes.values():
        assert sum(counts[name] for name in RADIO_GALAXY_OUTCOMES) == pytest.approx(1)


def test_predictor_class_maps_follow_test_time_augmentation(class_model):
    image = np.random.default_rng(1).normal(size=(96, 96)).astype(np.float32)
    plain = Predictor(class_model).predict_array(image)[0]
    tta = Predictor(class_model, tta=True).predict_array(image)[0]
    assert plain.shape[0] == 1 + len(CLASS_NAMES) and tta.shape[0] == 2 + len(CLASS_NAMES)
    assert np.allclose(tta[2:].sum(0), 1, atol=1e-4) and np.all(tta[1] >= 0)
    assert Predictor(class_model, tta=True).class_planes(tta).shape == (len(CLASS_NAMES), 96, 96)
    assert np.array_equal(Predictor(class_model).class_planes(plain), plain[1:])


def test_evaluate_prints_the_class_confusion_matrix(tmp_path, class_model, capsys):
    sim = tmp_path / "sim"
    assert main(["simulate", "--out", str(sim), "--n-fields", "1", "--size", "128", "--seed", "4", "--no-png",
                 "--no-progress"]) == 0
    assert main(["predict", str(sim / "field_00000.fits"), "--model", str(class_model), "--out",
                 str(tmp_path / "pred"), "--no-progress"]) == 0
    assert main(["evaluate", "--predictions", str(tmp_path / "pred"), "--truth-labels", str(sim),
                 "--truth-masks", str(sim), "--out", str(tmp_path / "eval")]) == 0
    table = QTable.read(tmp_path / "eval" / "class_confusion.ecsv")
    assert list(table["class"]) == list(CLASS_NAMES)
    labels = fits.getdata(sim / "field_00000.labels.fits")
    assert list(table["n_pixels"]) == [int((labels == k).sum()) for k in range(len(CLASS_NAMES))]
    assert sum(int(table[f"as_{name}"].sum()) for name in CLASS_NAMES) == labels.size
    output = capsys.readouterr().out
    assert "class confusion over 1 images" in output and "pixel metrics over 1 images" in output


def test_a_class_head_from_a_binary_model_starts_with_its_probabilities(tmp_path, tiny_card):
    from radiounet.models.store import load_weights

    torch.manual_seed(3)
    binary = UNet(UNetConfig(depth=2, width=4, norm="none", dropout=0.0)).eval()
    path = save_model(tmp_path / "binary.safetensors", binary, tiny_card(classes=list(CLASS_NAMES)))
    classes = UNet(UNetConfig(depth=2, width=4, norm="none", dropout=0.0, out_channels=len(CLASS_NAMES))).eval()
    load_weights(classes, path, except_head=True)
    loop._class_head_from_binary(classes, path)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(diffuse_probability(classes(x)), torch.sigmoid(binary(x)), atol=1e-5)


def _predict_the_example(model, out):
    """Most probable class per pixel, the mask, the example's truth mask and components, after ``predict``."""
    examples = Path(__file__).parents[1] / "examples"
    assert main(["predict", str(examples / "simulated_cluster.fits"), "--model", model, "--out", str(out),
                 "--no-progress"]) == 0
    classes = fits.getdata(out / "simulated_cluster.classes.fits").argmax(axis=0)
    mask = fits.getdata(out / "simulated_cluster.mask.fits").astype(bool)
    truth = fits.getdata(examples / "simulated_cluster.mask.fits").astype(bool)
    return classes, mask, truth, QTable.read(examples / "simulated_cluster.truth.ecsv")


def _held_out_at_own_threshold(names):
    """:func:`evaluate_synthetic` of shipped models, each at its card's threshold, on the same 40 + 40 fields."""
    from radiounet.evaluate.synthetic import HELD_OUT_SEED
    from radiounet.sky import get_survey

    results = []
    for name in names:
        model, card = load_model(name)
        results.append(evaluate_synthetic(model, get_survey("lotss-dr2-6"), n_fields=40, threshold=card["threshold"],
                                          seed=HELD_OUT_SEED + 7))
    return results


def _fornax_a(name, path):
    """Of the pixels of Fornax A above 5 times the noise: the share called diffuse, and the share labelled
    radio galaxy (class models)."""
    from radiounet.io.image import read_radio_image

    with read_radio_image(path) as image:
        prediction = Predictor(name).predict(image)
        galaxy = np.asarray(image.data) > 5 * np.nanmedian(prediction.rms)
    labelled = (prediction.class_probability.argmax(0)[galaxy] == CLASS_NAMES.index("radio_galaxy")).mean() \
        if prediction.class_probability is not None else np.nan
    return prediction.mask[galaxy].mean(), labelled


def test_the_gated_model_leaves_fornax_a_and_real_noise_alone():
    """lotss-gated-v1: v5's classes, halo and relic kept where its binary network sees diffuse emission too.
    Measured: VLA Fornax A 0% of the galaxy called diffuse, 100% labelled radio galaxy (the binary network
    alone 36% called diffuse); mean probability of the real LoTSS field without a cluster 0.0044."""
    from radiounet.io.image import read_radio_image

    diffuse, labelled = _fornax_a("lotss-gated-v1", Path(__file__).parent / "data" / "vla_fornax_a_no_bmaj.fits")
    assert diffuse < 0.05 and labelled > 0.85
    with read_radio_image(LOTSS) as image:
        assert np.nanmean(Predictor("lotss-gated-v1").predict(image).probability) < 0.01


