"""Ship a trained model with the package: held-out metrics, model card, checksum, registry.

    python scripts/ship_model.py runs/multisurvey-stage2/model.safetensors --name multisurvey-v1 \
        --description "..." [--fields 1000] [--calibration-surveys lotss-dr2-6 lotss-dr2-20 ...]

0. with ``--select-threshold PRESET ...``, chooses the probability threshold: the best mean diffuse Dice
   over whole simulated images of those presets, at a seed of their own (radiounet.evaluate.threshold;
   ``--max-radio-galaxy-called`` bounds the radio-galaxy pixels called diffuse); else ``--threshold`` or the
   training configuration's;
1. evaluates the model on held-out synthetic fields (radiounet.evaluate.evaluate_synthetic):
   Dice on fields with diffuse emission, fraction of pixels called diffuse on fields with
   radio galaxies only and on empty fields; then on held-out whole 1024x1024 images segmented
   as predict does (radiounet.evaluate.evaluate_whole_images);
2. writes the model with those metrics added to its card into
   src/radiounet/models/pretrained/NAME.safetensors;
3. calibrates the detection-ratio threshold on simulated cluster fields
   (radiounet.evaluate.calibrate) and stores it as ``detection_ratio_threshold``; for a class
   model, fits detect's cluster classes (none / halo / relic / both) on the same fields
   (radiounet.detect.cluster_class) and stores them as ``cluster_classes``;
4. records its sha256 in pretrained/registry.json and writes pretrained/NAME.md, the
   human-readable model card;
5. measures it on skies it never saw (radiounet.evaluate.benchmark, what `radio-unet benchmark`
   runs) and writes the table into pretrained/NAME.benchmark.ecsv (shown by `radio-unet models`)
   and into the card. Give the real images with --benchmark-real-data and --benchmark-noise-images.

With ``--benchmark-only`` a model already shipped keeps its weights: only step 5 runs, and its card
NAME.md is written again with the table:

    python scripts/ship_model.py lotss-gated-v1 --name lotss-gated-v1 --benchmark-only \
        --benchmark-real-data ../shared/data/real --benchmark-noise-images ../shared/data/lotss_dr1/*mosaic*.fits \
        --benchmark-work-dir benchmark/lotss-gated-v1/parts

With ``--recalibrate`` a model already shipped keeps its weights and held-out figures: steps 3 to 5 run
again, with the calibration settings its card records (surveys, fields per survey, correlated noise) and
today's calibration seed (radiounet.evaluate.calibrate.CALIBRATION_SEED):

    python scripts/ship_model.py multisurvey-v1 --name multisurvey-v1 --recalibrate \
        --benchmark-real-data ../shared/data/real --benchmark-noise-images ../shared/data/lotss_dr1/*mosaic*.fits

With ``--gate-with BINARY`` the model (a class model) is shipped gated by the binary model BINARY
(radiounet.models.gated): both networks in one file, the class model's halo and relic
probabilities kept where the binary model's probability reaches ``--gate-scale``:

    python scripts/ship_model.py runs/v4-noisejitter/model.safetensors --gate-with BINARY \
        --gate-scale 0.2 --name lotss-gated-v1 --threshold 0.625 --description "..."

(lotss-gated-v1 was gated with lotss-diffuse-v1, a model of 0.1.0 that has left the package.)
"""

import argparse
import itertools
import json
import shlex
import tempfile
import time
from pathlib import Path

import astropy.units as u
import numpy as np
import torch
from astropy.table import QTable

from radiounet.detect.cluster_class import classifier_from_calibration
from radiounet.evaluate import evaluate_synthetic, evaluate_whole_images
from radiounet.evaluate.benchmark import run_benchmark
from radiounet.evaluate.benchmark_report import markdown_report
from radiounet.evaluate.calibrate import (CALIBRATION_SEED, CORRELATED_NOISE_SCALE, SURVEY_SEED_STEP,
                                          calibrate_across_surveys, calibrate_ratio_threshold)
from radiounet.evaluate.threshold import THRESHOLD_SEED, select_threshold
from radiounet.inference import Predictor
from radiounet.io.tables import write_table
from radiounet.models import count_parameters, flops_per_tile, load_model, read_model_card, save_model, throughput
from radiounet.models.gated import GATE_RULE_WORDS, GATE_RULES, gate_model
from radiounet.models.store import is_gated, resolve_model_path, sha256_of
from radiounet.sky import custom_survey, get_survey

