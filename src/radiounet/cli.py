"""The ``radio-unet`` command: thin subcommands over the Python API.

Errors caused by the user's input print one line, ``radio-unet: error: ...``,
and exit with status 2.
"""

import argparse
import contextlib
import os
import shlex
import signal
import stat
import sys
import threading
import warnings
from collections import Counter
from pathlib import Path

import astropy.units as u

from radiounet import __version__
from radiounet.errors import (InvalidParameterError, MissingFileError, RadioUNetError, RadioUNetWarning, Terminated,
                              require_non_negative_int, require_positive_int)
from radiounet.io.atomic import start_run

__all__ = ["main", "build_parser", "default_benchmark_folder"]


def _quantity(text, default_unit, name, *, unit=False):
    """Parse ``"83"`` (in ``default_unit``) or ``"83 uJy/beam"`` into a Quantity of ``default_unit``'s kind; with
    ``unit``, a unit alone (``"Msun"``) too, as one of it."""
    try:
        return float(text) * default_unit
    except ValueError:
        pass
    try:
        return u.Quantity(text).to(default_unit)
    except (TypeError, ValueError, u.UnitsError):
        pass
    try:
        if unit and not isinstance(u.Unit(text), u.FunctionUnitBase):  # dex(Msun): a log, not a unit of mass
            return (1 * u.Unit(text)).to(default_unit)
    except (TypeError, ValueError, u.UnitsError):
        pass
    alone = f", '{default_unit}'" if unit else ""
    raise InvalidParameterError(name, text, f"must be a number in {default_unit} or a quantity like '1 {default_unit}'"
                                            f"{alone}") from None


def _size(text):
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        raise InvalidParameterError("size", text, "must be N or NYxNX pixels, e.g. 2000 or 1024x2048") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2:
        raise InvalidParameterError("size", text, "must be N or NYxNX pixels")
    return tuple(parts)


def _survey_from_args(args):
    from radiounet.sky.survey import PRESETS, custom_survey, get_survey

    overrides = {
        "bmaj": (args.bmaj, u.arcsec), "bmin": (args.bmin, u.arcsec), "bpa": (args.bpa, u.deg),
        "pixel_scale": (args.pixel_scale, u.arcsec), "rms": (args.rms, u.uJy / u.beam),
        "frequency": (args.frequency, u.MHz),
    }
    given = {key: _quantity(value, unit, key)
             for key, (value, unit) in overrides.items() if value is not None}
    subtracted = args.compact_subtracted_above
    if subtracted is not None:
        given["compact_subtracted_above"] = (None if subtracted.lower() == "none"
                                             else _quantity(subtracted, u.mJy, "compact_subtracted_above"))
    preset = args.preset or _DEFAULT_PRESET
    if not given:
        return get_survey(preset)
    get_survey(preset)  # validates the preset name
    spec = dict(PRESETS[preset])
    if "bmaj" in given and "bmin" not in given:
        spec.pop("bmin", None)
    spec.update(given)
    # With its own beam and frequency nothing of the preset's survey is left to name it by.
    name = "custom" if {"bmaj", "frequency"} <= set(given) else f"{preset}-custom"
    return custom_survey(name, **spec)


_DEFAULT_PRESET = "lotss-dr2-6"
_SURVEY_OPTIONS = ("preset", "bmaj", "bmin", "bpa", "pixel_scale", "rms", "frequency", "compact_subtracted_above")


def _add_survey_options(parser, description="a preset, optionally with some of its values replaced"):
    group = parser.add_argument_group("survey", description)
    group.add_argument("--preset", help=f"survey preset (default: {_DEFAULT_PRESET}; see 'radio-unet presets')")
    group.add_argument("--bmaj", help="beam major axis FWHM, arcsec (or a quantity, e.g. '0.1 arcmin')")
    group.add_argument("--bmin", help="beam minor axis FWHM, arcsec (default: --bmaj)")
    group.add_argument("--bpa", help="beam position angle east of north, deg")
    group.add_argument("--pixel-scale", help="pixel size, arcsec")
    group.add_argument("--rms", help="image noise, uJy/beam (or e.g. '0.1 mJy/beam')")
    group.add_argument("--frequency", help="observing frequency, MHz")
    group.add_argument("--compact-subtracted-above", metavar="MJY",
                       help="a compact-source-subtracted image: compact sources above this flux density (mJy, or a "
                            "quantity) are subtracted, leaving 2%% of their flux; 'none': nothing subtracted "
                            "(default: the preset's; lotss-dr2-60 subtracts above 0.415 mJy)")


def _add_field_options(parser):
    _add_survey_options(parser)
    group = parser.add_argument_group("fields")
    group.add_argument("--size", default="2000", type=str, help="field size in pixels, N or NYxNX (default: 2000)")
    group.add_argument("--seed", type=int, default=0, help="seed of the run (default: 0)")
    group.add_argument("--mask-threshold", type=float, default=0.5,
                       help="mask threshold on the beam-convolved diffuse sky, in units of the rms (default: 0.5)")
    # radiounet.sky.labels.LABEL_RULES written out: importing it would cost every command the simulator's import.
    group.add_argument("--label-rule", choices=("mask", "brightest"), default="mask",
                       help="class labels of a radio galaxy or compact source on a halo or relic: 'mask' gives "
                            "every masked pixel to halo or relic (default, the reference), 'brightest' to the "
                            "brightest component (for training class models)")
    group.add_argument("--fraction-diffuse", type=float, default=0.6,
                       help="fraction of fields with a halo and/or relics (default: 0.6)")
    group.add_argument("--fraction-radio-galaxies", type=float, default=0.2,
                       help="fraction of fields with radio galaxies and no diffuse emission (default: 0.2); "
                            "the rest hold compact sources only")
    group.add_argument("--redshift-range", nargs=2, type=float, metavar=("ZMIN", "ZMAX"), default=(0.05, 0.6),
                       help="cluster redshifts, drawn uniformly (default: 0.05 0.6)")
    group.add_argument("--interferometric", action="store_true",
                       help="observe through a uv-coverage with a dirty beam and CLEAN (slower)")
    group.add_argument("--correlated-noise", type=float, default=0.0, metavar="SHARE",
                       help="share of the noise variance given to noise correlated over a few beams, a stand-in for "
                            "the noise of real images (0.3 is what the shipped models' R thresholds were calibrated "
                            "with; default: 0, the beam-correlated noise alone)")
    # No default here: the simulator's (radiounet.sky.observe.CORRELATED_NOISE_SCALE) would cost every command
    # the import of the simulator at start-up.
    group.add_argument("--correlated-noise-scale", type=float, metavar="BEAMS",
                       help="smoothing (sigma) of that noise in beam FWHM (default: 1.5, as the R-threshold "
                            "calibration)")
    group.add_argument("--workers", type=int, default=1, help="processes (default: 1)")
    group.add_argument("--no-progress", action="store_true", help="no progress bar")


def _field_config_from_args(args):
    from radiounet.sky import FieldConfig, SkyConfig

    sky = SkyConfig(fraction_diffuse=args.fraction_diffuse, fraction_radio_galaxies=args.fraction_radio_galaxies,
                    redshift=tuple(args.redshift_range))
    noise = dict(correlated_noise=args.correlated_noise)
    if args.correlated_noise_scale is not None:
        noise["correlated_noise_scale"] = args.correlated_noise_scale
    return FieldConfig(survey=_survey_from_args(args), shape=_size(args.size), sky=sky,
                       mask_threshold=args.mask_threshold, interferometric=args.interferometric,
                       label_rule=args.label_rule, **noise)


def _cmd_simulate(args):
    from radiounet.sky.batch import simulate_to_directory

    config = _field_config_from_args(args)
    truth = simulate_to_directory(args.out, config, args.n_fields, args.seed, workers=args.workers,
                                  prefix=args.prefix, quicklook=not args.no_png, progress=not args.no_progress)
    counts = {t: int((truth["field_type"] == t).sum()) for t in ("diffuse", "radio_galaxies", "empty")}
    print(f"{len(truth)} fields ({config.survey.describe()}) in {args.out}: "
          f"{counts['diffuse']} with diffuse emission, {counts['radio_galaxies']} with radio galaxies only, "
          f"{counts['empty']} empty; truth in {args.out}/truth.ecsv and components.ecsv")


def _cmd_dataset(args):
    from radiounet.data.shards import write_tile_shards

    config = _field_config_from_args(args)
    paths = write_tile_shards(args.out, config, args.n_fields, args.seed, tile_size=args.tile_size,
                              stride=args.stride, fields_per_shard=args.fields_per_shard, workers=args.workers,
                              progress=not args.no_progress)
    print(f"{args.n_fields} fields as {args.tile_size}x{args.tile_size} tiles in {len(paths)} shards in {args.out}")


