"""The U-Net, its cost, and model files (safetensors + card, checksums, architecture checks)."""

import json
from pathlib import Path

import pytest
import torch

from radiounet.errors import InvalidParameterError, RadioUNetError
from radiounet.models import (UNet, UNetConfig, count_parameters, flops_per_tile, load_model, read_model_card,
                              save_model, throughput)
from radiounet.models import store


@pytest.mark.parametrize("depth, width, norm", [(1, 4, "batch"), (3, 8, "group"), (2, 4, "instance"),
                                                (2, 4, "none")])
def test_unet_keeps_the_tile_shape(depth, width, norm):
    net = UNet(UNetConfig(depth=depth, width=width, norm=norm, out_channels=3)).eval()
    assert net(torch.randn(2, 1, 64, 96)).shape == (2, 3, 64, 96)


def test_folding_batch_norm_keeps_the_outputs_of_a_trained_network():
    from radiounet.models.fusion import fold_batch_norm

    torch.manual_seed(1)
    net = UNet(UNetConfig(depth=2, width=8, norm="batch", out_channels=5))
    with torch.no_grad():  # statistics and affine parameters far from the initial ones, as after training
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 2)
                module.running_var.uniform_(0.1, 5)
                module.weight.normal_(1, 0.5)
                module.bias.normal_(0, 0.5)
    net.eval()
    x = torch.randn(2, 1, 64, 96)
    with torch.no_grad():
        expected = net(x)
        folded = fold_batch_norm(net)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
        torch.testing.assert_close(folded(x), expected, atol=1e-4, rtol=1e-4)


def test_the_compact_source_filter_removes_sources_narrower_than_its_box_and_keeps_wider_emission():
    from radiounet.models.unet import CompactSourceFilter

    image = torch.zeros(1, 1, 64, 64)
    image[..., 10:40, 10:40] = 1.0  # diffuse: 30 pixels across
    image[..., 20:23, 20:23] += 5.0  # a compact source on it
    image[..., 50:53, 50:53] = 5.0  # a compact source alone
    image[..., 45:47, 5:60] = 2.0  # a ridge two pixels wide, long
    image[..., 60:64, :] = 3.0  # a ridge four pixels wide along the edge
    image[..., 0:20, 50:64] = 1.5  # diffuse, reaching the edge
    filtered = CompactSourceFilter(7)(image)
    assert filtered.shape == image.shape
    assert torch.equal(filtered[0, 0, 10:40, 10:40], torch.ones(30, 30))
    assert torch.equal(filtered[0, 0, 0:20, 50:64], torch.full((20, 14), 1.5))
    assert float(filtered[..., 50:53, 50:53].abs().max()) == 0 and float(filtered[..., 45:47, :].abs().max()) == 0
    assert torch.equal(filtered[0, 0, 40:, :40], torch.zeros(24, 40))


def test_a_network_reading_the_filtered_copy_starts_from_one_without_it_sharing_its_first_weights(
        tmp_path, tiny_card):
    """model.compact_filter_box with training.init_model of a model without it: the image and the filtered copy
    each get half of the first convolution's weights, so emission the filter keeps gives the other model's
    output, and compact sources reach the network at half their weight."""
    from radiounet.models.unet import CompactSourceFilter

    torch.manual_seed(0)
    plain = UNet(UNetConfig(depth=2, width=4, out_channels=5)).eval()
    path = save_model(tmp_path / "plain.safetensors", plain, tiny_card())
    filtered = UNet(UNetConfig(depth=2, width=4, out_channels=5, compact_filter_box=5)).eval()
    store.load_weights(filtered, path, add_filter=True)
    first = filtered.encoder[0][0].weight
    assert first.shape[1] == 2 and torch.equal(first[:, :1], first[:, 1:])
    assert torch.equal(first[:, :1] * 2, plain.encoder[0][0].weight)
    wide = torch.zeros(1, 1, 32, 32)
    wide[..., 4:28, 4:28] = 2.0
    with_compact = wide.clone()
    with_compact[..., 15:17, 15:17] += 6.0
    assert torch.equal(CompactSourceFilter(5)(wide), wide)
    with torch.no_grad():
        torch.testing.assert_close(filtered(wide), plain(wide), atol=1e-5, rtol=1e-5)
        assert not torch.allclose(filtered(with_compact), plain(with_compact), atol=1e-3)