PRETRAINED = Path(__file__).resolve().parents[1] / "src" / "radiounet" / "models" / "pretrained"
#: Defaults of --fields and --whole-image-fields; a card's ship command names them only where they differ.
HELD_OUT_FIELDS = 1000
WHOLE_IMAGE_FIELDS = 40


def _tiles(data):
    """How the training tiles were cut, in words (cards of earlier versions lack the foreground keys)."""
    text = f"random {data['tile_size']} px tiles"
    if data.get("foreground_crop_fraction"):
        source = data.get("foreground_field_size") or data["field_size"]
        text += (f", {data['foreground_crop_fraction']:.0%} of them cut around a halo, relic or radio-galaxy pixel "
                 f"of {source} px fields")
    return text


def _label_rule(data):
    """The labels' rule in words where it is not the reference one (cards of earlier versions lack the key)."""
    if data.get("label_rule", "mask") == "mask":
        return ""
    return ("; labels where the brightest component wins (a radio galaxy or compact source outshining the halo or "
            "relic it lies on keeps its pixels; the held-out figures below use the reference labels)")


def _ship_command(name, card):
    """The command that shipped the model, quoted for the shell (a recipe may hold quotes of its own)."""
    calibration = card["ratio_calibration"]
    # Fields per survey where the calibration pooled several.
    fields = calibration["n_fields"] // max(len(calibration.get("per_survey") or {}), 1)
    command = ["python", "scripts/ship_model.py", card.get("source_file", "MODEL"), "--name", name,
               "--calibrate-fields", str(fields)]
    if card.get("description"):
        command += ["--description", card["description"]]
    if card["held_out"]["diffuse"]["n_fields"] != HELD_OUT_FIELDS:
        command += ["--fields", str(card["held_out"]["diffuse"]["n_fields"])]
    whole_image_fields = card.get("whole_images", {}).get("diffuse", {}).get("n_fields", WHOLE_IMAGE_FIELDS)
    if whole_image_fields != WHOLE_IMAGE_FIELDS:
        command += ["--whole-image-fields", str(whole_image_fields)]
    if "gate" in card:
        command += ["--gate-with", card["gate"]["binary_model"], "--gate-scale", f"{card['gate']['gate_scale']:g}"]
        if card["gate"].get("gate_rule", "background") != "background":
            command += ["--gate-rule", card["gate"]["gate_rule"]]
    if card["ratio_calibration"].get("per_survey"):
        command += ["--calibration-surveys", *card["ratio_calibration"]["per_survey"]]
    if card["ratio_calibration"].get("correlated_noise"):
        command += ["--calibration-noise", f"{card['ratio_calibration']['correlated_noise']:g}"]
    selection = card.get("threshold_selection")
    if selection:
        command += ["--select-threshold", *selection["surveys"]]
        if selection["max_radio_galaxy_called"] is not None:
            command += ["--max-radio-galaxy-called", f"{selection['max_radio_galaxy_called']:g}"]
    elif card["threshold"] != card["training"]["config"]["training"]["threshold"]:
        command += ["--threshold", f"{card['threshold']:g}"]
    return shlex.join(command + [word for step in card.get("recipe", []) for word in ("--recipe", step)])