def _cmd_train(args):
    from radiounet.train.config import load_config
    from radiounet.train.data import build_datasets, shards_record
    from radiounet.train.loop import train

    config = load_config(args.config, args.set)
    train_set, val_set, survey = build_datasets(config)
    # Trained on shards, the configuration's simulator keys were not used: the card says what the shards hold.
    extra = {"training_shards": shards_record(config)} if config["data"]["source"] == "shards" else {}
    out = args.out or f"runs/{Path(args.config).stem}"
    result = train(config, out, datasets=(train_set, val_set), survey=survey, progress=not args.no_progress,
                   init_model=config["training"]["init_model"] or None,
                   command=args.command_line, card_extra=extra)
    _report(result)


def _report(result):
    if int(os.environ.get("RANK", "0")):  # under torchrun the first process speaks for all
        return
    if result.best_epoch < 1:
        print("no epoch finished")
        return
    m = result.best_metrics
    kept = "" if result.kept_epoch == result.best_epoch else f"; kept: the last epoch ({result.kept_epoch})"
    print(f"best validation Dice at epoch {result.best_epoch}: Dice {m['dice']:.3f}, IoU {m['iou']:.3f}, "
          f"precision {m['precision']:.3f}, recall {m['recall']:.3f}{kept} -> {result.model_path}"
          + (" (stopped early)" if result.stopped_early else ""))


def _warn_of_other_sampling(paths, native_beam_pixels):
    """Warn of fine-tuning images sampled otherwise than the model (``predict`` regrids to its sampling; tiles for
    fine-tuning are cut as they are)."""
    from radiounet.io.image import RESAMPLE_TOLERANCE, read_radio_image

    for path in paths:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RadioUNetWarning)  # no BUNIT: fine-tuning tiles are in rms units
                with read_radio_image(path) as image:
                    sampling = image.beam_fwhm_pixels
        except RadioUNetError:
            continue  # no beam in the header: nothing to compare
        if abs(sampling / native_beam_pixels - 1) > RESAMPLE_TOLERANCE:
            print(f"radio-unet: warning: {path}: {sampling:.1f} pixels per beam FWHM, the model's "
                  f"{native_beam_pixels:.1f}; predict regrids images to the model's sampling, so regrid this one "
                  "and its mask to it before fine-tuning", file=sys.stderr)