def test_head_can_be_replaced_by_a_multiclass_head():
    net = UNet(UNetConfig(depth=2, width=4))
    net.head = torch.nn.Conv2d(4, 5, 1)
    assert net(torch.randn(1, 1, 32, 32)).shape == (1, 5, 32, 32)


def test_tile_must_be_a_multiple_of_the_depth():
    net = UNet(UNetConfig(depth=3, width=4))
    with pytest.raises(InvalidParameterError, match="multiples of 8"):
        net(torch.zeros(1, 1, 60, 64))


@pytest.mark.parametrize("kwargs", [dict(depth=0), dict(width=-1), dict(norm="layer"), dict(dropout=1.0),
                                    dict(norm="group", width=12), dict(compact_filter_box=4),
                                    dict(compact_filter_box=-3), dict(compact_filter_box=1),
                                    dict(compact_filter_box=True)])
def test_bad_architecture_is_named(kwargs):
    with pytest.raises(InvalidParameterError):
        UNetConfig(**kwargs)


def test_flops_match_a_hand_count_for_one_convolution():
    class One(torch.nn.Module):
        config = UNetConfig(depth=1, width=1)

        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 2, 3, padding=1)

        def forward(self, x):
            return self.conv(x)

    # 2 output channels x 9 multiply-adds x 2 operations per pixel.
    assert flops_per_tile(One(), 10) == 2 * 9 * 2 * 100


def test_unet_cost_grows_with_width():
    small, large = UNet(UNetConfig(width=8)), UNet(UNetConfig(width=16))
    assert count_parameters(large) > 3 * count_parameters(small)
    assert flops_per_tile(large, 64) > 3 * flops_per_tile(small, 64)


@pytest.mark.parametrize("out_channels", [1, 5])
def test_throughput_times_training_and_inference_of_binary_and_class_heads(out_channels):
    rates = throughput(UNetConfig(depth=2, width=4, out_channels=out_channels), tile_size=32, batch_size=2, steps=1)
    assert set(rates) == {"train", "inference"}
    assert all(0 < v < float("inf") for v in rates.values())


def test_model_file_round_trip_with_card(tmp_path):
    net = UNet(UNetConfig(depth=2, width=4)).eval()
    path = save_model(tmp_path / "m.safetensors", net, {"threshold": 0.3, "note": "test"})
    loaded, card = load_model(path)
    assert card["threshold"] == 0.3 and card["architecture"]["width"] == 4
    x = torch.randn(1, 1, 32, 32)
    assert torch.equal(net(x), loaded(x))
    assert read_model_card(path) == card


def test_weights_of_another_architecture_are_refused(tmp_path):
    path = save_model(tmp_path / "m.safetensors", UNet(UNetConfig(depth=2, width=4)), {})
    with pytest.raises(RadioUNetError, match="another architecture"):
        store.load_weights(UNet(UNetConfig(depth=2, width=8)), path)