def _markdown(name, card, sha256, path, benchmark=()):
    """The model card in Markdown; ``benchmark``: the lines of its benchmark section."""
    training = card["training"]
    config = training["config"]
    held = card["held_out"]
    d, rg, empty = held["diffuse"], held["radio_galaxies"], held["empty"]
    native = card["native_sampling"]
    lines = [
        f"# Model card: {name}",
        "",
        card.get("description", ""),
        "",
        f"- file: `{path.name}` ({path.stat().st_size / 1e6:.1f} MB), sha256 `{sha256}`",
        f"- task: {card['task']}; output: {card['output']}",
        f"- architecture: {_architecture(card['architecture'])}; {card['parameters']:,} parameters; "
        f"{card['flops_per_tile'] / 1e9:.2f} GFLOP per {card['tile_size']}x{card['tile_size']} tile",
        f"- input normalisation: {card['normalization']}",
        f"- native sampling: {native['beam_fwhm_pixels']:.2f} pixels per beam FWHM "
        f"({native['survey']}: {native['bmaj_arcsec']:g}\" beam, {native['pixel_arcsec']:g}\" pixels)",
        f"- detection threshold (probability): {card['threshold']}" + _threshold_selection(card),
        f"- detection-ratio threshold for `radio-unet detect`: R > {card['detection_ratio_threshold']:.4g}, "
        f"calibrated on {card['ratio_calibration']['n_fields']} simulated 1024x1024 cluster fields "
        f"({card['ratio_calibration']['n_with_diffuse_emission']} with diffuse emission"
        + _calibration_seed(card["ratio_calibration"]) + "; R within 2.2 R500"
        + _calibration_noise(card["ratio_calibration"]) + "): "
        f"accuracy {card['ratio_calibration']['accuracy']:.2f}, precision {card['ratio_calibration']['precision']:.2f}, "
        f"recall {card['ratio_calibration']['recall']:.2f}" + _per_survey(card["ratio_calibration"]),
        f"- speed ({card['throughput']['device']}, batch {card['throughput']['batch_size']}, "
        "`python benchmarks/bench_model.py`): " + _speed(card["throughput"]),
        "",
        *_gate_section(card.get("gate")),
        "## Training" + (" of the class network" if "gate" in card else ""),
        f"- command: `{training['command']}`"
        + (f", continuing from `{config['training']['init_model']}`" if config["training"].get("init_model") else ""),
        f"- seeds: {config['data']['seed']} for the fields, {config['training']['seed']} for the network; the full "
        "configuration is in the model file's card (`radiounet.models.read_model_card`)",
        f"- data: synthetic {config['data']['preset']} fields of {config['data']['field_size']} px, "
        f"{config['data']['train_fields']} fresh fields per epoch, {_tiles(config['data'])}; "
        f"{int(config['data']['fraction_diffuse'] * 100)}% with diffuse emission, "
        f"{int(config['data']['fraction_radio_galaxies'] * 100)}% with radio galaxies only; "
        f"redshift {config['data']['redshift'][0]}-{config['data']['redshift'][1]}" + _label_rule(config["data"]),
        f"- weights of epoch {training.get('epoch', training.get('best_epoch'))} "
        f"({'best validation Dice' if training.get('keep', 'best') == 'best' else 'the last epoch'}) "
        f"of at most {config['training']['epochs']}; "
        f"{training['seconds'] / 60:.0f} minutes on {training['hardware']} (torch {training['torch_version']})",
        f"- validation during training (pixels of all validation tiles): Dice {card['validation']['dice']:.3f}, "
        f"IoU {card['validation']['iou']:.3f}, precision {card['validation']['precision']:.3f}, "
        f"recall {card['validation']['recall']:.3f}",
        "",
        f"## Held-out synthetic fields ({d['n_fields']} of each kind, {card['tile_size']} px, noise estimated "
        "from each image)",
        "",
        "| fields | metric | value | target |",
        "| --- | --- | --- | --- |",
        f"| with diffuse emission | pixel Dice | {d['dice']:.3f} | >= 0.80 |",
        f"| with diffuse emission | IoU / precision / recall | {d['iou']:.3f} / {d['precision']:.3f} / "
        f"{d['recall']:.3f} | |",
        f"| with diffuse emission | median Dice per field | {d['median_field_dice']:.3f} | |",
        f"| radio galaxies only | pixels called diffuse (mean / max) | {rg['mean_fraction_called_diffuse']:.2%} / "
        f"{rg['max_fraction_called_diffuse']:.2%} | <= 1% |",
        f"| radio galaxies only | pixels called diffuse, 90th percentile of the fields | "
        f"{rg['p90_fraction_called_diffuse']:.2%} | |",
        f"| radio galaxies only | the galaxies' own pixels called diffuse | "
        f"{rg['footprint_fraction_called_diffuse']:.2%} | |",
        f"| compact sources only | pixels called diffuse (mean / max) | "
        f"{empty['mean_fraction_called_diffuse']:.2%} / {empty['max_fraction_called_diffuse']:.2%} | |",
        "",
        *_whole_image_section(card.get("whole_images")),
        *_class_section(held.get("classes")),
        *_cluster_class_section(card.get("cluster_classes")),
        *benchmark,
        "Reproduce:",
        "",
        "```bash",
        *card.get("recipe", [training["command"]]),
        _ship_command(name, card),
        "```",
        "",
    ]
    return "\n".join(lines)


def _architecture(architecture):
    """The architecture in words: a U-Net's configuration, or both networks of a gated model."""
    if not is_gated(architecture):
        return f"U-Net {architecture}"
    return (f"class U-Net {architecture['classes']} gated by binary U-Net {architecture['binary']} "
            f"(gate scale {architecture['gate_scale']:g}, gate rule {architecture.get('gate_rule', 'background')})")


def _calibration_seed(calibration):
    """The calibration fields' seed, for the card ('' for cards of earlier versions, which lack it)."""
    if "seed" not in calibration:
        return ""
    return f"; seed {calibration['seed']}" + (f" (+ {SURVEY_SEED_STEP} per survey, in the order of their names)"
                                              if calibration.get("per_survey") else "")