def _cmd_finetune(args):
    from radiounet.data.fits_pairs import FitsPairTiles
    from radiounet.models.store import read_model_card, require_card_fields, require_one_network, resolve_model_path
    from radiounet.sky.survey import custom_survey
    from radiounet.train.config import apply_overrides, config_over_defaults, validate_config
    from radiounet.train.loop import train

    for name in ("epochs", "batch_size", "tiles_per_epoch"):
        require_positive_int(getattr(args, name), name.replace("_", "-"))
    if not 0 < args.learning_rate < float("inf"):
        raise InvalidParameterError("learning-rate", args.learning_rate, "must be positive and finite")
    if bool(args.val_images) != bool(args.val_masks):
        raise RadioUNetError("--val-images and --val-masks go together (one mask per validation image)")
    card = read_model_card(args.model)
    require_one_network(card, args.model)
    require_card_fields(card, args.model, "training", "native_sampling")
    if not isinstance(card["training"].get("config"), dict):
        raise RadioUNetError(f"{args.model}: its model card lacks training.config (the configuration to go on from)")
    config = config_over_defaults(card["training"]["config"], f"{args.model}: training configuration in the card")
    # The card's architecture, in the keys a configuration has (in_channels is always 1 there), so that
    # the run's config.json reads back and a stopped fine-tuning resumes.
    config["model"] = {key: card["architecture"].get(key, default) for key, default in config["model"].items()}
    if not 0 <= args.freeze_levels <= config["model"]["depth"]:
        raise InvalidParameterError("freeze-levels", args.freeze_levels, f"must be between 0 and the model's depth "
                                    f"({config['model']['depth']}); --freeze-encoder freezes all")
    config["training"].update(epochs=args.epochs, learning_rate=args.learning_rate, warmup_epochs=0,
                              batch_size=args.batch_size)
    config["data"]["fresh_fields_each_epoch"] = True
    validate_config(config, f"{args.model}: the card's training configuration", apply_overrides(config, args.set))
    tile = config["data"]["tile_size"]
    _warn_of_other_sampling([*args.images, *(args.val_images or [])], card["native_sampling"]["beam_fwhm_pixels"])
    train_set = FitsPairTiles(args.images, args.masks, args.tiles_per_epoch, tile, seed=config["training"]["seed"])
    if args.val_images:
        val_set = FitsPairTiles(args.val_images, args.val_masks, args.tiles_per_epoch // 4 or 1, tile, seed=1)
    else:
        val_set = FitsPairTiles(args.images, args.masks, args.tiles_per_epoch // 4 or 1, tile, seed=10**6)
    native = card["native_sampling"]
    # Only the sampling (beam and pixel size) of this survey enters the new model's card.
    survey = custom_survey(native["survey"], native["bmaj_arcsec"] * u.arcsec, native["pixel_arcsec"] * u.arcsec,
                           1 * u.mJy / u.beam, 144 * u.MHz)
    extra = dict(fine_tuned_from=str(args.model), fine_tuning_images=[str(p) for p in args.images],
                 validation_images=[str(p) for p in (args.val_images or args.images)])
    files = {name: [str(Path(p).resolve()) for p in paths or []] for name, paths in (
        ("images", args.images), ("masks", args.masks), ("validation_images", args.val_images),
        ("validation_masks", args.val_masks))}
    inputs = dict(files, model=str(resolve_model_path(args.model).resolve()), tiles_per_epoch=args.tiles_per_epoch,
                  freeze_levels=args.freeze_levels, freeze_encoder=args.freeze_encoder)
    result = train(config, args.out, datasets=(train_set, val_set), survey=survey, init_model=args.model,
                   freeze_levels=-1 if args.freeze_encoder else args.freeze_levels, progress=not args.no_progress,
                   command=args.command_line, card_extra=extra, inputs=inputs)
    _report(result)


def _cmd_export(args):
    from radiounet.models.export import export_onnx
    from radiounet.models.store import read_model_card

    out = Path(args.out) if args.out else Path(f"{Path(args.model).name.removesuffix('.safetensors')}.onnx")
    export_onnx(args.model, out)
    classes = read_model_card(args.model).get("classes")
    channels = f"diffuse, then {', '.join(classes)}" if classes else "diffuse"
    print(f"export: {args.model} -> {out} (input 'image': asinh(image / rms), (batch, 1, H, W), H and W multiples "
          f"of 2**depth; output 'probability': {channels})")


def default_benchmark_folder(model):
    """``benchmark/NAME`` for a shipped model or a model file ``NAME.safetensors``; ``benchmark/RUN`` for a run's
    ``RUN/model.safetensors`` (every run names its model so: the folder tells two runs apart) and
    ``benchmark/RUN-epoch_NNN`` for the model it kept of an epoch, ``RUN/epochs/epoch_NNN.safetensors``."""
    from radiounet.models.store import run_model_parts

    run, name = run_model_parts(model)
    stem = Path(name).stem
    return Path("benchmark") / (stem if run is None else run if name == "model.safetensors" else f"{run}-{stem}")


def _cmd_model_info(args):
    from radiounet.models.gated import GATE_RULE_WORDS
    from radiounet.models.store import DEFAULT_MODEL, available_models, load_model, require_card_fields
    from radiounet.models.summary import count_parameters, flops_per_tile
    from radiounet.models.unet import UNet, UNetConfig
    from radiounet.train.config import load_config

    if args.set and not args.config:
        raise RadioUNetError("model-info: --set changes a --config; a model's architecture is in its file")
    if args.tile_size is not None:
        require_positive_int(args.tile_size, "tile-size")
    if args.config:
        config = load_config(args.config, args.set)
        model, card, tile = UNet(UNetConfig(**config["model"])), None, config["data"]["tile_size"]
    else:
        model, card = load_model(args.model or DEFAULT_MODEL)
        require_card_fields(card, args.model or DEFAULT_MODEL, "tile_size", "native_sampling", "threshold")
        tile = card["tile_size"]
    tile = args.tile_size or tile
    print(f"architecture: {model.config.to_dict()}")
    print(f"parameters: {count_parameters(model):,}")
    print(f"FLOPs per {tile}x{tile} tile: {flops_per_tile(model, tile) / 1e9:.2f} G")
    if card is not None:
        native = card["native_sampling"]
        print(f"native sampling: {native['beam_fwhm_pixels']:.2f} px per beam FWHM ({native['survey']}: "
              f"{native['bmaj_arcsec']:g}\" beam, {native['pixel_arcsec']:g}\" pixels)")
        print(f"mask threshold (pixel probability): {card['threshold']}")
        if "detection_ratio_threshold" in card:
            print(f"detect's R threshold (mean probability in 2.2 R500): {card['detection_ratio_threshold']:.4g}")
        if "gate" in card:
            gate = card["gate"]
            classes = (f"the class network of {gate['classes_model']}" if gate.get("classes_model") else
                       f"its own class network (continued from {gate.get('classes_init_model')})")
            print(f"gated: {classes}, its halo and relic kept where the binary network of {gate['binary_model']} "
                  f"reaches {gate['gate_scale']:g}, {GATE_RULE_WORDS[gate.get('gate_rule', 'background')]} "
                  "(validation below: the class network's training)")
        validation = card.get("validation", {})
        if validation:
            print("validation: " + ", ".join(f"{k} {v:.3f}" for k, v in validation.items() if k != "class_dice"))
        if "class_dice" in validation:
            print("validation Dice per class: " + ", ".join(f"{k} {v:.3f}" for k, v in validation["class_dice"].items()))
    print("shipped models: " + (", ".join(available_models()) or "none"))


def _cmd_predict(args):
    from radiounet.inference.batch import expand_inputs, predict_files
    from radiounet.io.image import parse_beam

    beam = parse_beam(args.beam) if args.beam else None
    if args.redshift is not None and not 0 < args.redshift < 10:
        raise InvalidParameterError("redshift", args.redshift, "must be between 0 and 10")
    images = expand_inputs(args.images)
    predictor = _predictor(args, threshold=args.threshold, tile=args.tile, crop=args.crop, blend=args.blend,
                           batch_size=args.batch_size, tta=args.tta)
    summary = predict_files(images, args.out, predictor, beam=beam, redshift=args.redshift,
                            overwrite=args.overwrite, progress=not args.no_progress, writers=args.writers,
                            quicklook=not args.no_png)
    print(f"predict: {summary.line()}; outputs in {args.out}")
    return 2 if summary.failed else 0


def _predictor(args, **options):
    """The Predictor of the commands that segment (``--model``, ``--device``, ``--precision``), with a warning
    where bfloat16 is asked of a CPU that can only emulate it."""
    from radiounet.inference.predictor import Predictor, native_bfloat16
    from radiounet.models.store import DEFAULT_MODEL

    predictor = Predictor(args.model or DEFAULT_MODEL, args.device, precision=args.precision, **options)
    if predictor.precision == "bfloat16" and not native_bfloat16(predictor.device):
        print("radio-unet: warning: this CPU has no bfloat16 instructions (AVX512-BF16 or AMX): --precision "
              "bfloat16 runs several times slower than float32 here, with the same maps", file=sys.stderr)
    return predictor


def _fetch_cutouts(args, catalog, survey, out):
    """Fetch the catalogue's cutouts for cutouts/detect --fetch; writes OUT/cutouts.ecsv and returns the table."""
    from radiounet.fetch import fetch_cutouts, get_service
    from radiounet.io.tables import count_text, write_table

    if survey == "custom" and not args.url_template:
        raise InvalidParameterError("survey", survey, "give the service's --url-template")
    service = get_service(None if survey == "custom" else survey, args.url_template)
    size = _quantity(args.size, u.arcmin, "size") if args.size else None
    table = fetch_cutouts(catalog, service, out, size=size, max_size=_quantity(args.max_size, u.arcmin, "max-size"),
                          factor=args.factor, workers=args.workers, timeout=args.timeout, retries=args.retries,
                          overwrite=args.refetch, progress=not args.no_progress)
    write_table(table, Path(out) / "cutouts.ecsv")
    print(f"cutouts: {len(table)} rows: {count_text(table['status'])}; {out}/cutouts.ecsv")
    return table


def _fetch_problem(table, out):
    """The one-line error of a fetch that did not do its job, or None: downloads that failed after every retry, or
    answers that are all errors (a URL template that does not point at a cutout service)."""
    from radiounet.fetch import CUTOUT_STATUSES

    statuses = Counter(table["status"])
    if statuses["failed"]:
        return (f"{statuses['failed']} cutouts failed after retries (see {out}/cutouts.ecsv); run the same command "
                "again to retry them")
    asked = sum(statuses[s] for s in CUTOUT_STATUSES)
    if asked and not statuses["fetched"] + statuses["cached"] + statuses["outside_footprint"]:
        return (f"none of the {asked} requests returned a cutout (see {out}/cutouts.ecsv): check --url-template "
                f"({table.meta['url_template']})")
    return None


def _cmd_cutouts(args):
    problem = _fetch_problem(_fetch_cutouts(args, _read_catalog(args), args.survey, args.out), args.out)
    if problem:
        raise RadioUNetError(problem)


def _cmd_detect(args):
    from radiounet.detect.catalog import require_measurable
    from radiounet.detect.clusters import detect_clusters
    from radiounet.detect.report import write_report
    from radiounet.detect.views import ClusterViews
    from radiounet.io.atomic import ensure_writable_directory
    from radiounet.io.image import parse_beam
    from radiounet.io.tables import write_table

    catalog = _read_catalog(args)
    require_measurable(catalog, args.catalog)
    out = ensure_writable_directory(args.out)
    fetch_options = [f"--{name.replace('_', '-')}" for name in ("url_template", "cutouts", "size", "refetch")
                     if getattr(args, name)]
    if fetch_options and not args.fetch:
        raise RadioUNetError(f"detect: {', '.join(fetch_options)} go with --fetch SURVEY")
    cutouts = args.cutouts or out / "cutouts"
    if args.fetch:
        fetched = _fetch_cutouts(args, catalog, args.fetch, cutouts)
        args.images = list(args.images or []) + [f for f in fetched["file"] if f]
        if not args.images:
            raise RadioUNetError(f"no cutout could be fetched (see {cutouts}/cutouts.ecsv)")
    elif not args.images:
        raise RadioUNetError("detect: give --images, or --fetch SURVEY to download cutouts")
    images = _aperture_images(args)
    predictor = _predictor(args)
    if args.overwrite:
        (out / "detect.journal.jsonl").unlink(missing_ok=True)
    detections = detect_clusters(catalog, images, predictor, factor=args.factor, ratio_threshold=args.ratio_threshold,
                                 beam=parse_beam(args.beam) if args.beam else None,
                                 views=ClusterViews(out / "thumbnails"), journal=out / "detect.journal.jsonl",
                                 progress=not args.no_progress)
    if args.fetch:
        # A cluster without an image says why: the cutout service's answer, not just "outside_images".
        cutout_status = dict(zip(fetched["name"], fetched["status"]))
        detections["status"] = [
            cutout_status[name] if status == "outside_images" and cutout_status.get(name) not in (None, "fetched",
                                                                                                  "cached")
            else status for name, status in zip(detections["name"], detections["status"])]
    write_table(detections, out / "detections.ecsv")
    write_table(detections, out / "detections.csv", format="ascii.csv")
    write_report(out / "report.html", detections, out / "thumbnails")
    statuses = Counter("error" if str(s).startswith("error:") else str(s) for s in detections["status"])
    unmeasured = ", ".join(f"{n} {status}" for status, n in statuses.items()
                           if status not in ("ok", "partial_coverage"))
    print(f"detect: {len(detections)} clusters, {statuses['ok']} fully covered, {statuses['partial_coverage']} partly "
          f"covered, {int(detections['detected'].sum())} with diffuse emission"
          f"{f' (not measured: {unmeasured})' if unmeasured else ''}; {out}/detections.ecsv, report.html")
    problem = _fetch_problem(fetched, cutouts) if args.fetch else None
    if problem:
        raise RadioUNetError(problem)
    failed = [str(s).startswith("error:") for s in detections["status"]]
    if any(failed):
        # Like predict's failed files: the others are measured, the run says so and exits with status 2.
        first = detections[failed.index(True)]
        raise RadioUNetError(f"{sum(failed)} cluster(s) could not be measured (status 'error: ...' in "
                             f"{out}/detections.ecsv), the first {first['name']}: {str(first['status'])[7:]}")


#: Below this many positive or negative clusters ``evaluate`` and ``calibrate`` say that their figures say little.
_FEW_CLUSTERS = 10


def _cmd_evaluate(args):
    from radiounet.io.atomic import ensure_writable_directory

    cluster_level = (args.detections, args.truth, args.truth_column)
    pixel_level = (args.predictions, args.truth_masks or args.truth_labels)
    if any(cluster_level) and not all(cluster_level):
        raise RadioUNetError("evaluate: --detections, --truth and --truth-column go together")
    if any(pixel_level) and not all(pixel_level):
        raise RadioUNetError("evaluate: --predictions goes with --truth-masks or --truth-labels")
    if not any(cluster_level + pixel_level):
        raise RadioUNetError("evaluate: give --detections/--truth/--truth-column, --predictions with "
                             "--truth-masks or --truth-labels, or both")
    if args.threshold is not None and not 0 < args.threshold < 1:
        raise InvalidParameterError("--threshold", args.threshold, "must be between 0 and 1")
    if args.out is None and not args.detections:
        raise RadioUNetError("evaluate: --out is needed when there is no --detections")
    out = ensure_writable_directory(args.out or Path(args.detections).parent)
    if args.detections:
        _evaluate_clusters(args, out)
    if args.predictions and args.truth_masks:
        _evaluate_pixels(args, out)
    if args.predictions and args.truth_labels:
        _evaluate_classes(args, out)


def _evaluate_clusters(args, out):
    import json

    from radiounet.evaluate.curves import save_curves
    from radiounet.evaluate.detections import cluster_class_confusion, evaluate_detections, read_detections
    from radiounet.io.atomic import atomic_path
    from radiounet.io.tables import read_table, write_table

    require_positive_int(args.bootstrap, "bootstrap")
    positive, negative = ({name.strip().upper() for name in option.split(",") if name.strip()}
                          for option in (args.positive, args.negative))
    if not positive or not negative or positive & negative:
        raise RadioUNetError(f"--positive {args.positive!r} and --negative {args.negative!r} must each name classes, "
                             "and no class both")
    detections, truth = read_detections(args.detections), read_table(args.truth)
    for column in (args.truth_name_column, args.truth_column):
        if column not in truth.colnames:
            raise RadioUNetError(f"{args.truth}: no column {column} (columns: {', '.join(truth.colnames)})")
    classes = {str(n).strip(): str(c) for n, c in zip(truth[args.truth_name_column], truth[args.truth_column])}
    try:
        evaluation = evaluate_detections(detections, classes, positive=sorted(positive), negative=sorted(negative),
                                         metric=args.metric, n_bootstrap=args.bootstrap)
    except RadioUNetError as exc:
        raise RadioUNetError(f"{args.detections} against {args.truth}: {exc}") from None
    write_table(evaluation.per_class, out / "confusion.ecsv")
    write_table(evaluation.sweep, out / "threshold_sweep.ecsv")
    summary = dict(metrics=evaluation.metrics, best_threshold=evaluation.best_threshold,
                   best_metric=evaluation.best_metric, unmatched_or_unmeasured=evaluation.n_unmatched)
    with atomic_path(out / "evaluation.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    save_curves(evaluation, out)
    print(evaluation.per_class)
    for key in ("accuracy", "precision", "recall", "false_negative_rate"):
        value, (low, high) = evaluation.metrics[key]["value"], evaluation.metrics[key]["ci95"]
        print(f"{key}: {value:.3f} (95% interval {low:.3f}-{high:.3f})")
    print(f"{evaluation.metrics['n']} clusters evaluated, {evaluation.n_unmatched} without truth or measurement; "
          f"best R threshold for {evaluation.best_metric}: {evaluation.best_threshold:.4g}; outputs in {out}")
    n_positive, n_negative = evaluation.metrics["n_positive"], evaluation.metrics["n_negative"]
    if min(n_positive, n_negative) < _FEW_CLUSTERS:
        print(f"radio-unet: note: {n_positive} positive and {n_negative} negative cluster(s): too few for the "
              f"intervals and the best threshold to say much (tens of each are needed)", file=sys.stderr)
    classes_table = cluster_class_confusion(detections, classes)
    if classes_table is not None:
        write_table(classes_table, out / "cluster_class_confusion.ecsv")
        print("cluster classes (rows: truth RH -> halo, RR -> relic, RH+RR -> both, NDE -> none; columns: the "
              "model's class):")
        print(classes_table)


def _evaluate_classes(args, out):
    from radiounet.evaluate.pixels import class_confusion, pair_class_maps
    from radiounet.io.tables import write_table

    pairs = pair_class_maps(args.predictions, args.truth_labels)
    table = class_confusion(pairs)
    write_table(table, out / "class_confusion.ecsv")
    print(f"class confusion over {len(pairs)} images (rows: true class, columns: predicted; pixels):")
    print(table)


def _evaluate_pixels(args, out):
    from radiounet.evaluate.pixels import pair_predictions, pixel_metrics
    from radiounet.io.tables import write_table

    pairs, unmatched = pair_predictions(args.predictions, args.truth_masks)
    if not pairs:
        raise RadioUNetError(f"evaluate: none of the {len(unmatched)} probability maps in "
                             f"{' '.join(map(str, args.predictions))} has a truth mask of the same stem in "
                             f"{' '.join(map(str, args.truth_masks))}")
    for path in unmatched:
        print(f"radio-unet: warning: {path}: no truth mask with the same stem", file=sys.stderr)
    table = pixel_metrics(pairs, args.threshold)
    write_table(table, out / "pixel_metrics.ecsv")
    total = table.meta["total"]
    print(f"pixel metrics over {len(table)} images ({total['n_truth']} truth pixels, {total['n_predicted']} "
          f"predicted): Dice {total['dice']:.3f}, IoU {total['iou']:.3f}, precision {total['precision']:.3f}, "
          f"recall {total['recall']:.3f}; per image in {out / 'pixel_metrics.ecsv'}")


def _cmd_inject(args):
    import numpy as np

    from radiounet.detect.catalog import require_measurable
    from radiounet.evaluate.injection import (catalog_sites, completeness, flux_at_completeness, plot_completeness,
                                              random_sites, run_injections)
    from radiounet.io.atomic import ensure_writable_directory
    from radiounet.io.image import parse_beam
    from radiounet.io.tables import write_table
    from radiounet.sky.cosmology import kpc_per_arcsec, r500_from_m500

    try:
        low, high = (float(v) for v in args.flux_range.split(","))
    except ValueError:
        raise InvalidParameterError("flux-range", args.flux_range, "must be MIN,MAX in mJy, e.g. 2,300") from None
    if not 0 < low < high:
        raise InvalidParameterError("flux-range", args.flux_range, "must be 0 < MIN < MAX (mJy)")
    require_positive_int(args.n_flux, "n-flux")
    re_kpc = _quantity(args.re, u.kpc, "re").to_value(u.kpc)
    if not re_kpc > 0:
        raise InvalidParameterError("re", args.re, "must be positive")
    beam = parse_beam(args.beam) if args.beam else None
    images = _aperture_images(args)
    if args.catalog:
        if args.sites is not None:
            raise RadioUNetError("inject: --sites and --catalog exclude each other (with a catalogue its clusters "
                                 "are the sites)")
        catalog = _read_catalog(args)
        require_measurable(catalog, args.catalog)
        sites = catalog_sites(catalog, images, beam)
        if not sites:
            raise RadioUNetError(f"{args.catalog}: no usable cluster lies in the images")
    else:
        args.sites = 5 if args.sites is None else args.sites
        require_positive_int(args.sites, "sites")
        if args.seed < 0:
            raise InvalidParameterError("seed", args.seed, "must be >= 0")
        if not 0 < args.redshift < 10:
            raise InvalidParameterError("redshift", args.redshift, "must be between 0 and 10")
        if args.r500 and args.m500:
            raise RadioUNetError("inject: --r500 and --m500 exclude each other (R500 follows from M500)")
        if args.r500:
            r500_kpc = _quantity(args.r500, u.kpc, "r500").to_value(u.kpc)
            if not 0 < r500_kpc < np.inf:
                raise InvalidParameterError("r500", args.r500, "must be positive")
        else:
            m500 = _quantity(args.m500 or "4e14 Msun", u.Msun, "m500")
            if not 0 < m500.to_value(u.Msun) < np.inf:
                raise InvalidParameterError("m500", args.m500, "must be positive")
            r500_kpc = r500_from_m500(m500, args.redshift).to_value(u.kpc)
        re_arcsec = re_kpc / kpc_per_arcsec(args.redshift).to_value(u.kpc / u.arcsec)
        sites = random_sites(images, args.sites, args.redshift, r500_kpc, seed=args.seed, beam=beam,
                             margin_arcsec=2 * re_arcsec)
    out = ensure_writable_directory(args.out)
    predictor = _predictor(args)
    fluxes = np.geomspace(low, high, args.n_flux) * 1e-3
    injections = run_injections(sites, predictor, fluxes, re_kpc, out, factor=args.factor,
                                ratio_threshold=args.ratio_threshold, beam=beam, progress=not args.no_progress)
    by_flux, by_snr = completeness(injections, "flux"), completeness(injections, "i0_snr")
    for table, name in ((injections, "injections.ecsv"), (by_flux, "completeness.ecsv"),
                        (by_snr, "completeness_snr.ecsv")):
        write_table(table, out / name)
    baseline = len(set(injections["site"][np.asarray(injections["detected_baseline"], bool)]))
    plot_completeness(by_flux, by_snr, out / "completeness.png",
                      title=f"{len(sites) - baseline} sites, r_e = {re_kpc:g} kpc, "
                            f"R > {injections.meta['ratio_threshold']:.3g}")
    outputs = f"{out}/injections.ecsv, completeness.ecsv, completeness_snr.ecsv, completeness.png"
    if not len(by_flux):
        coverage = float(np.median(np.asarray(injections["coverage"], float)))
        cut = (f"; the aperture runs off the image (median coverage {coverage:.2f}): give a larger image or a "
               "smaller cluster" if coverage < 0.9 else "")
        print(f"inject: all {len(sites)} sites are detected without a halo (R_baseline above the threshold "
              f"{injections.meta['ratio_threshold']:.3g}), so there is no completeness curve{cut}; look at "
              f"R_baseline in {outputs}")
        return 0
    print(by_flux)
    levels = ", ".join(f"{100 * level:.0f}% at {flux_at_completeness(by_flux, level):.3g} mJy" for level in (0.5, 0.9))
    print(f"inject: {len(sites)} sites ({baseline} already detected without a halo, left out); completeness "
          f"{levels}; {outputs}")


def _cmd_calibrate(args):
    import numpy as np

    from radiounet.detect.clusters import REFERENCE_RATIO_THRESHOLD
    from radiounet.evaluate.calibrate import calibrate_ratio_threshold, short_threshold
    from radiounet.evaluate.detections import binary_metrics
    from radiounet.io.atomic import ensure_writable_directory
    from radiounet.io.tables import write_table
    from radiounet.sky import FieldConfig

    require_positive_int(args.fields, "fields")
    require_non_negative_int(args.seed, "seed")
    if args.size < 64:
        raise InvalidParameterError("size", args.size, "must be at least 64 pixels")
    if not 0 < args.factor < 10:
        raise InvalidParameterError("factor", args.factor, "must lie between 0 and 10 (R500)")
    zmin, zmax = args.redshift_range
    if not 0 < zmin <= zmax < 10:
        raise InvalidParameterError("redshift-range", f"{zmin} {zmax}", "must be 0 < ZMIN <= ZMAX < 10")
    if not 0 <= args.correlated_noise <= 0.9:
        raise InvalidParameterError("correlated-noise", args.correlated_noise, "must lie between 0 and 0.9")
    survey = _survey_from_args(args)
    FieldConfig(survey, shape=(args.size, args.size))  # the simulator's limits, before anything is written
    predictor = _predictor(args)
    out = ensure_writable_directory(args.out)
    threshold, table, metrics = calibrate_ratio_threshold(
        predictor, survey, n_fields=args.fields, size=args.size, factor=args.factor, redshift=(zmin, zmax),
        metric=args.metric, seed=args.seed, correlated_noise=args.correlated_noise, progress=not args.no_progress)
    ratios, truth = np.asarray(table["R"], float), np.asarray(table["diffuse"], bool)
    threshold = short_threshold(threshold, ratios)  # the same decisions, in digits one can type
    calibrated = "detection_ratio_threshold" in predictor.card
    model_threshold = float(predictor.card.get("detection_ratio_threshold", REFERENCE_RATIO_THRESHOLD))
    at_model = binary_metrics(ratios > model_threshold, truth)
    table.meta.update(model=predictor.model_name, survey=survey.describe(), ratio_threshold=threshold,
                      metric=args.metric, factor=args.factor, size_pixels=args.size, redshift=[zmin, zmax],
                      seed=args.seed, correlated_noise=args.correlated_noise, metrics=metrics,
                      model_ratio_threshold=model_threshold, metrics_at_model_threshold=at_model,
                      command=args.command_line)
    write_table(table, out / "calibration.ecsv")

    def figures(m):
        precision = "none detected" if np.isnan(m["precision"]) else f"{m['precision']:.2f}"
        return (f"accuracy {m['accuracy']:.2f}, precision {precision}, recall {m['recall']:.2f}, "
                f"false positives {m['false_positive_rate']:.2f}")

    n_diffuse = int(truth.sum())
    print(f"calibrate: {predictor.model_name} on {survey.describe()}: {len(table)} fields, {n_diffuse} with "
          f"diffuse emission")
    print(f"R threshold {threshold:.10g} (best {args.metric}): {figures(metrics)}")
    print(f"the model's {'own' if calibrated else 'default (the reference work)'} {model_threshold:.4g} on the "
          f"same fields: {figures(at_model)}")
    if min(n_diffuse, len(table) - n_diffuse) < _FEW_CLUSTERS:
        print(f"calibrate: fewer than {_FEW_CLUSTERS} fields with (or without) diffuse emission: the threshold says "
              "little; give more --fields")
    print(f"use it: radio-unet detect ... --ratio-threshold {threshold:.10g} (and inject, benchmark); "
          f"{out / 'calibration.ecsv'}")


def _cmd_models(args):
    from radiounet.models import benchmark_headlines, model_table

    table = model_table()
    listing = table["name", "output", "depth", "parameters", "pixels_per_beam", "threshold", "dice",
                    "radio_galaxy_fraction"]
    listing["name"] = [f"{name} (default)" if default else name
                       for name, default in zip(table["name"], table["default"])]
    listing["dice"].format = listing["threshold"].format = ".3g"
    listing["radio_galaxy_fraction"] = 100 * listing["radio_galaxy_fraction"]
    listing["radio_galaxy_fraction"].format = ".2f"
    listing.rename_column("radio_galaxy_fraction", "radio_galaxy_pct")
    print("\n".join(listing.pformat(max_width=-1, max_lines=-1)))
    print("dice: diffuse Dice on the card's held-out fields with a halo or relics; radio_galaxy_pct: per cent of the "
          "pixels of its radio-galaxy fields called diffuse; pixels_per_beam: native sampling")
    headlines = benchmark_headlines()
    if headlines is not None:
        print("\nradio-unet benchmark (docs/benchmark.md), per setup: diffuse Dice / relic pixels found, pooled "
              "(in the median image with a relic) / pixels of radio-galaxy images called diffuse; simulator: the "
              "training simulator, heldout: a sky generator never used in training")
        print("\n".join(headlines.pformat(max_width=-1, max_lines=-1)))
    for row in table:
        print(f"\n{row['name']}: {row['description']}")


def _cmd_benchmark(args):
    from radiounet.evaluate.benchmark import run_benchmark
    from radiounet.evaluate.benchmark_compare import (compare_benchmarks, read_benchmark, setups_in_common,
                                                      write_comparison)
    from radiounet.evaluate.benchmark_report import write_benchmark
    from radiounet.inference.predictor import Predictor
    from radiounet.io.atomic import ensure_writable_directory
    from radiounet.sky.survey import PRESETS, get_survey

    if args.real_data is not None and not Path(args.real_data).is_dir():
        raise MissingFileError(f"{args.real_data}: no such folder (--real-data: a folder of real images with "
                               "labels.csv)")
    for path in args.noise_images or ():
        if not Path(path).is_file():
            raise MissingFileError(f"{path}: no such file (--noise-images)")
    against = read_benchmark(args.against) if args.against is not None else None
    plan = "quick" if args.quick else "default"
    if against is not None and against["setups"].meta["plan"] != plan:
        raise RadioUNetError(f"{args.against}: a benchmark of plan {against['setups'].meta['plan']}, not "
                             f"{plan}: their images differ, they cannot be compared"
                             + (" (leave out --quick)" if args.quick else " (add --quick)"))
    setups = []
    for name in dict.fromkeys(args.setups):
        if name not in PRESETS:
            raise RadioUNetError(f"--setups {name}: unknown survey preset; choose one of {', '.join(sorted(PRESETS))}")
        setups.append(get_survey(name))
    if any(getattr(args, option) is not None for option in _SURVEY_OPTIONS):
        own = _survey_from_args(args)
        if own.describe() not in [survey.describe() for survey in setups]:
            setups.append(own)
    if not setups:
        raise RadioUNetError("benchmark: no simulated setup: --setups without a preset needs a survey of your own "
                             "(--bmaj, --pixel-scale, --rms, --frequency, ...)")
    _require_ratio_threshold(args)
    if against is not None and not setups_in_common(against["setups"], setups):
        raise RadioUNetError(f"{args.against}: no simulated setup in common with this run's "
                             f"({', '.join(survey.name for survey in setups)}): nothing to compare")
    predictor = Predictor(args.model, args.device)
    out = ensure_writable_directory(args.out or default_benchmark_folder(args.model))
    result = run_benchmark(predictor, quick=args.quick, setups=setups, real_data=args.real_data,
                           noise_images=args.noise_images, work_dir=out / "parts",
                           ratio_threshold=args.ratio_threshold, progress=not args.no_progress)
    paths = write_benchmark(result, out, command=args.command_line)
    print(paths["benchmark.md"].read_text())
    if against is not None:
        comparison = compare_benchmarks(against, read_benchmark(out))
        compared = write_comparison(*comparison, out)
        print(compared["comparison.md"].read_text())
        paths.update(compared)
    print(f"benchmark: {', '.join(str(p) for p in paths.values())}")


def _cmd_presets(args):
    from radiounet.sky.survey import PRESETS, get_survey

    for name in PRESETS:
        print(get_survey(name).describe())


def _add_segmentation_options(parser):
    _add_model_options(parser)
    parser.add_argument("--beam", help="beam for images whose header has none (it replaces a header's beam): "
                                       "BMAJ[,BMIN,BPA] in arcsec, arcsec, deg, or quantities ('0.002 deg')")


def _add_model_options(parser):
    """The options of :func:`_predictor`."""
    parser.add_argument("--model", help="shipped model name or model file (default: the default model)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: auto")
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16", "float16"),
                        help="the network's arithmetic (default: auto, float16 on CUDA, float32 on CPU; bfloat16 "
                             "speeds the network up 1.1-1.6x on CPUs with AVX512-BF16 or AMX, probabilities "
                             "within 0.1, and slows it down 9x on CPUs without)")


def _add_aperture_options(parser):
    parser.add_argument("--factor", type=float, default=2.2, help="aperture radius in R500 (default: 2.2)")
    parser.add_argument("--ratio-threshold", type=float,
                        help="detected when R exceeds this (default: the model's, else 0.015)")


def _aperture_images(args):
    """The images of detect or inject (folders expanded), after checking the aperture factor."""
    from radiounet.inference.batch import expand_inputs

    if not args.factor > 0:
        raise InvalidParameterError("factor", args.factor, "must be positive")
    _require_ratio_threshold(args)
    return expand_inputs(args.images)


def _require_ratio_threshold(args):
    if args.ratio_threshold is not None and not 0 <= args.ratio_threshold < 1:
        raise InvalidParameterError("ratio-threshold", args.ratio_threshold, "must be at least 0 and below 1 (R is a "
                                                                             "mean probability)")


def _add_fetch_options(parser):
    from radiounet.fetch.services import TEMPLATE_FIELDS

    fetch = parser.add_argument_group("survey cutouts")
    fetch.add_argument("--size", help="side of every cutout, arcmin or a quantity like '0.5 deg' (default: "
                                      "2 x (FACTOR x R500 + 24 beams) per cluster)")
    fetch.add_argument("--url-template", metavar="TEMPLATE",
                       help="cutout URL with fields " + ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
                            + " (ra, dec in deg; default: the survey's service)")
    fetch.add_argument("--workers", type=int, default=4, help="downloads at a time (default: 4)")
    fetch.add_argument("--retries", type=int, default=3,
                       help="retries after a timeout, a cut connection, HTTP 429 or 5xx, with back-off (default: 3)")
    fetch.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for an answer (default: 60)")
    fetch.add_argument("--max-size", default="2 deg",
                       help="largest cutout side asked for, arcmin or a quantity (default: '2 deg'; nearby clusters "
                            "have large apertures: check their coverage)")
    fetch.add_argument("--refetch", action="store_true",
                       help="ask again for every row (by default a row asked before with the same URL keeps its "
                            "cutout, or its not_found / outside_footprint answer)")


def _add_catalog_options(parser):
    columns = parser.add_argument_group("catalogue columns (defaults: Planck PSZ2)")
    columns.add_argument("--name-column", default="NAME")
    columns.add_argument("--ra-column", default="RA", help="degrees")
    columns.add_argument("--dec-column", default="DEC", help="degrees")
    columns.add_argument("--redshift-column", default="REDSHIFT")
    columns.add_argument("--mass-column", default="MSZ", help="M500")
    columns.add_argument("--mass-unit", default="1e14 Msun", help="unit of the mass column (default: 1e14 Msun)")
    columns.add_argument("--r500-column", help="use this R500 column instead of the mass")
    columns.add_argument("--r500-unit", help="unit of --r500-column: kpc (default), Mpc, arcsec, arcmin, deg")


def _read_catalog(args):
    from radiounet.detect.catalog import read_cluster_catalog

    if args.r500_unit and not args.r500_column:
        raise RadioUNetError("--r500-unit goes with --r500-column (the catalogue's R500 column)")
    return read_cluster_catalog(
        args.catalog, name=args.name_column, ra=args.ra_column, dec=args.dec_column, redshift=args.redshift_column,
        mass=args.mass_column, mass_unit=_quantity(args.mass_unit, u.Msun, "mass-unit", unit=True),
        r500=args.r500_column, r500_unit=args.r500_unit or "kpc")


def _survey_names():
    from radiounet.fetch.services import SURVEY_SERVICES

    return (*SURVEY_SERVICES, "custom")


def build_parser():
    """The argument parser of ``radio-unet``."""
    parser = argparse.ArgumentParser(
        prog="radio-unet",
        description="Find diffuse radio emission in galaxy clusters with a U-Net.",
    )
    parser.add_argument("--version", action="version", version=f"radiounet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    simulate = commands.add_parser(
        "simulate", help="simulate labelled cluster fields as FITS images, masks, labels and truth tables",
        description="Simulate cluster fields (observed image, diffuse-emission mask, class labels, quick-look "
                    "PNG) and their truth tables. Rerunning into the same directory completes a partial run.",
    )
    simulate.add_argument("--out", required=True, help="output directory")
    simulate.add_argument("--n-fields", type=int, default=1, help="number of fields (default: 1)")
    simulate.add_argument("--prefix", default="field", help="file name prefix (default: field)")
    simulate.add_argument("--no-png", action="store_true", help="skip the quick-look PNGs")
    _add_field_options(simulate)
    simulate.set_defaults(func=_cmd_simulate)

    dataset = commands.add_parser(
        "dataset", help="simulate fields straight into HDF5 shards of training tiles",
        description="Simulate fields and cut them into tiles stored in HDF5 shards (image, mask, labels, "
                    "field index). Each shard holds whole fields, so a train/validation split by shard is a "
                    "split by field. Existing shards are kept (resumable).",
    )
    dataset.add_argument("--out", required=True, help="output directory")
    dataset.add_argument("--n-fields", type=int, required=True, help="number of fields")
    dataset.add_argument("--tile-size", type=int, default=192, help="tile size in pixels (default: 192)")
    dataset.add_argument("--stride", type=int, default=None, help="tile stride in pixels (default: tile size)")
    dataset.add_argument("--fields-per-shard", type=int, default=16, help="fields per shard file (default: 16)")
    _add_field_options(dataset)
    dataset.set_defaults(func=_cmd_dataset)

    train = commands.add_parser(
        "train", help="train a U-Net from a TOML config",
        description="Train a U-Net as configured (see configs/ and the README). Rerunning the same command "
                    "resumes from the last finished epoch. Under torchrun, trains on all ranks (DDP).",
    )
    train.add_argument("config", help="TOML configuration file")
    train.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override a config value (repeatable), e.g. --set training.epochs=3")
    train.add_argument("--out", help="output folder (default: runs/CONFIG_STEM)")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    train.set_defaults(func=_cmd_train)

    finetune = commands.add_parser(
        "finetune", help="fine-tune a model on labelled FITS images (image + mask pairs)",
        description="Start from a model and train on a few real labelled images with augmentation "
                    "(flips, rotations, noise and flux jitter), optionally freezing the encoder.",
    )
    finetune.add_argument("--model", required=True, help="shipped model name or model file")
    finetune.add_argument("--images", nargs="+", required=True, help="FITS images (Jy/beam)")
    finetune.add_argument("--masks", nargs="+", required=True, help="FITS masks, one per image (non-zero = diffuse)")
    finetune.add_argument("--val-images", nargs="+", help="validation images (default: the training images)")
    finetune.add_argument("--val-masks", nargs="+", help="validation masks")
    finetune.add_argument("--out", required=True, help="output folder")
    finetune.add_argument("--freeze-levels", type=int, default=0, help="freeze the first N encoder levels")
    finetune.add_argument("--freeze-encoder", action="store_true", help="freeze the encoder and the bottleneck")
    finetune.add_argument("--epochs", type=int, default=10, help="epochs (default: 10)")
    finetune.add_argument("--tiles-per-epoch", type=int, default=128, help="random tiles per epoch (default: 128)")
    finetune.add_argument("--batch-size", type=int, default=8, help="batch size (default: 8)")
    finetune.add_argument("--learning-rate", type=float, default=2e-4, help="learning rate (default: 2e-4)")
    finetune.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                          help="override a value of the model's training config")
    finetune.add_argument("--no-progress", action="store_true", help="no progress bars")
    finetune.set_defaults(func=_cmd_finetune)

    info = commands.add_parser("model-info", help="parameters and FLOPs per tile of a model or config")
    source = info.add_mutually_exclusive_group()
    source.add_argument("--model", help="shipped model name or model file (default: the default model)")
    source.add_argument("--config", help="TOML training configuration")
    info.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    info.add_argument("--tile-size", type=int, help="tile size for the FLOP count (default: the model's)")
    info.set_defaults(func=_cmd_model_info)

    export = commands.add_parser(
        "export", help="write a model as an ONNX file, to run it without PyTorch",
        description="Write MODEL as an ONNX graph from normalised tiles, asinh(image / rms) at the model's native "
                    "sampling, to probabilities (diffuse emission, then the classes), with the model card in its "
                    "metadata. Needs the onnx extra: pip install 'radiounet[onnx]'.")
    export.add_argument("model", metavar="MODEL", help="shipped model name or model file")
    export.add_argument("--format", default="onnx", choices=("onnx",), help="default: onnx")
    export.add_argument("--out", help="output file (default: ./MODEL.onnx)")
    export.set_defaults(func=_cmd_export)

    predict = commands.add_parser(
        "predict", help="segment FITS images: probability maps, masks, diffuse-source catalogues",
        description="Segment radio images with a trained model. For DIR_IN/STEM.fits it writes DIR/STEM.prob.fits, "
                    "STEM.mask.fits, STEM.sources.ecsv, STEM.reg and STEM.png (not with --no-png; and "
                    "STEM.classes.fits with a class model, STEM.spread.fits with --tta). "
                    "Images already done are skipped; a file that fails is reported and the others go on "
                    "(exit status 2 at the end). Under torchrun each rank takes its share of the files.",
    )
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="FITS images, or folders of them")
    predict.add_argument("--out", required=True, help="output folder")
    _add_segmentation_options(predict)
    predict.add_argument("--threshold", type=float, help="probability threshold of the mask (default: the model's)")
    predict.add_argument("--redshift", type=float, help="redshift of the target: sizes in kpc in the catalogue")
    predict.add_argument("--tta", action="store_true",
                         help="test-time augmentation: average the 8 flips/rotations, write their spread")
    predict.add_argument("--writers", type=int,
                         help="threads writing outputs while the next images are segmented (default: 1 up to 4 "
                              "cores, else one per 4 cores up to 4: beside a GPU the writing is the bottleneck)")
    predict.add_argument("--tile", type=int,
                         help="largest inference tile side in pixels, a multiple of 2**depth, at least twice it "
                              "(default: 1152; the training tile, 192, with --crop 48: 0.1.0's tiles, twice the time)")
    predict.add_argument("--crop", type=int,
                         help="tile border discarded on reassembly, pixels (default: 64, or a quarter of a smaller "
                              "tile; less than half the tile)")
    predict.add_argument("--blend", default="crop", choices=("crop", "gaussian"),
                         help="averaging of overlapping tiles (default: crop)")
    predict.add_argument("--batch-size", type=int,
                         help="tiles per network call (default: as many as hold about 0.6 Mpixel)")
    predict.add_argument("--no-png", action="store_true",
                         help="skip the quick-look PNG (about half the writing time of a 2000x2000 image)")
    predict.add_argument("--overwrite", action="store_true", help="redo images whose outputs exist")
    predict.add_argument("--no-progress", action="store_true", help="no progress bar")
    predict.set_defaults(func=_cmd_predict)

    detect = commands.add_parser(
        "detect", help="for each cluster of a catalogue: the detection ratio R and whether diffuse emission is there",
        description="For each cluster, cut out the image around it, segment it, and compute R = mean probability "
                    "of diffuse emission within FACTOR x R500. Writes OUT/detections.ecsv (and .csv), "
                    "OUT/thumbnails/ (pictures and diffuse sources of each measured cluster) and OUT/report.html "
                    "(one self-contained page: summary, gallery, full views, table). Rows that cannot be measured "
                    "get a status instead of stopping the run.",
    )
    detect.add_argument("--catalog", required=True, help="cluster catalogue (FITS, CSV or ECSV; Planck PSZ2 as is)")
    detect.add_argument("--images", nargs="+", help="FITS mosaics, images, cutouts or folders")
    detect.add_argument("--out", required=True, help="output folder")
    detect.add_argument("--fetch", metavar="SURVEY", choices=_survey_names(),
                        help="first download one cutout per cluster from this survey's cutout service ("
                             + ", ".join(_survey_names()) + "; 'custom' with --url-template); see `cutouts`")
    detect.add_argument("--cutouts", metavar="DIR", help="folder of the fetched cutouts (default: OUT/cutouts)")
    detect.add_argument("--overwrite", action="store_true",
                        help="measure every cluster again (by default a rerun with the same settings takes the "
                             "clusters already in OUT/detect.journal.jsonl: a stopped run resumes)")
    _add_segmentation_options(detect)
    _add_aperture_options(detect)
    _add_catalog_options(detect)
    _add_fetch_options(detect)
    detect.add_argument("--no-progress", action="store_true", help="no progress bars")
    detect.set_defaults(func=_cmd_detect)

    cutouts = commands.add_parser(
        "cutouts", help="download one FITS cutout per cluster of a catalogue from a survey's cutout service",
        description="For each row of the catalogue, download a FITS cutout centred on the cluster from the "
                    "survey's cutout service (LoTSS-DR2: https://lofar-surveys.org, 6\" or 20\") into "
                    "OUT/NAME.fits, with retries, and write OUT/cutouts.ecsv with a status per row: fetched, "
                    "cached, not_found, outside_footprint, not_fits, http_error, failed, or the catalogue's. "
                    "A rerun asks only for the rows not yet answered for good (a cutout on disk, not_found, "
                    "outside_footprint; kept in OUT/.requests/), so a stopped run resumes. Exit status 2 when some "
                    "downloads failed after every retry or no request returned a cutout.",
    )
    cutouts.add_argument("--catalog", required=True, help="cluster catalogue (FITS, CSV or ECSV; Planck PSZ2 as is)")
    cutouts.add_argument("--survey", choices=_survey_names(), required=True,
                         help="survey whose cutout service to use ('custom': give --url-template)")
    cutouts.add_argument("--out", required=True, help="output folder")
    cutouts.add_argument("--factor", type=float, default=2.2,
                         help="aperture radius in R500 that the default size covers (default: 2.2)")
    _add_fetch_options(cutouts)
    _add_catalog_options(cutouts)
    cutouts.add_argument("--no-progress", action="store_true", help="no progress bar")
    cutouts.set_defaults(func=_cmd_cutouts)

    inject = commands.add_parser(
        "inject", help="inject mock halos into real images and measure the completeness of detection",
        description="Add circular exponential halos (I0 exp(-r/r_e), convolved with the image's beam) of "
                    "--n-flux flux densities between the ends of --flux-range at each site: the clusters of "
                    "--catalog that lie in the images, or --sites random positions per image with --redshift and "
                    "--m500 (or --r500). Each injected cutout is segmented and its detection ratio R measured as "
                    "in detect. Writes DIR/injections.ecsv (one row per site and flux), completeness.ecsv (per "
                    "flux), completeness_snr.ecsv (per bin of I0 / rms) and completeness.png. Sites already done "
                    "(DIR/sites/) are reused when the command is run again.",
    )
    inject.add_argument("--images", nargs="+", required=True, help="FITS images, or folders of them")
    inject.add_argument("--out", required=True, help="output folder")
    _add_segmentation_options(inject)
    inject.add_argument("--flux-range", default="2,300", metavar="MIN,MAX",
                        help="flux densities of the halos at the image's frequency, mJy (default: 2,300)")
    inject.add_argument("--n-flux", type=int, default=8, help="flux levels, log-spaced (default: 8)")
    inject.add_argument("--re", default="150 kpc", help="e-folding radius of the halos (default: 150 kpc)")
    inject.add_argument("--catalog", help="inject at these clusters (FITS, CSV or ECSV; Planck PSZ2 as is)")
    inject.add_argument("--sites", type=int, help="random sites per image without --catalog (default: 5)")
    inject.add_argument("--redshift", type=float, default=0.2, help="redshift of random sites (default: 0.2)")
    inject.add_argument("--m500", help="M500 of random sites (default: 4e14 Msun)")
    inject.add_argument("--r500", help="R500 of random sites instead of --m500 (kpc, or a quantity)")
    inject.add_argument("--seed", type=int, default=0, help="seed of the random sites (default: 0)")
    _add_aperture_options(inject)
    _add_catalog_options(inject)
    inject.add_argument("--no-progress", action="store_true", help="no progress bars")
    inject.set_defaults(func=_cmd_inject)

    calibrate = commands.add_parser(
        "calibrate", help="find the detection-ratio threshold of a model for a survey of your own",
        description="Simulate cluster fields of the survey (each with a halo and/or relics at a chance of one "
                    "half, with radio galaxies only at 35 percent, else neither), segment them as predict does, "
                    "measure R within --factor R500 of each cluster as detect does, and choose the R threshold "
                    "that best separates the clusters with diffuse emission from the others (--metric). Prints it "
                    "beside the model's own threshold on the same fields; writes DIR/calibration.ecsv (one row per "
                    "field: R, coverage, diffuse, z). Give the threshold to detect, inject and benchmark with "
                    "--ratio-threshold.",
    )
    calibrate.add_argument("--out", required=True, help="output folder")
    _add_model_options(calibrate)
    _add_survey_options(calibrate, "the survey: a preset, optionally with some of its values replaced")
    calibrate.add_argument("--fields", type=int, default=40,
                           help="simulated fields (default: 40, as many as each survey of the shipped models' "
                                "calibration)")
    calibrate.add_argument("--size", type=int, default=1024, help="field side in pixels (default: 1024)")
    calibrate.add_argument("--redshift-range", nargs=2, type=float, metavar=("ZMIN", "ZMAX"), default=(0.1, 0.6),
                           help="cluster redshifts, drawn uniformly (default: 0.1 0.6)")
    calibrate.add_argument("--correlated-noise", type=float, default=0.3, metavar="SHARE",
                           help="share of the noise variance made correlated over 1.5 beams, the stand-in for real "
                                "noise (default: 0.3, as the shipped models were calibrated; 0: the simulator's)")
    calibrate.add_argument("--metric", default="accuracy", choices=("accuracy", "f1", "youden"),
                           help="what the threshold maximises (default: accuracy)")
    calibrate.add_argument("--factor", type=float, default=2.2, help="aperture radius in R500 (default: 2.2)")
    # radiounet.evaluate.calibrate.CALIBRATION_SEED written out: importing it would cost every command the simulator.
    calibrate.add_argument("--seed", type=int, default=333_000_001,
                           help="seed of the fields (default: the calibration's own, apart from the benchmark's; "
                                "another seed draws other fields, to see how far the threshold moves)")
    calibrate.add_argument("--no-progress", action="store_true", help="no progress bars")
    calibrate.set_defaults(func=_cmd_calibrate)

    evaluate = commands.add_parser(
        "evaluate", help="compare detections with a truth classification, and probability maps with truth masks",
        description="Cluster level (--detections, --truth, --truth-column): match detections to truth classes by "
                    "name; print the table per class and accuracy, precision, recall and false-negative rate "
                    "with bootstrap 95% intervals; write confusion.ecsv, threshold_sweep.ecsv, evaluation.json, "
                    "roc.png and precision_recall.png. Pixel level (--predictions, --truth-masks): Dice, IoU, "
                    "precision and recall of the maps of radio-unet predict against truth masks; write "
                    "pixel_metrics.ecsv. Either or both.",
    )
    clusters = evaluate.add_argument_group("cluster level")
    clusters.add_argument("--detections", help="detections.ecsv from radio-unet detect")
    clusters.add_argument("--truth", help="table of truth classes (FITS, CSV, ECSV)")
    clusters.add_argument("--truth-column", help="column of the class, e.g. RH/RR/NDE/U")
    clusters.add_argument("--truth-name-column", default="name", help="column of cluster names (default: name)")
    clusters.add_argument("--positive", default=",".join(("RH", "RR", "RH+RR", "DE", "halo", "relic")),
                          help="comma-separated classes with diffuse emission")
    clusters.add_argument("--negative", default="NDE,none", help="comma-separated classes without (default NDE,none)")
    clusters.add_argument("--metric", default="accuracy", choices=("accuracy", "f1", "youden"),
                          help="what the R-threshold sweep maximises")
    clusters.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default: 1000)")
    pixels = evaluate.add_argument_group("pixel level")
    pixels.add_argument("--predictions", nargs="+", metavar="PATH",
                        help="STEM.prob.fits maps of radio-unet predict, or their folder")
    pixels.add_argument("--truth-masks", nargs="+", metavar="PATH",
                        help="truth masks STEM.mask.fits (or STEM.fits), or their folder; paired by STEM")
    pixels.add_argument("--truth-labels", nargs="+", metavar="PATH",
                        help="class labels STEM.labels.fits (or their folder): confusion matrix of the class maps "
                             "STEM.classes.fits of a class model")
    pixels.add_argument("--threshold", type=float,
                        help="probability threshold (default: the one each map was written with)")
    evaluate.add_argument("--out", help="output folder (default: the folder of --detections)")
    evaluate.set_defaults(func=_cmd_evaluate)

    models = commands.add_parser("models", help="list the shipped models, with their held-out figures")
    models.set_defaults(func=_cmd_models)

    benchmark = commands.add_parser(
        "benchmark", help="measure a model on skies it never saw: surveys and scales, a held-out sky generator, "
                          "real noise, real images",
        description="Segment whole images as predict does and measure: per survey setup (LoTSS 6\", 20\", 60\" "
                    "taper, MeerKAT) of the training simulator and of a held-out generator never used in training, "
                    "the diffuse Dice, precision, recall, halo and relic pixels found and labelled radio galaxy, "
                    "radio-galaxy images called diffuse, per-cluster R accuracy, with bootstrap intervals over the "
                    "images; halos injected into real survey noise; real images. Writes DIR/benchmark.ecsv, "
                    "images.ecsv (one row per simulated image), injection.ecsv, real_skies.ecsv, benchmark.md, "
                    "benchmark.png and benchmark_real.png; DIR/parts/ keeps what is done, so that running the same "
                    "command again resumes an interrupted run.",
    )
    benchmark.add_argument("model", metavar="MODEL", help="shipped model name or model file")
    benchmark.add_argument("--quick", action="store_true",
                           help="small images, few of them (a first look, the tests); default: the figures of record")
    # radiounet.evaluate.benchmark.BENCHMARK_SETUPS written out: importing it would cost every command the simulator.
    benchmark.add_argument("--setups", nargs="*", metavar="PRESET",
                           default=["lotss-dr2-6", "lotss-dr2-20", "lotss-dr2-60", "meerkat-mgcls"],
                           help="the survey presets simulated (default: all four); alone, none of them, only the "
                                "survey of your own below")
    _add_survey_options(benchmark, "a survey of your own, simulated beside the presets when any of these is given: "
                                   "a preset with some of its values replaced, as dataset takes it")
    benchmark.add_argument("--out", help="output folder (default: benchmark/MODEL, and benchmark/RUN for a "
                                           "run's RUN/model.safetensors)")
    benchmark.add_argument("--real-data", metavar="DIR",
                           help="folder of labelled real images with labels.csv (e.g. ../shared/data/real); "
                                "without it the real halo and radio galaxies are reported absent")
    benchmark.add_argument("--noise-images", nargs="+", metavar="FITS",
                           help="real survey images without a cluster, for the injection test and as negatives "
                                "(default: the LoTSS-DR1 test image of a checkout)")
    benchmark.add_argument("--against", metavar="DIR",
                           help="also compare with the benchmark folder DIR of another model (same plan): each "
                                "figure's difference with a paired bootstrap interval, the real images side by "
                                "side; writes comparison.md, comparison.ecsv and comparison_real.ecsv")
    benchmark.add_argument("--ratio-threshold", type=float,
                           help="R threshold of the detections (default: the model's, else 0.015); e.g. the one "
                                "radio-unet calibrate finds for a model of your own training")
    benchmark.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: auto")
    benchmark.add_argument("--no-progress", action="store_true", help="no progress bars")
    benchmark.set_defaults(func=_cmd_benchmark)

    presets = commands.add_parser("presets", help="list the survey presets")
    presets.set_defaults(func=_cmd_presets)
    return parser