def test_corrupt_and_missing_model_files_are_reported(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(RadioUNetError, match="bad.safetensors"):
        load_model(bad)
    with pytest.raises(RadioUNetError, match="no such model file"):
        load_model(tmp_path / "nope.safetensors")


def test_shipped_model_checksum_is_verified(tmp_path, monkeypatch):
    net = UNet(UNetConfig(depth=2, width=4))
    folder = tmp_path / "pretrained"
    folder.mkdir()
    path = save_model(folder / "tiny.safetensors", net, {"threshold": 0.5})
    registry = {"tiny": {"file": "tiny.safetensors", "sha256": store.sha256_of(path), "description": "t"}}
    (folder / "registry.json").write_text(json.dumps(registry))

    class Files:
        def __init__(self, base):
            self.base = base

        def joinpath(self, *parts):
            return self.base.joinpath(*parts)

    monkeypatch.setattr(store.resources, "files", lambda package: Files(tmp_path))
    model, card = load_model("tiny")
    assert card["threshold"] == 0.5
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(RadioUNetError, match="does not match"):
        load_model("tiny")


def test_the_shipped_default_model_loads_by_name_with_its_card():
    from radiounet.models import available_models
    from radiounet.models.store import DEFAULT_MODEL

    assert DEFAULT_MODEL in available_models()
    model, card = load_model(DEFAULT_MODEL)
    assert card["tile_size"] == 192 and 0 < card["threshold"] < 1
    assert card["native_sampling"]["beam_fwhm_pixels"] == pytest.approx(4.0)
    assert card["held_out"]["diffuse"]["dice"] > 0.5
    with torch.no_grad():
        out = model(torch.zeros(1, 1, 192, 192))
    assert out.shape == (1, len(card.get("classes", ["diffuse"])), 192, 192)


def test_models_command_lists_every_shipped_model_default_first_with_its_card_figures(capsys):
    from radiounet.cli import main
    from radiounet.models import available_models, model_table
    from radiounet.models.store import DEFAULT_MODEL

    table = model_table()
    assert sorted(table["name"]) == sorted(available_models()) and table["name"][0] == DEFAULT_MODEL
    assert list(table["default"]) == [name == DEFAULT_MODEL for name in table["name"]]
    for row in table:
        card = read_model_card(row["name"])
        assert row["dice"] == card["held_out"]["diffuse"]["dice"] and row["threshold"] == card["threshold"]
        gated = ", gated" if card["architecture"].get("kind") == "gated" else ""
        assert row["output"] == (f"{len(card['classes'])} classes{gated}" if "classes" in card else "binary")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert f"{DEFAULT_MODEL} (default)" in out and all(f"{name}: " in out for name in available_models())
    default = read_model_card(DEFAULT_MODEL)["held_out"]
    assert f"{default['diffuse']['dice']:.3g}" in out
    assert f"{100 * default['radio_galaxies']['mean_fraction_called_diffuse']:.2f}" in out


def test_the_default_model_stores_an_r_threshold_calibrated_on_every_benchmark_survey():
    from radiounet.evaluate.benchmark import BENCHMARK_SETUPS
    from radiounet.models.store import DEFAULT_MODEL

    card = read_model_card(DEFAULT_MODEL)
    calibration = card["ratio_calibration"]
    assert 0 < card["detection_ratio_threshold"] < 0.1
    # Measured: pooled accuracy 0.74 over 160 fields; each survey's own best threshold is kept beside it.
    assert sorted(calibration["per_survey"]) == sorted(BENCHMARK_SETUPS)
    assert calibration["n_fields"] >= 160 and calibration["accuracy"] > 0.7
    assert all(0 < entry["own_threshold"] < 0.1 and 0 <= entry["accuracy"] <= 1
               for entry in calibration["per_survey"].values())


@pytest.mark.parametrize("name", ["multisurvey-v1", "lotss-gated-v1"])
def test_each_shipped_r_threshold_was_calibrated_on_fields_drawn_apart_from_the_benchmark(name):
    from radiounet.evaluate.benchmark import BENCHMARK_SEED
    from radiounet.evaluate.calibrate import CALIBRATION_SEED

    # An older calibration seed was the benchmark's: its fields held the benchmark's clusters (docs/detection.md).
    assert read_model_card(name)["ratio_calibration"]["seed"] == CALIBRATION_SEED != BENCHMARK_SEED


def test_model_cards_give_the_ship_command_as_a_shell_line_that_parses_back():
    import importlib.util
    import shlex

    from radiounet.models.store import read_model_card

    spec = importlib.util.spec_from_file_location("ship_model", Path(__file__).parents[1] / "scripts" / "ship_model.py")
    ship_model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship_model)
    gated = read_model_card("lotss-gated-v1")
    words = shlex.split(ship_model._ship_command("lotss-gated-v1", gated))
    assert words[words.index("--gate-with") + 1] == "lotss-diffuse-v1" and "--gate-rule" not in words
    assert words[words.index("--threshold") + 1] == "0.625"
    assert [words[i + 1] for i, word in enumerate(words) if word == "--recipe"] == gated["recipe"]
    assert "augment.noise_jitter=[0.9, 1.6]" in shlex.split(gated["recipe"][-1])
    default = read_model_card("multisurvey-v1")
    shipped = shlex.split(ship_model._ship_command("multisurvey-v1", default))
    assert shipped[shipped.index("--whole-image-fields") + 1] == "20"
    assert shipped[shipped.index("--fields") + 1] == "300"
    assert shipped[shipped.index("--calibrate-fields") + 1] == "40" and "--threshold" not in shipped
    # The description is part of the card the command makes.
    assert words[words.index("--description") + 1] == gated["description"] and gated["description"]
    # Each card's cluster-class section says what its own regression's ratios measure.
    section = "\n".join(ship_model._cluster_class_section(gated["cluster_classes"]))
    assert "R_relic_outskirts: relic probability between R500 and 2.2 R500" in section
    assert "A relic (alone or with the other) is called where there is one in" in section
    assert "the rest going to background" in "\n".join(ship_model._gate_section(gated["gate"]))
    gated["gate"]["gate_rule"] = "conditional"
    words = shlex.split(ship_model._ship_command("lotss-gated-v1", gated))
    assert words[words.index("--gate-rule") + 1] == "conditional"
    assert "class network's own proportions" in "\n".join(ship_model._gate_section(gated["gate"]))
    assert ship_model._label_rule(gated["training"]["config"]["data"]) == ""
    assert "brightest component wins" in ship_model._label_rule(dict(label_rule="brightest"))
    # A threshold chosen on whole images: the command chooses it again, the card says how it was chosen.
    default["threshold"] = 0.45
    default["threshold_selection"] = dict(surveys=["lotss-dr2-6", "meerkat-mgcls"], seed=777000901, size=512,
                                          max_radio_galaxy_called=0.005,
                                          sweep=dict(threshold=[0.4, 0.45], dice_mean=[0.7, 0.72],
                                                     radio_galaxy_called_mean=[0.006, 0.004]))
    shipped = shlex.split(ship_model._ship_command("multisurvey-v1", default))
    assert shipped[shipped.index("--select-threshold") + 1:shipped.index("--select-threshold") + 3] == [
        "lotss-dr2-6", "meerkat-mgcls"] and "--threshold" not in shipped
    assert shipped[shipped.index("--max-radio-galaxy-called") + 1] == "0.005"
    assert "512x512 images of lotss-dr2-6, meerkat-mgcls (seed 777000901 + 1000 per survey, in the order of their " \
        "names): mean diffuse Dice 0.720, radio-galaxy images 0.40% called diffuse (at most 0.50% asked)" in \
        ship_model._threshold_selection(default)