def _calibration_noise(calibration):
    share = calibration.get("correlated_noise")
    if not share:
        return ""
    return (f"; correlated noise holding {share:.0%} of the noise variance added, smoothed over "
            f"{calibration['correlated_noise_scale']:g} beam FWHM, as a stand-in for the noise of real images")


def _per_survey(calibration):
    """How each survey of a calibration across surveys fares with the pooled R threshold."""
    per_survey = calibration.get("per_survey")
    if not per_survey:
        return ""
    return ("; the fields are split evenly among " + ", ".join(per_survey) + ", which at this threshold reach "
            + "; ".join(f"{name}: accuracy {m['accuracy']:.2f}, recall {m['recall']:.2f}, false positives "
                        f"{m['false_positive_rate']:.0%} (best alone: R > {m['own_threshold']:.3g})"
                        for name, m in per_survey.items()))


def _speed(throughput):
    inference = f"{throughput['inference_tiles_per_second']:.0f} inference tiles per second"
    if throughput.get("train_tiles_per_second") is None:
        return inference
    return f"{throughput['train_tiles_per_second']:.0f} training and {inference}"


def _gate_section(gate):
    """Where a gated model's two networks come from, and the rule that combines them."""
    if not gate:
        return []
    return [
        "## Gate",
        "",
        f"Two networks in one file (`radiounet.models.gated`): {_class_network(gate)} "
        f"and the binary network of `{gate['binary_model']}` (sha256 of its file `{gate['binary_sha256'][:12]}...`). "
        f"The class network's halo and relic probabilities are multiplied by min(1, p_binary / "
        f"{gate['gate_scale']:g}), {GATE_RULE_WORDS[gate.get('gate_rule', 'background')]}. Both networks run on "
        "every tile.",
        "",
        f"- binary network trained by: `{gate['binary_training_command']}`",
        *(["- the class network's recipe below trains the binary network on its way (its second command)"]
          if gate.get("binary_in_recipe") else []),
        "",
    ]


def _class_network(gate):
    """The gated model's class network: a shipped model's, or its own run's."""
    if gate["classes_model"]:
        return f"the class network of `{gate['classes_model']}`"
    return f"its own class network (trained below, continued from `{gate['classes_init_model']}`)"


def _whole_image_section(whole):
    """Metrics on whole images, where relics lie at their own distance from the cluster."""
    if not whole:
        return []
    d, rg = whole["diffuse"], whole["radio_galaxies"]
    lines = [
        f"## Held-out whole images ({d['n_fields']} + {rg['n_fields']} simulated {d['size']}x{d['size']} images, "
        "segmented as `predict` does)",
        "",
        "| images | metric | value |",
        "| --- | --- | --- |",
        f"| with diffuse emission | pixel Dice (precision / recall) | {d['dice']:.3f} ({d['precision']:.3f} / "
        f"{d['recall']:.3f}) |",
        f"| with diffuse emission | halo pixels / relic pixels called diffuse | {d['halo_found']:.1%} / "
        f"{d['relic_found']:.1%} |",
    ]
    if "relic_labelled_radio_galaxy" in d:
        lines.append(f"| with diffuse emission | relic pixels labelled radio galaxy | "
                     f"{d['relic_labelled_radio_galaxy']:.1%} |")
    lines += [f"| radio galaxies only | pixels called diffuse (mean / 90th percentile) | "
              f"{rg['mean_fraction_called_diffuse']:.2%} / {rg['p90_fraction_called_diffuse']:.2%} |", ""]
    return lines


def _confusion_table(corner, names, confusion, unit="", fractions=False, dice=None):
    """Markdown rows of a confusion matrix (rows: true class with its total; cells: counts or row fractions)."""
    lines = ["| " + " | ".join([corner, *names] + (["Dice"] if dice else [])) + " |",
             "| " + " | ".join(["---"] * (len(names) + 1 + bool(dice))) + " |"]
    for name, row in zip(names, confusion):
        total = sum(row)
        cells = [f"{count / max(total, 1):.1%}" if fractions else str(count) for count in row]
        lines.append("| " + " | ".join([f"{name} ({total:,}{unit})", *cells] + ([f"{dice[name]:.3f}"] if dice else []))
                     + " |")
    return lines


