"""Training: configuration, a tiny run, resume after a kill, DDP on 2 CPU ranks, fine-tuning."""

import csv
import json
import os
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from radiounet.cli import main
from radiounet.errors import RadioUNetError
from radiounet.models import load_model
from radiounet.sky import get_survey
from radiounet.train import loop
from radiounet.train.config import DEFAULTS, load_config
from radiounet.train.data import build_datasets

TINY = """
[model]
depth = 2
width = 4
[data]
field_size = 64
tile_size = 32
train_fields = 8
val_fields = 4
redshift = [0.3, 0.5]
[training]
epochs = 3
batch_size = 4
workers = 0
tensorboard = false
"""


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def _run(config, out, **kwargs):
    train_set, val_set, survey = build_datasets(config)
    return loop.train(config, out, datasets=(train_set, val_set), survey=survey, progress=False, **kwargs)


def test_config_defaults_file_and_overrides(tiny_config):
    config = load_config(tiny_config, ["training.epochs=5", "model.norm=instance", "data.redshift=[0.1, 0.2]",
                                       "training.learning_rate=1e-3"])
    assert config["training"]["epochs"] == 5 and config["model"]["norm"] == "instance"
    assert config["data"]["redshift"] == [0.1, 0.2] and config["model"]["width"] == 4
    assert config["training"]["weight_decay"] == DEFAULTS["training"]["weight_decay"]


@pytest.mark.parametrize("text, message", [
    ("[training]\nepoch = 3\n", "unknown key training.epoch"),
    ("[trainin]\nepochs = 3\n", "unknown section"),
    ("[training]\nepochs = 'three'\n", "training.epochs must be an integer"),
    ("[training]\nepochs = [\n", "not valid TOML"),
    ("[data]\nsource = 'tapes'\n", "data.source must be one of"),
    ("[data]\ntile_size = 100\n", r"multiple of 2\*\*model.depth"),
    ("[data]\nsource = 'shards'\n", "data.shards is needed"),
    ("[data]\nredshift = [0.1]\n", r"data.redshift must be like \[0.05, 0.6\], not \[0.1\]"),
    ("[data]\nshards = [1, 2]\n", "data.shards must be a list of strings"),
    ("[augment]\nflux_jitter = ['a', 'b']\n", "augment.flux_jitter must be like"),
    ("[training]\nlearning_rate = nan\n", "training.learning_rate must be a finite number"),
    ("[training]\nweight_decay = -1.0\n", "training.weight_decay must be at least 0"),
    ("[training]\nworkers = -3\n", "training.workers must be at least 0"),
    ("[training]\nearly_stopping_patience = 0\n", "training.early_stopping_patience must be positive"),
    ("[training]\nbce_weight = 0.0\ndice_weight = 0.0\n", "must not both be 0"),
    ("[model]\ndepth = -1\n", "model.depth = -1: must be a positive integer"),
    ("[model]\ndropout = 1.5\n", r"model.dropout = 1.5: must be in \[0, 1\)"),
    ("[model]\nout_channels = 3\n", "model.out_channels must be 1"),
    ("[training]\nhead_learning_rate_factor = 0.0\n", "head_learning_rate_factor must be positive"),
    ("[training]\nkeep = 'first'\n", "training.keep must be one of"),
    ("[data]\npixels_per_beam = 1.0\n", "data.pixels_per_beam must be 0"),
    ("[data]\nsource = 'shards'\nshards = ['a.h5']\npixels_per_beam = 2.0\n", "synthetic fields only"),
    ("[data]\nforeground_crop_fraction = 1.5\n", "foreground_crop_fraction must be between 0 and 1"),
    ("[data]\nradio_galaxies_mean = -1.0\n", "data.radio_galaxies_mean = -1.0: must not be negative"),
    ("[data]\nforeground_field_size = 512\n", "foreground_field_size needs data.foreground_crop_fraction"),
    ("[data]\nforeground_crop_fraction = 0.5\nforeground_field_size = 96\n", "at least data.tile_size"),
    ("[data]\nsource = 'shards'\nshards = ['a.h5']\nforeground_crop_fraction = 0.5\n", "tiles already cut"),
    ("[data]\nlabel_rule = 'dominant'\n", "data.label_rule must be one of mask, brightest"),
    ("[data]\nsource = 'shards'\nshards = ['a.h5']\nlabel_rule = 'brightest'\n", "dataset` --label-rule"),
    ("[augment]\ncorrelated_noise = [0.3, 0.1]\n", "augment.correlated_noise must be a range 0 <= low <= high"),
    ("[augment]\ncorrelated_noise_scale = [0.0, 2.0]\n", "augment.correlated_noise_scale must be a range"),
    ("[training]\nteacher_weight = 1.5\n", "training.teacher_weight must be between 0 and 1"),
])
def test_config_errors_name_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(RadioUNetError, match=message) as info:
        load_config(path)
    assert "bad.toml" in str(info.value)