def _tiny_gated(gate_scale=0.2, gate_rule="background"):
    from radiounet.models import gate_model

    torch.manual_seed(0)
    classes = UNet(UNetConfig(depth=2, width=4, out_channels=5)).eval()
    binary = UNet(UNetConfig(depth=2, width=4)).eval()
    return gate_model(classes, binary, gate_scale, gate_rule), classes, binary


def test_a_gated_model_keeps_halo_and_relic_only_where_the_binary_model_sees_diffuse_emission():
    from radiounet.models.outputs import diffuse_probability

    gated, classes, binary = _tiny_gated(0.2)
    x = torch.randn(3, 1, 32, 32) * 4
    with torch.no_grad():
        probability = torch.softmax(gated(x), dim=1)
        p_classes, p_binary = torch.softmax(classes(x), dim=1), torch.sigmoid(binary(x))
    gate = (p_binary / 0.2).clamp(max=1)
    assert torch.allclose(probability.sum(dim=1), torch.ones(3, 32, 32), atol=1e-5)
    assert torch.allclose(diffuse_probability(gated(x).detach()), p_classes[:, 1:3].sum(1, keepdim=True) * gate,
                          atol=1e-6)
    # radio galaxy and compact source untouched; what halo and relic lose goes to background
    assert torch.allclose(probability[:, 3:], p_classes[:, 3:], atol=1e-6)
    assert torch.all(probability[:, :1] >= p_classes[:, :1] - 1e-6)
    open_gate = _tiny_gated(1e-9)[0]
    with torch.no_grad():
        assert torch.allclose(torch.softmax(open_gate(x), dim=1), p_classes, atol=1e-5)