def _class_section(classes):
    """Per-class Dice, the pixel confusion matrix and the radio-galaxy criterion of a class model."""
    if not classes:
        return []
    names = classes["names"]
    lines = [
        "## Classes (all held-out fields together)",
        "",
        f"Fields holding a radio galaxy where it is labelled radio galaxy (more of its pixels predicted radio "
        f"galaxy than halo or relic): {classes['radio_galaxy_labelled_fraction']:.1%} of "
        f"{classes['n_fields_with_radio_galaxy']} (target >= 90%).",
        "",
        *_confusion_table("true \\ predicted", names, classes["confusion"], " px", fractions=True,
                          dice=classes["dice"]),
        "", "Rows: share of each true class's pixels given each predicted class.", "",
    ]
    outcomes = classes.get("radio_galaxy_outcomes")
    if outcomes:
        lines += ["What the radio galaxies are labelled (fields holding one):", "",
                  "| fields | n | radio galaxy | halo or relic | compact or background |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [f"| {kind.replace('_', ' ')} | {o['n_fields']} | {o['radio_galaxy']:.1%} | "
                  f"{o['halo_or_relic']:.1%} | {o['compact_or_background']:.1%} |" for kind, o in outcomes.items()]
        lines.append("")
    return lines


def _cluster_class_section(classifier):
    """The per-cluster classifier of ``detect`` (P_none, P_halo, P_relic, P_both) and its out-of-fold confusion."""
    if not classifier:
        return []
    names = classifier["classes"]
    confusion = np.asarray(classifier["confusion"])
    lines = [
        "## Cluster classes in `radio-unet detect`",
        "",
        f"P_none, P_halo, P_relic, P_both come from a multinomial logistic regression on "
        f"{', '.join(classifier['features'])} ({_ratio_words(classifier['features'])}), fitted on the "
        f"{classifier['n_fields']} "
        f"calibration fields (truth: the labels inside 2.2 R500). Out of fold (5 folds) the most probable "
        f"outcome is right for {classifier['cross_validated_accuracy']:.1%} of them:",
        "",
        *_confusion_table("true \\ most probable", names, classifier["confusion"]),
        "",
    ]
    for kind in ("halo", "relic"):
        holding = [i for i, name in enumerate(names) if name in (kind, "both")]
        truly, called = confusion[holding].sum(), confusion[:, holding].sum()
        right = confusion[np.ix_(holding, holding)].sum()
        lines.append(f"- A {kind} (alone or with the other) is called where there is one in {right} of {truly} "
                     f"fields (recall {right / max(truly, 1):.0%}); of the {called} fields where one is called, "
                     f"{right} hold one (precision {right / max(called, 1):.0%}).")
    return lines + [""]


_RATIO_WORDS = {"R_halo": "mean class probability within 2.2 R500", "R_relic": "mean class probability within 2.2 R500",
                "R_radio_galaxy": "mean class probability within 2.2 R500",
                "R_halo_R500": "halo probability within R500",
                "R_relic_outskirts": "relic probability between R500 and 2.2 R500"}