def main(argv=None):
    """Entry point of ``radio-unet``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # Recorded in the model card: the arguments actually parsed (not the caller's sys.argv when called from
    # Python), quoted so that the line runs again in a shell.
    args.command_line = shlex.join(["radio-unet", *(sys.argv[1:] if argv is None else argv)])
    restore_sigterm = _stop_on_sigterm()
    start_run()
    try:
        with _one_line_warnings():
            status = args.func(args)
        sys.stdout.flush()  # a reader gone: the BrokenPipeError here, not at exit
    except RadioUNetError as exc:
        print(f"radio-unet: error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        print("radio-unet: terminated; rerun the same command to resume", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("radio-unet: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError as exc:
        if not _stdout_is_a_pipe():
            print(f"radio-unet: error: {exc}", file=sys.stderr)
            return 2
        # The reader of standard output left (`radio-unet models | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    finally:
        restore_sigterm()
    return status or 0


@contextlib.contextmanager
def _one_line_warnings():
    """The package's warnings (:class:`~radiounet.errors.RadioUNetWarning`) printed as ``radio-unet: warning: ...``
    like the command line's own, not as Python's two lines naming a source file; other warnings as Python prints
    them."""
    with warnings.catch_warnings():
        python_way = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, RadioUNetWarning):
                from tqdm import tqdm

                tqdm.write(f"radio-unet: warning: {message}", file=sys.stderr)  # above a progress bar, not in it
            else:
                python_way(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


def _stdout_is_a_pipe():
    try:
        return stat.S_ISFIFO(os.fstat(sys.stdout.fileno()).st_mode)
    except (OSError, ValueError):
        return False


def _stop_on_sigterm():
    """Raise :class:`~radiounet.errors.Terminated` on SIGTERM; return the function that puts the previous handler
    back (nothing to do outside the main thread, where no handler can be set)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def terminate(signum, frame):
        raise Terminated

    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, terminate)
    return lambda: signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