def test_the_conditional_gate_rule_shares_what_the_gate_removes_as_the_class_model_would_without_diffuse_emission():
    """Same diffuse probability as the background rule; background, radio galaxy and compact keep their ratios."""
    from radiounet.models.outputs import diffuse_probability

    to_background = _tiny_gated(1.0)[0]
    conditional, classes, _ = _tiny_gated(1.0, "conditional")
    x = torch.randn(3, 1, 32, 32) * 4
    with torch.no_grad():
        shared = torch.softmax(conditional(x), dim=1)
        p_classes = torch.softmax(classes(x), dim=1)
        assert torch.allclose(diffuse_probability(conditional(x)), diffuse_probability(to_background(x)), atol=1e-6)
        background_rule = torch.softmax(to_background(x), dim=1)
    assert torch.allclose(shared.sum(dim=1), torch.ones(3, 32, 32), atol=1e-5)
    rest = [0, 3, 4]
    assert torch.allclose(shared[:, rest] / shared[:, rest].sum(1, keepdim=True),
                          p_classes[:, rest] / p_classes[:, rest].sum(1, keepdim=True), atol=1e-5)
    gained = shared[:, 3] - p_classes[:, 3]
    assert torch.all(gained >= -1e-6) and gained.max() > 1e-3
    assert torch.all(shared[:, 0] <= background_rule[:, 0] + 1e-6)


def test_a_gated_model_file_round_trips_and_cannot_be_trained_on(tmp_path, capsys):
    from radiounet.cli import main

    gated, _, _ = _tiny_gated()
    path = save_model(tmp_path / "g.safetensors", gated, {"threshold": 0.6, "tile_size": 32,
                                                          "gate": {"binary_model": "b", "classes_model": "c"}})
    loaded, card = load_model(path)
    assert card["architecture"]["kind"] == "gated" and card["architecture"]["gate_scale"] == 0.2
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(gated(x), loaded(x))
    assert count_parameters(loaded) == count_parameters(gated.classes) + count_parameters(gated.binary)
    assert flops_per_tile(loaded, 32) > flops_per_tile(gated.classes, 32)
    assert throughput(loaded.config, tile_size=32, batch_size=1, steps=1)["train"] is None
    with pytest.raises(RadioUNetError, match="g.safetensors: a gated model .* cannot be trained further"):
        store.require_one_network(card, path)
    assert main(["finetune", "--model", str(path), "--images", "x.fits", "--masks", "y.fits",
                 "--out", str(tmp_path / "ft")]) == 2
    assert "cannot be trained further" in capsys.readouterr().err