def _ratio_words(features):
    """What the ratios of a regression's features measure: "R_halo, R_relic: mean class probability ...; ..."."""
    groups = {}
    for ratio in (name.removeprefix("log10 ") for name in features):
        groups.setdefault(_RATIO_WORDS[ratio], []).append(ratio)
    return "; ".join(f"{', '.join(ratios)}: {words}" for words, ratios in groups.items())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--name", required=True)
    parser.add_argument("--description", default="")
    # Radio-galaxy false positives have a heavy tail (one FRII can fill a field): 200 fields gave 2.0%
    # where 1000 gave 3.1% for lotss-diffuse-v1.
    parser.add_argument("--fields", type=int, default=HELD_OUT_FIELDS,
                        help=f"held-out fields of each kind (default: {HELD_OUT_FIELDS})")
    parser.add_argument("--whole-image-fields", type=int, default=WHOLE_IMAGE_FIELDS,
                        help="held-out 1024x1024 images with diffuse emission (and 24 with radio galaxies only) "
                             f"segmented as predict does (default: {WHOLE_IMAGE_FIELDS})")
    parser.add_argument("--calibrate-fields", type=int, default=120,
                        help="simulated cluster fields for the R-threshold calibration (default: 120)")
    parser.add_argument("--threshold", type=float,
                        help="probability threshold stored with the model, used by predict, detect's sources and "
                             "the held-out metrics (default: the training configuration's)")
    parser.add_argument("--select-threshold", nargs="+", metavar="PRESET",
                        help="choose the probability threshold instead: the best mean diffuse Dice over whole "
                             "simulated images of these survey presets, at a seed of their own "
                             "(radiounet.evaluate.threshold.select_threshold)")
    parser.add_argument("--max-radio-galaxy-called", type=float, metavar="SHARE",
                        help="with --select-threshold: only thresholds calling at most this share of the pixels of "
                             "radio-galaxy images diffuse are eligible")
    parser.add_argument("--recipe", action="append", default=[],
                        help="a command of the training recipe, in order (repeat for several stages)")
    parser.add_argument("--calibration-surveys", nargs="+", metavar="PRESET",
                        help="calibrate the R threshold on --calibrate-fields fields of each of these survey presets, "
                             "pooled (radiounet.evaluate.calibrate.calibrate_across_surveys; default: the model's "
                             "native sampling of LoTSS 6\" only)")
    parser.add_argument("--calibration-noise", type=float, default=0.0, metavar="SHARE",
                        help="share of the noise variance added to the calibration fields as correlated noise, the "
                             "stand-in for real noise (radiounet.evaluate.calibrate; default: 0, the simulator's)")
    parser.add_argument("--gate-with", metavar="BINARY",
                        help="ship MODEL (a class model) gated by this binary model (radiounet.models.gated)")
    parser.add_argument("--gate-scale", type=float, default=0.2,
                        help="binary probability at which the gate opens fully (default: 0.2)")
    parser.add_argument("--gate-rule", choices=GATE_RULES, default="background",
                        help="where the halo and relic probability the gate removes goes: all to background, or "
                             "(conditional) to background, radio galaxy and compact source in the class model's "
                             "proportions (radiounet.models.gated; default: background)")
    parser.add_argument("--benchmark-real-data", metavar="DIR",
                        help="labelled real images for the benchmark (radio-unet benchmark --real-data)")
    parser.add_argument("--benchmark-noise-images", nargs="+", metavar="FITS",
                        help="real survey images without a cluster for the benchmark (--noise-images)")
    parser.add_argument("--benchmark-work-dir", metavar="DIR",
                        help="keep (and reuse) the benchmark's finished parts here: DIR/parts of a `radio-unet "
                             "benchmark NAME --out DIR` run of the same model is reused")
    parser.add_argument("--benchmark-only", action="store_true",
                        help="MODEL is shipped already as NAME: only benchmark it and write its card again")
    parser.add_argument("--recalibrate", action="store_true",
                        help="MODEL is shipped already as NAME: keep its weights and held-out figures, calibrate its "
                             "R threshold again as its card says (at today's calibration seed), benchmark it and "
                             "write its card again")
    args = parser.parse_args()
    if args.benchmark_only and args.recalibrate:
        parser.error("give --benchmark-only or --recalibrate, not both")
    if args.recalibrate:
        # It calibrates as the card says: options that would change the model or its calibration do not apply.
        ignored = [name for name in ("fields", "whole_image_fields", "calibrate_fields", "threshold",
                                     "select_threshold", "max_radio_galaxy_called", "recipe", "calibration_surveys",
                                     "calibration_noise", "gate_with", "gate_scale", "gate_rule")
                   if getattr(args, name) != parser.get_default(name)]
        if ignored:
            parser.error("--recalibrate keeps the card's settings; drop "
                         + ", ".join("--" + name.replace("_", "-") for name in ignored))
    if args.benchmark_only:
        target = resolve_model_path(args.name)
        card = read_model_card(args.name)
        card["description"] = _shown_description(args, card)
        _write_card(args, card, target)
        return
    if args.recalibrate:
        _recalibrate(args)
        return
    model, card = load_model(args.model)
    workdir = tempfile.TemporaryDirectory()
    model_path = args.model
    if args.gate_with:
        model, card = _gated(model, card, args.gate_with, args.gate_scale, args.gate_rule)
        model_path = save_model(Path(workdir.name) / "gated.safetensors", model, card)
    if args.threshold is not None:
        if not 0 < args.threshold < 1:
            parser.error(f"--threshold must lie between 0 and 1, not {args.threshold}")
        card["threshold"] = args.threshold
    if args.max_radio_galaxy_called is not None and not args.select_threshold:
        parser.error("--max-radio-galaxy-called needs --select-threshold")
    if args.select_threshold:
        if args.threshold is not None:
            parser.error("give --threshold or --select-threshold, not both")
        started = time.perf_counter()
        size = 512
        card["threshold"], sweep = select_threshold(
            Predictor(model_path, "cpu"), [get_survey(name) for name in args.select_threshold], size=size,
            mask_threshold=card["training"]["config"]["data"]["mask_threshold"],
            max_radio_galaxy_called=args.max_radio_galaxy_called)
        card["threshold_selection"] = dict(surveys=list(args.select_threshold), seed=THRESHOLD_SEED, size=size,
                                           max_radio_galaxy_called=args.max_radio_galaxy_called,
                                           sweep={name: [float(v) for v in sweep[name]] for name in sweep.colnames})
        print(sweep, f"\nthreshold {card['threshold']:g} ({time.perf_counter() - started:.0f} s)")
    survey = _native_survey(card)
    data = card["training"]["config"]["data"]
    started = time.perf_counter()
    card["held_out"] = evaluate_synthetic(model, survey, tile_size=card["tile_size"], n_fields=args.fields,
                                          threshold=card["threshold"], redshift=tuple(data["redshift"]),
                                          mask_threshold=data["mask_threshold"])
    print(json.dumps(card["held_out"], indent=1), f"({time.perf_counter() - started:.0f} s)")
    predictor = Predictor(model_path, "cpu", threshold=card["threshold"])
    started = time.perf_counter()
    card["whole_images"] = evaluate_whole_images(predictor, survey, n_fields=args.whole_image_fields,
                                                 redshift=tuple(data["redshift"]),
                                                 mask_threshold=data["mask_threshold"])
    print(json.dumps(card["whole_images"], indent=1), f"({time.perf_counter() - started:.0f} s)")
    _calibrate(card, predictor, args.calibration_surveys, args.calibrate_fields, args.calibration_noise)
    speed = throughput(model.config, "cpu", card["tile_size"], batch_size=16)
    card["throughput"] = dict(device=f"CPU ({torch.get_num_threads()} threads)", batch_size=16,
                              **{f"{k}_tiles_per_second": v for k, v in speed.items()})
    card.update(name=args.name, description=args.description, parameters=count_parameters(model),
                recipe=args.recipe or card.get("recipe") or [card["training"]["command"]], source_file=args.model,
                flops_per_tile=flops_per_tile(model, card["tile_size"]))
    target = _save_and_register(args.name, model, card, args.description)
    _write_card(args, card, target)
    workdir.cleanup()