def test_an_error_in_an_override_names_the_override_not_the_file(tmp_path):
    path = tmp_path / "good.toml"
    path.write_text("[training]\nepochs = 3\n")
    with pytest.raises(RadioUNetError, match=r"^--set: training.epochs must be positive"):
        load_config(path, ["training.epochs=0"])
    with pytest.raises(RadioUNetError, match=r"good.toml: training.epochs must be positive"):
        path.write_text("[training]\nepochs = 0\n")
        load_config(path, ["training.batch_size=4"])


def test_a_config_that_is_not_text_is_refused(tmp_path):
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe[training]\n")
    with pytest.raises(RadioUNetError, match="binary.toml: not a UTF-8 text file"):
        load_config(path)


def test_missing_config_and_bad_override():
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_config("/nonexistent/config.toml")
    with pytest.raises(RadioUNetError, match="section.key=value"):
        load_config(None, ["epochs=3"])


def test_tiny_training_writes_log_checkpoint_and_model(tiny_config, tmp_path):
    config = load_config(tiny_config)
    result = _run(config, tmp_path / "run")
    with open(tmp_path / "run" / "log.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert all(0 <= float(r["dice"]) <= 1 and float(r["train_tiles_per_second"]) > 0 for r in rows)
    model, card = load_model(result.model_path)
    assert card["architecture"]["depth"] == 2 and card["tile_size"] == 32
    assert card["native_sampling"]["beam_fwhm_pixels"] == pytest.approx(4.0)
    assert card["training"]["config"] == config and card["validation"]["dice"] == result.best_metrics["dice"]
    assert (tmp_path / "run" / "checkpoints" / "last.json").is_file()


def test_data_radio_galaxies_mean_sets_how_many_radio_galaxies_the_training_fields_hold(tiny_config):
    from radiounet.sky import field_rng, simulate_field

    def galaxies_per_field(mean):
        train_set = build_datasets(load_config(tiny_config, [f"data.radio_galaxies_mean={mean}"]))[0]
        fields = [simulate_field(train_set.config, field_rng(5, i)) for i in range(40)]
        return np.mean([sum(c.kind == "radio_galaxy" for c in f.components) for f in fields])

    assert DEFAULTS["data"]["radio_galaxies_mean"] == 1.0
    assert galaxies_per_field(0.0) * 2 < galaxies_per_field(1.0) < galaxies_per_field(3.0) / 2


def test_data_label_rule_reaches_the_training_and_validation_fields(tiny_config):
    train_set, validation_set, _ = build_datasets(load_config(tiny_config, ["data.label_rule=brightest"]))
    assert train_set.config.label_rule == validation_set.config.label_rule == "brightest"
    assert build_datasets(load_config(tiny_config))[0].config.label_rule == "mask"


def test_a_model_trained_at_another_sampling_records_it(tiny_config, tmp_path):
    config = load_config(tiny_config, ["data.pixels_per_beam=2", "training.epochs=1"])
    train_set, _, survey = build_datasets(config)
    assert survey.pixel_arcsec == pytest.approx(3.0) and survey.beam.major.to_value("arcsec") == pytest.approx(6.0)
    assert train_set.config.survey.pixel_arcsec == pytest.approx(3.0)
    _, card = load_model(_run(config, tmp_path / "run").model_path)
    assert card["native_sampling"]["beam_fwhm_pixels"] == pytest.approx(2.0)
    assert card["native_sampling"]["pixel_arcsec"] == pytest.approx(3.0)


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_a_killed_run_resumes_to_the_same_weights(tiny_config, tmp_path, monkeypatch, ema_decay):
    config = load_config(tiny_config, [f"training.ema_decay={ema_decay}"])
    _run(config, tmp_path / "full")

    real_save = loop.save_checkpoint

    def save_then_die(directory, model, optimizer, scheduler, state, average=None):
        real_save(directory, model, optimizer, scheduler, state, average)
        if state["epoch"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        _run(config, tmp_path / "killed")
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    result = _run(config, tmp_path / "killed")
    assert result.epochs_run == 3
    for name in ["last.safetensors"] + ["last.average.safetensors"] * (ema_decay > 0):
        full = load_file(str(tmp_path / "full" / "checkpoints" / name))
        resumed = load_file(str(tmp_path / "killed" / "checkpoints" / name))
        assert all(torch.equal(full[k], resumed[k]) for k in full), name
    with open(tmp_path / "killed" / "log.csv") as stream:
        assert [int(r["epoch"]) for r in csv.DictReader(stream)] == [1, 2, 3]


def test_a_moving_average_of_the_weights_is_validated_and_kept(tiny_config, tmp_path, monkeypatch):
    real_evaluate, validated = loop._evaluate, {}

    def evaluate(model, *args):
        validated.update({k: v.detach().clone() for k, v in model.state_dict().items()})
        return real_evaluate(model, *args)

    monkeypatch.setattr(loop, "_evaluate", evaluate)
    result = _run(load_config(tiny_config, ["training.ema_decay=0.9", "training.keep=last"]), tmp_path / "run")
    folder = tmp_path / "run" / "checkpoints"
    network, average = load_file(str(folder / "last.safetensors")), load_file(str(folder / "last.average.safetensors"))
    kept = load_file(str(result.model_path))
    assert int(average["n_averaged"]) == 3 * 2  # three epochs of two batches
    # The model file holds the average (its batch-norm statistics too), not the network's last step.
    assert all(torch.equal(kept[k], average[f"module.{k}"]) for k in kept)
    assert not all(torch.equal(kept[k], network[k]) for k in kept if kept[k].is_floating_point())
    assert all(torch.equal(kept[k], validated[k]) for k in kept)  # validated (and early-stopped) on the average
    with pytest.raises(RadioUNetError, match="ema_decay"):
        load_config(tiny_config, ["training.ema_decay=1.0"])


def test_the_moving_average_warms_up():
    update = loop.moving_average(0.999)
    averaged, current = [torch.zeros(3)], [torch.ones(3)]
    update(averaged, current, torch.tensor(1))  # the second step: decay 2/11, not 0.999
    assert torch.allclose(averaged[0], torch.full((3,), 9 / 11))
    averaged = [torch.zeros(3)]
    update(averaged, current, torch.tensor(100_000))  # late in a run: the decay asked for
    assert torch.allclose(averaged[0], torch.full((3,), 0.001))


def test_another_config_in_the_same_folder_is_refused(tiny_config, tmp_path):
    _run(load_config(tiny_config, ["training.epochs=1"]), tmp_path / "run")
    with pytest.raises(RadioUNetError, match=r"another configuration \(training.epochs: 1 in the run, 2 here\); "
                                             r".*training.init_model"):
        _run(load_config(tiny_config, ["training.epochs=2"]), tmp_path / "run")
    (tmp_path / "run" / "config.json").unlink()
    with pytest.raises(RadioUNetError, match="not its config.json"):
        _run(load_config(tiny_config, ["training.epochs=2"]), tmp_path / "run")


def test_a_damaged_checkpoint_is_reported_on_one_line(tiny_config, tmp_path):
    config = load_config(tiny_config, ["training.epochs=1"])
    _run(config, tmp_path / "run")
    checkpoints = tmp_path / "run" / "checkpoints"
    (checkpoints / "last.optimizer.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(RadioUNetError, match="cannot resume from the checkpoint"):
        _run(config, tmp_path / "run")
    (checkpoints / "last.json").write_text("[]")
    with pytest.raises(RadioUNetError, match="cannot resume from the checkpoint"):
        _run(config, tmp_path / "run")


def test_the_log_keeps_one_row_per_epoch_when_epochs_run_again(tiny_config, tmp_path, monkeypatch):
    config = load_config(tiny_config)
    real_save = loop.save_checkpoint

    def die_before_the_second_checkpoint(directory, model, optimizer, scheduler, state, average=None):
        if state["epoch"] == 1:  # epoch 2 is logged, its checkpoint not written
            raise KeyboardInterrupt
        real_save(directory, model, optimizer, scheduler, state, average)

    monkeypatch.setattr(loop, "save_checkpoint", die_before_the_second_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        _run(config, tmp_path / "run")
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    _run(config, tmp_path / "run")

    def epochs():
        with open(tmp_path / "run" / "log.csv") as stream:
            return [int(r["epoch"]) for r in csv.DictReader(stream)]

    assert epochs() == [1, 2, 3]
    shutil.rmtree(tmp_path / "run" / "checkpoints")  # started again, as the resume error advises
    _run(config, tmp_path / "run")
    assert epochs() == [1, 2, 3]


def test_a_run_started_before_keys_were_added_resumes_with_their_defaults(tiny_config, tmp_path):
    import json

    config = load_config(tiny_config, ["training.epochs=1"])
    _run(config, tmp_path / "run")
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    for key in ("correlated_noise", "correlated_noise_scale"):
        del stored["augment"][key]
    (tmp_path / "run" / "config.json").write_text(json.dumps(stored))
    assert _run(config, tmp_path / "run").kept_epoch == 1


def test_early_stopping_when_validation_dice_stops_improving(tiny_config, tmp_path, monkeypatch):
    scores = iter([0.2, 0.5, 0.4, 0.45, 0.3, 0.9])

    def fake_evaluate(*args):
        return dict(dice=next(scores), iou=0.0, precision=0.0, recall=0.0, empty_tile_positive_fraction=0.0,
                    positive_pixels=10, val_loss=1.0)

    monkeypatch.setattr(loop, "_evaluate", fake_evaluate)
    config = load_config(tiny_config, ["training.epochs=6", "training.early_stopping_patience=2"])
    result = _run(config, tmp_path / "run")
    assert result.stopped_early and result.epochs_run == 4 and result.best_epoch == 2


def test_keep_last_ships_the_last_epoch_not_the_best(tiny_config, tmp_path, monkeypatch):
    scores = iter([0.2, 0.5, 0.4])

    def fake_evaluate(*args):
        return dict(dice=next(scores), iou=0.0, precision=0.0, recall=0.0, empty_tile_positive_fraction=0.0,
                    positive_pixels=10, val_loss=1.0)

    monkeypatch.setattr(loop, "_evaluate", fake_evaluate)
    result = _run(load_config(tiny_config, ["training.keep=last"]), tmp_path / "run")
    assert result.best_epoch == 2 and result.kept_epoch == 3
    _, card = load_model(result.model_path)
    assert card["training"]["epoch"] == 3 and card["training"]["keep"] == "last" and card["validation"]["dice"] == 0.4
    last = load_file(str(tmp_path / "run" / "checkpoints" / "last.safetensors"))
    kept = load_file(str(result.model_path))
    assert all(torch.equal(last[k], kept[k]) for k in last)


def test_keep_every_keeps_the_model_of_every_nth_epoch_to_choose_one_afterwards(tiny_config, tmp_path, monkeypatch):
    scores = iter([0.2, 0.5, 0.4, 0.3])
    kept = {}

    def fake_evaluate(model, *args):
        kept[len(kept) + 1] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return dict(dice=next(scores), iou=0.0, precision=0.0, recall=0.0, empty_tile_positive_fraction=0.0,
                    positive_pixels=10, val_loss=1.0)

    monkeypatch.setattr(loop, "_evaluate", fake_evaluate)
    result = _run(load_config(tiny_config, ["training.keep_every=2", "training.epochs=4"]), tmp_path / "run")
    assert result.best_epoch == 2
    assert sorted(p.name for p in (tmp_path / "run" / "epochs").iterdir()) == ["epoch_002.safetensors",
                                                                               "epoch_004.safetensors"]
    for epoch, dice in ((2, 0.5), (4, 0.3)):
        path = loop.epoch_model_path(tmp_path / "run", epoch)
        _, card = load_model(path)
        assert card["training"]["epoch"] == epoch and card["validation"]["dice"] == dice
        weights = load_file(str(path))
        assert all(torch.equal(weights[k], kept[epoch][k]) for k in weights)
    # The best epoch is still the run's model; an epoch's model is benchmarked like any model file.
    assert load_model(result.model_path)[1]["training"]["epoch"] == 2
    with pytest.raises(RadioUNetError, match="keep_every"):
        load_config(tiny_config, ["training.keep_every=-1"])


def test_validation_without_a_diffuse_pixel_is_said_once(tiny_config, tmp_path, capsys):
    config = load_config(tiny_config, ["training.epochs=2", "data.fraction_diffuse=0.0"])
    result = _run(config, tmp_path / "run")
    assert result.best_metrics["positive_pixels"] == 0
    err = capsys.readouterr().err
    assert err.count("the validation tiles hold no diffuse pixel") == 1


def test_radio_galaxy_pixels_follow_the_augmentation_of_the_masks():
    generator = torch.Generator().manual_seed(0)
    mask = (torch.rand(6, 1, 16, 16, generator=generator) > 0.7).float()
    batch = dict(image=torch.randn(6, 1, 16, 16, generator=generator), mask=mask,
                 labels=(mask[:, 0] * 3).long(), rms=torch.ones(6))
    config = dict(DEFAULTS["augment"])
    _, target, labels = loop.prepare_batch(batch, "cpu", config, generator)
    assert torch.equal(labels, (target * 3).long())
    weight = loop._pixel_weight(labels, dict(radio_galaxy_weight=4.0))
    assert torch.equal(weight, 1 + 3 * target) and loop._pixel_weight(labels, dict(radio_galaxy_weight=1.0)) is None


def test_correlated_noise_augmentation_adds_noise_of_the_asked_variance_and_scale_to_the_image_only():
    n, size, rms, fraction, beam = 32, 128, 2.0, 0.3, 4.0
    generator = torch.Generator().manual_seed(0)
    mask = (torch.rand(n, 1, size, size, generator=generator) > 0.7).float()
    batch = dict(image=torch.zeros(n, 1, size, size), mask=mask, labels=(mask[:, 0] * 3).long(),
                 rms=torch.full((n,), rms))
    augment = dict(DEFAULTS["augment"], dihedral=False, noise_jitter=[1.0, 1.0], flux_jitter=[1.0, 1.0],
                   correlated_noise=[fraction, fraction], correlated_noise_scale=[1.5, 1.5])
    inputs, target, labels = loop.prepare_batch(batch, "cpu", augment, generator, beam_fwhm_pixels=beam)
    assert torch.equal(target, mask) and torch.equal(labels, (mask * 3).long())
    # Undo asinh(image / rms_total), rms_total = rms sqrt(1 + fraction): the added noise alone.
    added = torch.sinh(inputs) * rms * (1 + fraction) ** 0.5
    assert added.std().item() == pytest.approx(rms * fraction ** 0.5, rel=0.02)
    sigma = 1.5 * beam  # a Gaussian-smoothed field correlates as exp(-lag^2 / (4 sigma^2))
    for lag in (4, 8, 16):
        correlation = (added[..., :-lag] * added[..., lag:]).mean() / added.var()
        assert correlation.item() == pytest.approx(float(torch.exp(torch.tensor(-lag**2 / (4 * sigma**2)))), abs=0.05)
    plain, _, _ = loop.prepare_batch(batch, "cpu", dict(augment, correlated_noise=[0.0, 0.0]), generator)
    assert torch.equal(plain, torch.zeros_like(plain))


def test_class_models_weight_relic_pixels_on_top_of_the_diffuse_weight():
    labels = torch.tensor([[[[0, 1, 2, 3, 4]]]])
    training = dict(DEFAULTS["training"], pos_weight=2.0, radio_galaxy_weight=3.0, relic_weight=4.0)
    weight = loop._pixel_weight(labels, training, classes=True)
    assert weight.flatten().tolist() == [1.0, 2.0, 8.0, 3.0, 1.0]
    assert loop._pixel_weight(labels, dict(training, pos_weight=1.0, radio_galaxy_weight=1.0, relic_weight=1.0),
                              classes=True) is None


def test_training_from_shards_splits_by_field(tmp_path):
    assert main(["dataset", "--out", str(tmp_path / "tiles"), "--n-fields", "6", "--size", "64",
                 "--tile-size", "32", "--fields-per-shard", "3", "--no-progress"]) == 0
    config = load_config(None, ["data.source=shards", f"data.shards=['{tmp_path}/tiles/*.h5']",
                                "data.tile_size=32", "data.field_size=64", "model.depth=2", "model.width=4",
                                "data.val_fraction=0.34"])
    train_set, val_set, _ = build_datasets(config)
    train_fields = {train_set[i]["field_index"] for i in range(len(train_set))}
    val_fields = {val_set[i]["field_index"] for i in range(len(val_set))}
    assert train_fields == {0, 1, 2, 3} and val_fields == {4, 5}


def test_a_model_trained_on_shards_records_their_survey_and_tiles(tmp_path):
    assert main(["dataset", "--out", str(tmp_path / "tiles"), "--n-fields", "4", "--size", "64", "--tile-size", "32",
                 "--fields-per-shard", "2", "--preset", "lotss-dr2-20", "--no-progress"]) == 0
    shards = ["data.source=shards", f"data.shards=['{tmp_path}/tiles/*.h5']", "data.field_size=64",
              "model.depth=2", "model.width=4", "data.val_fraction=0.5"]
    config = load_config(None, shards + ["data.tile_size=32"])
    _, _, survey = build_datasets(config)
    assert survey.name == "lotss-dr2-20" and survey.pixel_arcsec == pytest.approx(
        get_survey("lotss-dr2-20").pixel_arcsec)
    with pytest.raises(RadioUNetError, match="shard_00000.h5: holds 32-pixel tiles, not data.tile_size = 64"):
        build_datasets(load_config(None, shards + ["data.tile_size=64"]))
    # data.field_size is the simulator's: shards are checked against their own tiles, not against it.
    with pytest.raises(RadioUNetError, match="holds 32-pixel tiles, not data.tile_size = 512"):
        build_datasets(load_config(None, shards + ["data.tile_size=512"]))
    # The card says what the shards hold, not the configuration's simulator keys, which they did not use.
    (tmp_path / "empty.toml").write_text("")
    overrides = [a for value in shards + ["data.tile_size=32", "training.epochs=1"] for a in ("--set", value)]
    assert main(["train", str(tmp_path / "empty.toml"), "--out", str(tmp_path / "run"), "--no-progress",
                 *overrides]) == 0
    record = load_model(tmp_path / "run" / "model.safetensors")[1]["training_shards"]
    assert record["n_fields"] == 4 and len(record["files"]) == 2 and record["simulation"]["survey"]["name"] == (
        "lotss-dr2-20")


def test_ddp_training_on_two_cpu_ranks(tiny_config, tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
               "-m", "radiounet.cli", "train", str(tiny_config), "--out", str(out), "--no-progress",
               "--set", "training.epochs=2"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    with open(out / "log.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 2  # written once, by rank 0
    assert result.stdout.count("best validation Dice") == 1  # said once too
    load_model(out / "model.safetensors")


def test_cli_train_and_finetune_with_frozen_encoder(tiny_config, tmp_path, capsys):
    out = tmp_path / "base"
    train_args = ["train", str(tiny_config), "--out", str(out), "--no-progress", "--set", "training.epochs=1",
                  "--set", "augment.noise_jitter=[0.9, 1.2]"]
    assert main(train_args) == 0
    assert shlex.split(load_model(out / "model.safetensors")[1]["training"]["command"]) == ["radio-unet", *train_args]
    assert main(["simulate", "--out", str(tmp_path / "sim"), "--size", "96", "--no-png", "--no-progress",
                 "--n-fields", "2", "--fraction-diffuse", "1", "--fraction-radio-galaxies", "0", "--redshift-range",
                 "0.3", "0.4"]) == 0
    image, mask = tmp_path / "sim" / "field_00000.fits", tmp_path / "sim" / "field_00000.mask.fits"
    tuned = tmp_path / "tuned"
    finetune_args = ["finetune", "--model", str(out / "model.safetensors"), "--images", str(image), "--masks",
                     str(mask), "--out", str(tuned), "--freeze-encoder", "--epochs", "2", "--tiles-per-epoch", "8",
                     "--no-progress"]
    assert main(finetune_args) == 0
    assert main(finetune_args) == 0  # the same command again finds the run finished (it resumes a stopped one)
    before = load_file(str(out / "model.safetensors"))
    after = load_file(str(tuned / "checkpoints" / "last.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("encoder.") and "running" not in k
               and "num_batches" not in k)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    tuned_model, card = load_model(tuned / "model.safetensors")
    assert card["fine_tuned_from"].endswith("model.safetensors")
    assert card["parameters"] == sum(p.numel() for p in tuned_model.parameters())  # the frozen encoder counts too
    other = tmp_path / "sim" / "field_00001.fits"
    other_inputs = [other if a == str(image) else a for a in finetune_args]
    other_inputs[other_inputs.index(str(mask))] = str(tmp_path / "sim" / "field_00001.mask.fits")
    assert main([str(a) for a in other_inputs]) == 2
    assert "holds a run started on other inputs (images, masks differ)" in capsys.readouterr().err


def test_finetune_starts_from_a_card_written_before_the_newest_config_keys(tiny_config, tmp_path):
    # A model's card holds the training configuration of its day (the shipped ones predate relic_weight):
    # keys added since take their defaults.
    from radiounet.models import save_model
    from radiounet.train.config import DEFAULTS

    assert main(["train", str(tiny_config), "--out", str(tmp_path / "base"), "--no-progress",
                 "--set", "training.epochs=1"]) == 0
    model, card = load_model(tmp_path / "base" / "model.safetensors")
    del card["training"]["config"]["training"]["relic_weight"]
    old = save_model(tmp_path / "old.safetensors", model, card)
    # ... and an architecture without the keys added since (save_model writes the model's own).
    card["architecture"] = {k: v for k, v in model.config.to_dict().items() if k != "compact_filter_box"}
    save_file(load_file(str(old)), str(old), metadata={"radiounet_model_card": json.dumps(card)})
    assert main(["simulate", "--out", str(tmp_path / "sim"), "--size", "96", "--no-png", "--no-progress",
                 "--n-fields", "2", "--fraction-diffuse", "1", "--fraction-radio-galaxies", "0"]) == 0
    assert main(["finetune", "--model", str(old), "--images", str(tmp_path / "sim" / "field_00000.fits"),
                 "--masks", str(tmp_path / "sim" / "field_00000.mask.fits"), "--out", str(tmp_path / "tuned"),
                 "--epochs", "1", "--tiles-per-epoch", "4", "--no-progress"]) == 0
    _, tuned = load_model(tmp_path / "tuned" / "model.safetensors")
    assert tuned["training"]["config"]["training"]["relic_weight"] == DEFAULTS["training"]["relic_weight"]


def test_cli_errors_exit_2(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml" in capsys.readouterr().err
    assert main(["model-info", "--model", str(tmp_path / "missing.safetensors")]) == 2
    bad = tmp_path / "other.safetensors"
    bad.write_bytes(b"not a model")
    assert main(["finetune", "--model", str(bad), "--images", "a.fits", "--masks", "b.fits",
                 "--out", str(tmp_path / "x")]) == 2
    assert "other.safetensors" in capsys.readouterr().err


def test_model_info_prints_parameters_and_flops(tiny_config, capsys):
    assert main(["model-info", "--config", str(tiny_config)]) == 0
    out = capsys.readouterr().out
    assert "parameters:" in out and "FLOPs per 32x32 tile" in out


def test_corrupt_shard_in_a_training_config_exits_2(tmp_path, capsys):
    shard = tmp_path / "shard_00000.h5"
    shard.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    config = tmp_path / "shards.toml"
    config.write_text(f"[data]\nsource = 'shards'\nshards = ['{tmp_path}/*.h5']\n")
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "shard_00000.h5" in err and err.count("\n") == 1


def test_training_can_continue_from_a_model(tiny_config, tmp_path):
    first = _run(load_config(tiny_config, ["training.epochs=1"]), tmp_path / "first")
    config = load_config(tiny_config, ["training.epochs=1", "training.learning_rate=1e-12",
                                       "training.warmup_epochs=0", f"training.init_model='{first.model_path}'"])
    train_set, val_set, survey = build_datasets(config)
    loop.train(config, tmp_path / "second", datasets=(train_set, val_set), survey=survey, progress=False,
               init_model=config["training"]["init_model"])
    before = load_file(str(first.model_path))
    after = load_file(str(tmp_path / "second" / "checkpoints" / "last.safetensors"))
    convolutions = [k for k in before if k.endswith("weight") and before[k].ndim == 4]
    assert convolutions and all(torch.allclose(before[k], after[k], atol=1e-6) for k in convolutions)
    # A network that also reads the compact-source-filtered copy starts from one that does not.
    filtered = load_config(tiny_config, ["training.epochs=1", "training.learning_rate=1e-12",
                                         "training.warmup_epochs=0", "model.compact_filter_box=3",
                                         f"training.init_model='{first.model_path}'"])
    loop.train(filtered, tmp_path / "third", datasets=(train_set, val_set), survey=survey, progress=False,
               init_model=filtered["training"]["init_model"])
    after = load_file(str(tmp_path / "third" / "checkpoints" / "last.safetensors"))
    first_convolution = after["encoder.0.0.weight"]
    assert first_convolution.shape[1] == 2
    assert torch.allclose(first_convolution, before["encoder.0.0.weight"].repeat(1, 2, 1, 1) / 2, atol=1e-6)
    network, card = load_model(tmp_path / "third" / "model.safetensors")
    assert network.compact_filter.box == 3 and card["architecture"]["compact_filter_box"] == 3


def test_a_class_network_reading_the_filtered_copy_starts_from_the_class_network_of_a_gated_model(
        tiny_config, tmp_path):
    from radiounet.models.store import resolve_model_path

    config = load_config(tiny_config, ["training.epochs=1", "training.learning_rate=1e-12", "training.warmup_epochs=0",
                                       "model.out_channels=5", "model.width=8", "model.depth=4",
                                       "model.compact_filter_box=3", "training.init_model='lotss-gated-v1'"])
    train_set, val_set, survey = build_datasets(config)
    loop.train(config, tmp_path / "run", datasets=(train_set, val_set), survey=survey, progress=False,
               init_model="lotss-gated-v1")
    gated = load_file(str(resolve_model_path("lotss-gated-v1")))
    after = load_file(str(tmp_path / "run" / "checkpoints" / "last.safetensors"))
    assert torch.allclose(after["encoder.0.0.weight"], gated["classes.encoder.0.0.weight"].repeat(1, 2, 1, 1) / 2,
                          atol=1e-6)


def test_model_info_of_the_gated_model_names_its_two_networks(capsys):
    from radiounet.models import read_model_card

    assert main(["model-info", "--model", "lotss-gated-v1"]) == 0
    out = capsys.readouterr().out
    card = read_model_card("lotss-gated-v1")
    assert f"parameters: {card['parameters']:,}" in out
    assert "gated: the class network of lotss-classes-v5" in out and "lotss-diffuse-v1 reaches 0.2" in out
    assert f"validation Dice per class: background {card['validation']['class_dice']['background']:.3f}" in out
    assert f"mask threshold (pixel probability): {card['threshold']}" in out
    assert f"detect's R threshold (mean probability in 2.2 R500): {card['detection_ratio_threshold']:.4g}" in out


def test_a_student_learns_the_class_probabilities_of_its_teacher(tiny_config, tmp_path):
    """training.teacher_model: with teacher_weight 1 the loss is KL(teacher || student) alone, and training brings
    the student's class probabilities towards the teacher's; the teacher is one class network."""
    from radiounet.train.losses import distillation_loss

    logits = torch.randn(2, 5, 8, 8)
    assert float(distillation_loss(logits, logits)) == pytest.approx(0, abs=1e-6)
    assert float(distillation_loss(logits, torch.randn(2, 5, 8, 8))) > 0.1
    teacher = _run(load_config(tiny_config, ["training.epochs=2", "model.out_channels=5",
                                             "training.learning_rate=1e-2"]), tmp_path / "teacher")
    common = ["training.epochs=3", "model.out_channels=5", "model.width=8", "training.learning_rate=3e-3",
              "training.warmup_epochs=0", "data.train_fields=24", "data.seed=5"]
    overrides = common + ["training.teacher_weight=1.0", f"training.teacher_model='{teacher.model_path}'"]
    config = load_config(tiny_config, overrides)
    train_set, val_set, survey = build_datasets(config)
    inputs = loop.prepare_batch(next(iter(torch.utils.data.DataLoader(train_set, batch_size=8))),
                                torch.device("cpu"))[0]
    teacher_net, _ = load_model(teacher.model_path)

    def gap(path):
        student, _ = load_model(path)
        with torch.no_grad():
            return float(distillation_loss(student(inputs), teacher_net(inputs)))

    distilled = loop.train(config, tmp_path / "student", datasets=(train_set, val_set), survey=survey,
                           progress=False)
    on_labels = _run(load_config(tiny_config, common), tmp_path / "labels")
    assert gap(distilled.model_path) < 0.7 * gap(on_labels.model_path)  # measured: 0.035 against 0.074
    binary = _run(load_config(tiny_config, ["training.epochs=1"]), tmp_path / "binary")
    with pytest.raises(RadioUNetError, match="a teacher must be a class model"):
        _run(load_config(tiny_config, overrides[:-1] + [f"training.teacher_model='{binary.model_path}'"]),
             tmp_path / "refused")
    with pytest.raises(RadioUNetError, match="a binary network .* learns from no teacher"):
        _run(load_config(tiny_config, ["training.epochs=1", f"training.teacher_model='{distilled.model_path}'"]),
             tmp_path / "binary_student")