def test_a_gated_architecture_must_pair_a_class_model_with_a_binary_one(tmp_path):
    from radiounet.models import GatedConfig

    with pytest.raises(InvalidParameterError, match="binary model outputs"):
        GatedConfig(UNetConfig(out_channels=5), UNetConfig(out_channels=5))
    with pytest.raises(InvalidParameterError, match="classes model outputs"):
        GatedConfig(UNetConfig(out_channels=1), UNetConfig(out_channels=1))
    with pytest.raises(InvalidParameterError, match="gate_scale"):
        GatedConfig(UNetConfig(out_channels=5), UNetConfig(), gate_scale=0)
    with pytest.raises(InvalidParameterError, match="gate_rule.*background, conditional"):
        GatedConfig(UNetConfig(out_channels=5), UNetConfig(), gate_rule="binary")
    older_card = GatedConfig(UNetConfig(out_channels=5), UNetConfig()).to_dict()
    del older_card["gate_rule"]
    assert GatedConfig.from_dict(older_card).gate_rule == "background"
    gated, _, _ = _tiny_gated()
    path = save_model(tmp_path / "g.safetensors", gated, {})
    card = read_model_card(path)
    card["architecture"]["binary"]["out_channels"] = 2
    from safetensors.torch import load_file, save_file

    save_file(load_file(str(path)), str(path), metadata={"radiounet_model_card": json.dumps(card)})
    with pytest.raises(RadioUNetError, match="g.safetensors: model card has an unknown architecture"):
        load_model(path)


def test_a_deeper_network_starts_from_a_shallower_one_at_its_upper_levels(tmp_path, tiny_card):
    """training.init_model with a network one level shallower: its levels become the upper ones, its bottleneck
    the new lowest encoder level; only the new level keeps its own (random) weights."""
    torch.manual_seed(0)
    shallow = UNet(UNetConfig(depth=2, width=4, out_channels=5))
    path = save_model(tmp_path / "shallow.safetensors", shallow, tiny_card())
    deep = UNet(UNetConfig(depth=3, width=4, out_channels=5))
    new_bottleneck = deep.bottleneck[0].weight.clone()
    store.load_weights(deep, path, extra_levels=1)
    pairs = [(deep.encoder[1], shallow.encoder[1]), (deep.encoder[2], shallow.bottleneck),
             (deep.upsample[1], shallow.upsample[0]), (deep.decoder[2], shallow.decoder[1]), (deep.head, shallow.head)]
    for deep_part, shallow_part in pairs:
        for a, b in zip(deep_part.state_dict().values(), shallow_part.state_dict().values()):
            assert torch.equal(a, b)
    assert torch.equal(deep.bottleneck[0].weight, new_bottleneck)
    with pytest.raises(RadioUNetError, match="another architecture"):
        store.load_weights(UNet(UNetConfig(depth=3, width=8, out_channels=5)), path, extra_levels=1)


def test_a_wider_network_starts_computing_what_the_narrower_one_did(tmp_path, tiny_card):
    """training.init_model with a narrower network: the wide one's output equals the narrow one's (the added
    channels unread until training), and its added channels keep their own weights to grow from."""
    torch.manual_seed(0)
    narrow = UNet(UNetConfig(depth=2, width=4, out_channels=5)).eval()
    for module in narrow.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    path = save_model(tmp_path / "narrow.safetensors", narrow, tiny_card())
    wide = UNet(UNetConfig(depth=2, width=6, out_channels=5)).eval()
    added = wide.encoder[1][0].weight[8:].clone()
    store.load_weights(wide, path, widen=True)
    image = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(wide(image), narrow(image), atol=1e-5)
    assert torch.equal(wide.encoder[1][0].weight[8:], added)
    assert torch.equal(wide.encoder[1][0].weight[:8, :4], narrow.encoder[1][0].weight)
    with pytest.raises(RadioUNetError, match="another architecture"):
        store.load_weights(UNet(UNetConfig(depth=2, width=4, out_channels=5)),
                           save_model(tmp_path / "wide.safetensors", wide, tiny_card()), widen=True)