def _calibrate(card, predictor, survey_names, n_fields, correlated_noise):
    """Calibrate the R threshold (and a class model's cluster classes) on simulated cluster fields, into ``card``.

    On ``n_fields`` fields of each of the presets ``survey_names``, pooled, or of the model's native sampling of
    LoTSS 6" when there are none.
    """
    data = card["training"]["config"]["data"]
    calibration = dict(n_fields=n_fields, redshift=(0.1, data["redshift"][1]), correlated_noise=correlated_noise)
    if survey_names:
        threshold, table, metrics = calibrate_across_surveys(
            predictor, [get_survey(name) for name in survey_names], **calibration)
    else:
        threshold, table, metrics = calibrate_ratio_threshold(predictor, _native_survey(card), **calibration)
    card["detection_ratio_threshold"] = threshold
    card["ratio_calibration"] = dict(n_fields=len(table), size_pixels=1024, factor=2.2, metric="accuracy",
                                     n_with_diffuse_emission=int(table["diffuse"].sum()),
                                     correlated_noise=correlated_noise, seed=CALIBRATION_SEED,
                                     correlated_noise_scale=CORRELATED_NOISE_SCALE, **metrics)
    print(f"R threshold {threshold:.4g}: {metrics}")
    if predictor.class_names:
        card["cluster_classes"] = classifier_from_calibration(table)
        print(f"cluster classes: {card['cluster_classes']}")


def _native_survey(card):
    """LoTSS-DR2 6" noise and frequency at the model's native beam and pixels."""
    native = card["native_sampling"]
    return custom_survey(native["survey"], native["bmaj_arcsec"] * u.arcsec, native["pixel_arcsec"] * u.arcsec,
                         83 * u.uJy / u.beam, 144 * u.MHz)


def _recalibrate(args):
    """A model shipped as ``args.name`` keeps its weights and held-out figures: its R threshold (and cluster
    classes) are calibrated again as its card says (surveys, fields, noise), at today's calibration seed; then it
    is benchmarked and its card written again."""
    target = resolve_model_path(args.name)
    model, card = load_model(target)
    calibration = card["ratio_calibration"]
    survey_names = list(calibration.get("per_survey") or [])
    n_fields = calibration["n_fields"] // max(len(survey_names), 1)
    _calibrate(card, Predictor(target, "cpu", threshold=card["threshold"]), survey_names, n_fields,
               calibration.get("correlated_noise", 0.0))
    registry = json.loads((PRETRAINED / "registry.json").read_text())
    target = _save_and_register(args.name, model, card, registry[args.name]["description"])
    card["description"] = _shown_description(args, card)
    _write_card(args, card, target)


def _shown_description(args, card):
    """The description NAME.md shows for a model shipped already: ``--description``, else the card's own text."""
    # The weights' own description is frozen with them; the card's may have been brought up to date since.
    return args.description or _card_description(PRETRAINED / f"{args.name}.md") or card.get("description", "")


def _save_and_register(name, model, card, description):
    """Write the model into pretrained/NAME.safetensors and record its sha256 in pretrained/registry.json."""
    target = PRETRAINED / f"{name}.safetensors"
    save_model(target, model, card)
    sha256 = sha256_of(target)
    registry_path = PRETRAINED / "registry.json"
    registry = json.loads(registry_path.read_text())
    registry[name] = dict(file=target.name, sha256=sha256, description=description)
    registry_path.write_text(json.dumps(registry, indent=2, sort_keys=True) + "\n")
    print(f"shipped {target} (sha256 {sha256})")
    return target


def _threshold_selection(card):
    """How the threshold was chosen, for the card ('' when it was given)."""
    selection = card.get("threshold_selection")
    if not selection:
        return ""
    sweep = selection["sweep"]
    best = sweep["threshold"].index(card["threshold"])
    budget = selection["max_radio_galaxy_called"]
    return (f", chosen among {', '.join(f'{t:g}' for t in sweep['threshold'])} on whole simulated "
            f"{selection['size']}x{selection['size']} images of "
            f"{', '.join(selection['surveys'])} (seed {selection['seed']}"
            + (f" + {SURVEY_SEED_STEP} per survey, in the order of their names" if len(selection["surveys"]) > 1
               else "") + "): mean diffuse Dice "
            f"{sweep['dice_mean'][best]:.3f}, radio-galaxy images {sweep['radio_galaxy_called_mean'][best]:.2%} "
            "called diffuse" + ("" if budget is None else f" (at most {budget:.2%} asked)"))


def _card_description(path):
    """The description paragraph of a written model card (between its title and its first list item), or ''."""
    if not path.is_file():
        return ""
    lines = path.read_text().splitlines()[1:]
    return "\n".join(line for line in itertools.takewhile(lambda line: not line.startswith("- "), lines)).strip()


def _write_card(args, card, target):
    """Benchmark the shipped model, write pretrained/NAME.benchmark.ecsv and the card pretrained/NAME.md."""
    started = time.perf_counter()
    # By name (the registry holds it by now), so that the parts of a `radio-unet benchmark NAME` run are reused.
    result = run_benchmark(Predictor(args.name, "cpu"), real_data=args.benchmark_real_data,
                           noise_images=args.benchmark_noise_images, work_dir=args.benchmark_work_dir)
    command = shlex.join(["radio-unet", "benchmark", args.name]
                         + (["--real-data", args.benchmark_real_data] if args.benchmark_real_data else [])
                         + (["--noise-images", *args.benchmark_noise_images] if args.benchmark_noise_images else []))
    table = QTable(result.setups, meta=dict(result.meta, command=command))
    write_table(table, PRETRAINED / f"{args.name}.benchmark.ecsv")
    print(f"benchmark ({time.perf_counter() - started:.0f} s)")
    section = markdown_report(result, command, level=2).splitlines() + [""]
    (PRETRAINED / f"{args.name}.md").write_text(_markdown(args.name, card, sha256_of(target), target, section))


def _gated(classes, card, binary_name, gate_scale, gate_rule):
    """The class model gated by a binary model, and its card: the class model's, with ``gate`` added."""
    binary, binary_card = load_model(binary_name)
    if not card.get("classes") or binary_card.get("classes"):
        raise SystemExit("--gate-with: MODEL must be a class model and BINARY a binary model")
    if binary_card["native_sampling"] != card["native_sampling"]:
        raise SystemExit("--gate-with: the two models have another native sampling")
    binary_command = binary_card["training"]["command"]
    gate = dict(classes_model=card.get("name"), classes_init_model=card["training"]["config"]["training"]["init_model"],
                binary_model=str(binary_name),
                binary_sha256=sha256_of(resolve_model_path(binary_name)), gate_scale=gate_scale, gate_rule=gate_rule,
                binary_training_command=binary_command,
                binary_in_recipe=any(step.split()[:3] == binary_command.split()[:3] for step in card.get("recipe", [])),
                binary_card=dict(binary_card, held_out=None, whole_images=None))
    model = gate_model(classes, binary, gate_scale, gate_rule)
    return model, dict(card, gate=gate, architecture=model.config.to_dict())


if __name__ == "__main__":
    main()
