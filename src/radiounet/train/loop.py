"""The training loop: plain functions over a model, data loaders and an optimizer.

:func:`train` runs a whole training (or fine-tuning) into an output folder::

    OUT/config.json              the full configuration
    OUT/log.csv                  one row per epoch: losses, Dice, IoU, precision, recall, lr, tiles/s
    OUT/tensorboard/             the same as TensorBoard scalars
    OUT/checkpoints/last.*       model, optimizer and state after the last finished epoch
    OUT/model.safetensors        the best model so far (highest validation Dice), with its model card; with
                                 training.ema_decay, the moving average of the weights
    OUT/epochs/epoch_NNN.safetensors
                                 with training.keep_every = N, the same after every Nth epoch: to choose an
                                 epoch afterwards on skies the validation did not draw (radio-unet benchmark)

Rerunning the same command resumes from the last checkpoint.
"""

import csv
import io
import json
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from radiounet import __version__
from radiounet._allocator import freed_memory_retained
from radiounet.data.normalize import normalize
from radiounet.errors import RadioUNetError
from radiounet.io.atomic import atomic_path, ensure_writable_directory
from radiounet.models.outputs import called_diffuse, diffuse_probability
from radiounet.models.store import (is_gated, load_model, load_weights, read_model_card, require_one_network,
                                    resolve_model_path, save_model)
from radiounet.models.summary import count_parameters
from radiounet.models.unet import UNet, UNetConfig
from radiounet.sky.labels import CLASS_NAMES
from radiounet.train.augment import correlated_noise, log_uniform_factors, random_dihedral
from radiounet.train.checkpoint import checkpoint_exists, load_checkpoint, save_checkpoint
from radiounet.train.config import config_over_defaults
from radiounet.train.distributed import all_reduce_sum, setup_distributed, teardown_distributed
from radiounet.train.losses import class_segmentation_loss, distillation_loss, segmentation_loss
from radiounet.train.metrics import ConfusionCounts, PixelCounts

__all__ = ["TrainResult", "train", "prepare_batch", "epoch_model_path"]

LOG_COLUMNS = ("epoch", "train_loss", "val_loss", "dice", "iou", "precision", "recall", "empty_tile_positive_fraction",
               "learning_rate", "seconds", "train_tiles_per_second")


@dataclass
class TrainResult:
    """Where the model went and how it scored."""

    model_path: Path
    best_epoch: int
    kept_epoch: int
    best_metrics: dict
    epochs_run: int
    stopped_early: bool


def prepare_batch(batch, device, augment=None, generator=None, beam_fwhm_pixels=4.0):
    """Normalised inputs, float targets and class labels of a batch.

    Augmented when ``augment`` (the config section) is given; the labels
    (``(batch, 1, H, W)``, int64) follow the same flips and rotations.
    ``beam_fwhm_pixels`` sets the scale of ``augment.correlated_noise``.
    """
    image = batch["image"].to(device, non_blocking=True)
    mask = batch["mask"].to(device, non_blocking=True)
    labels = batch["labels"].to(device, non_blocking=True)[:, None]
    rms = torch.as_tensor(batch["rms"], dtype=torch.float32).to(device).view(-1, 1, 1, 1)
    if augment is not None:
        n = image.shape[0]
        low, high = augment["correlated_noise"]
        if high > 0:
            # Added noise: the image's noise grows to rms * sqrt(1 + fraction), as its measured rms would.
            fraction = (low + (high - low) * torch.rand(n, generator=generator)).to(device).view(-1, 1, 1, 1)
            sigma = log_uniform_factors(n, *augment["correlated_noise_scale"], generator) * beam_fwhm_pixels
            image = image + fraction.sqrt() * rms * correlated_noise(image.shape, sigma, generator, device)
            rms = rms * (1 + fraction).sqrt()
        # Both act on image / rms: noise_jitter as an error of the noise estimate, flux_jitter as
        # an error of the flux scale.
        noise = log_uniform_factors(n, *augment["noise_jitter"], generator).to(device).view(-1, 1, 1, 1)
        flux = log_uniform_factors(n, *augment["flux_jitter"], generator).to(device).view(-1, 1, 1, 1)
        image = image * flux
        rms = rms * noise * flux
        if augment["dihedral"]:
            image, mask, labels = random_dihedral([image, mask, labels], generator)
    return normalize(image, rms), mask, labels


def _pixel_weight(labels, training, classes=False):
    """Loss weight per pixel: ``radio_galaxy_weight`` on radio-galaxy pixels, 1 elsewhere (None when all 1).

    For a class model the diffuse pixels also get ``pos_weight`` (a binary
    model has it in the BCE instead), and relic pixels ``pos_weight x
    relic_weight``: relics are rarer and thinner than halos.
    """
    diffuse_weight = training["pos_weight"] if classes else 1.0
    relic_weight = diffuse_weight * training["relic_weight"] if classes else 1.0
    if training["radio_galaxy_weight"] == 1.0 and diffuse_weight == 1.0 and relic_weight == 1.0:
        return None
    weight = torch.ones(labels.shape, dtype=torch.float32, device=labels.device)
    weight[labels == CLASS_NAMES.index("radio_galaxy")] = training["radio_galaxy_weight"]
    weight[labels == CLASS_NAMES.index("halo")] = diffuse_weight
    weight[labels == CLASS_NAMES.index("relic")] = relic_weight
    return weight


def _class_head_from_binary(model, path):
    """Start a class head where the binary model is: P(halo) + P(relic) = its sigmoid.

    With binary logit ``z``: background, radio galaxy and compact 0 (they share the rest equally until
    trained apart), halo and relic ``z - ln 2 + ln 3``, so that softmax(halo) + softmax(relic) =
    sigmoid(z). A random head would make the first epochs relearn what the binary model knows.
    """
    from safetensors.torch import load_file

    binary = load_file(str(path))
    weight, bias = binary["head.weight"], binary["head.bias"]
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
        for name in ("halo", "relic"):
            k = CLASS_NAMES.index(name)
            model.head.weight[k] = weight[0]
            model.head.bias[k] = bias[0] - math.log(2.0) + math.log(len(CLASS_NAMES) - 2)


def _loss(logits, target, labels, training):
    if logits.shape[1] == 1:
        return segmentation_loss(logits, target, training["bce_weight"], training["dice_weight"],
                                 training["pos_weight"], _pixel_weight(labels, training))
    return class_segmentation_loss(logits, labels, target, training["bce_weight"], training["dice_weight"],
                                   _pixel_weight(labels, training, classes=True))


def _teacher(name, out_channels, device):
    """The class network whose probabilities the trained one also learns (training.teacher_model), or None."""
    if not name:
        return None
    if out_channels == 1:
        raise RadioUNetError(f"training.teacher_model = {name!r}: a binary network (model.out_channels = 1) learns "
                             "from no teacher; a class network does")
    teacher, card = load_model(name, device)
    if is_gated(card["architecture"]) or card["architecture"]["out_channels"] != out_channels:
        raise RadioUNetError(f"{resolve_model_path(name)}: a teacher must be a class model of one network with the "
                             f"{out_channels} outputs of the trained one")
    return teacher


def _lr_lambda(epochs, warmup, steps_per_epoch, schedule):
    total = max(epochs * steps_per_epoch, 1)
    warm = warmup * steps_per_epoch

    def factor(step):
        if step < warm:
            return (step + 1) / warm
        if schedule == "constant":
            return 1.0
        progress = min((step - warm) / max(total - warm, 1), 1.0)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def moving_average(decay):
    """The update of an exponential moving average of weights, for ``AveragedModel(multi_avg_fn=...)``.

    With ``n`` steps averaged so far (the first one is copied), the next moves the average towards the
    network by ``1 - d`` with ``d = min(decay, (1 + n) / (10 + n))``, as TensorFlow's
    ``ExponentialMovingAverage`` does with its ``num_updates``: the first steps' weights, often far from
    trained, do not linger in the average.
    """
    def update(averaged, current, n_averaged):
        steps = float(n_averaged)
        get_ema_multi_avg_fn(min(decay, (1 + steps) / (10 + steps)))(averaged, current, n_averaged)

    return update


def _loader(dataset, batch_size, shuffle, context, workers, seed):
    sampler = DistributedSampler(dataset, num_replicas=context.world_size, rank=context.rank, shuffle=shuffle,
                                 seed=seed) if context.distributed else None
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      num_workers=workers, persistent_workers=False, drop_last=False, generator=generator,
                      pin_memory=context.device.type == "cuda")


def _evaluate(model, loader, context, training, progress):
    model.eval()
    counts = PixelCounts()
    classes = ConfusionCounts(len(CLASS_NAMES)) if model.head.out_channels > 1 else None
    # loss sum, tiles, positive pixels and all pixels in tiles without emission
    sums = torch.zeros(4, dtype=torch.float64)
    with torch.no_grad():
        for batch in tqdm(loader, desc="validate", leave=False, disable=not progress, unit="batch"):
            inputs, target, labels = prepare_batch(batch, context.device)
            logits = model(inputs)
            loss = _loss(logits, target, labels, training)
            predicted = called_diffuse(diffuse_probability(logits), training["threshold"])
            counts.update(predicted.cpu(), target.cpu() > 0.5)
            if classes is not None:
                classes.update(logits.argmax(1).cpu(), labels[:, 0].cpu())
            no_emission = target.flatten(1).amax(1) == 0
            sums += torch.tensor([float(loss) * len(target), len(target), float(predicted[no_emission].sum()),
                                  predicted[no_emission].numel()], dtype=torch.float64)
    counts.all_reduce()
    sums = all_reduce_sum(sums)
    metrics = counts.metrics()
    metrics["positive_pixels"] = int(counts.counts[0] + counts.counts[2])  # true diffuse pixels validated on
    metrics["empty_tile_positive_fraction"] = float(sums[2] / sums[3]) if sums[3] else 0.0
    metrics["val_loss"] = float(sums[0] / max(sums[1], 1))
    if classes is not None:
        classes.all_reduce()
        metrics["class_dice"] = dict(zip(CLASS_NAMES, classes.dice()))
    return metrics


def _model_card(config, survey, metrics, epoch, seconds, command, extra):
    bmaj = float(survey.beam.major.to_value("arcsec"))
    if config["model"]["out_channels"] > 1:
        task = dict(task="segmentation into classes " + ", ".join(CLASS_NAMES), classes=list(CLASS_NAMES),
                    output="class probabilities = softmax(logits); diffuse emission = halo + relic")
    else:
        task = dict(task="binary segmentation of diffuse radio emission (halo + relic)",
                    output="probability of diffuse emission = sigmoid(logit)")
    return dict(
        radiounet_version=__version__,
        **task,
        normalization="asinh(image / rms), rms = robust noise of the image in Jy/beam; NaN -> 0",
        threshold=config["training"]["threshold"],
        tile_size=config["data"]["tile_size"],
        native_sampling=dict(beam_fwhm_pixels=survey.beam_fwhm_pixels, survey=survey.name,
                             bmaj_arcsec=bmaj, pixel_arcsec=survey.pixel_arcsec),
        training=dict(config=config, command=command, epoch=epoch, keep=config["training"]["keep"],
                      seconds=round(seconds, 1),
                      hardware=_hardware(), torch_version=torch.__version__),
        validation=metrics,
        **extra,
    )


def _hardware():
    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def _run_config(path):
    """The configuration a run folder's checkpoint was trained with, as :func:`_train` writes it; a run started by
    an older version lacks the keys added since: they take their defaults."""
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise RadioUNetError(f"{path.parent} holds a checkpoint but not its config.json, so it cannot be told to be "
                             "this run; choose another --out or delete it") from None
    except (OSError, ValueError) as exc:
        raise RadioUNetError(f"{path}: not a readable run configuration ({exc})") from None
    return config_over_defaults(config, str(path))


def _config_differences(before, now, shown=3):
    """``"section.key: BEFORE in the run, NOW here"`` for the first ``shown`` values that differ, and how many more."""
    keys = sorted({(section, key) for config in (before, now) for section in config for key in config[section]})
    differ = [f"{section}.{key}: {json.dumps(before.get(section, {}).get(key))} in the run, "
              f"{json.dumps(now.get(section, {}).get(key))} here"
              for section, key in keys if before.get(section, {}).get(key) != now.get(section, {}).get(key)]
    return "; ".join(differ[:shown]) + (f"; {len(differ) - shown} more" if len(differ) > shown else "")


def _changed_inputs(path, inputs):
    """The keys of ``inputs`` that differ from those the run in ``path``'s folder was started with (none for a run
    started by a version that did not record them)."""
    if not path.exists():
        return []
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RadioUNetError(f"{path}: not a readable record of the run's inputs ({exc})") from None
    if not isinstance(recorded, dict):
        raise RadioUNetError(f"{path}: not a readable record of the run's inputs (not a JSON object)")
    return sorted(key for key in set(recorded) | set(inputs) if recorded.get(key) != inputs.get(key))


def _append_log(path, row):
    """Add ``row`` to the log, dropping the rows of its epoch and later ones: those of a run stopped after
    logging an epoch but before its checkpoint, or of a run started again, which this one replaces."""
    earlier = []
    if path.exists():
        with open(path, newline="") as handle:
            earlier = [r for r in csv.DictReader(handle)
                       if (r.get("epoch") or "").isdigit() and int(r["epoch"]) < row["epoch"]]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOG_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(earlier + [{k: row[k] for k in LOG_COLUMNS}])
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue())


def train(config, out_dir, *, datasets, survey, init_model=None, freeze_levels=None, progress=True, command=None,
          card_extra=None, inputs=None):
    """Train a U-Net as configured into ``out_dir``; resume if a checkpoint of the same run is there.

    Parameters
    ----------
    config : dict
        Full training configuration (see :func:`radiounet.train.config.load_config`).
    out_dir : str or Path
    datasets : tuple
        ``(train_dataset, validation_dataset)`` (see :func:`radiounet.train.data.build_datasets`).
    survey : radiounet.sky.Survey
        The survey the training data represent (the model's native sampling).
    init_model : str or Path, optional
        Start from these weights (fine-tuning).
    freeze_levels : int, optional
        Freeze the first N encoder levels (-1: the whole encoder and bottleneck).
    progress : bool
    command : str, optional
        The command line, recorded in the model card.
    card_extra : dict, optional
        More entries for the model card.
    inputs : dict, optional
        What the datasets were made from beyond ``config`` (fine-tuning's files), JSON-able: recorded in
        ``OUT/inputs.json``; a stopped run resumes only with the same.

    Returns
    -------
    TrainResult
    """
    context = setup_distributed(config["training"]["device"])
    try:
        # Every batch allocates and frees the same activations: reused warm, not mapped afresh.
        with freed_memory_retained():
            return _train(config, Path(out_dir), datasets, survey, init_model, freeze_levels,
                          progress and context.is_main, command or " ".join(sys.argv), card_extra or {}, context,
                          inputs or {})
    finally:
        teardown_distributed()


def _train(config, out_dir, datasets, survey, init_model, freeze_levels, progress, command, card_extra, context,
           inputs):
    training = config["training"]
    if context.is_main:
        ensure_writable_directory(out_dir)
    config_path = out_dir / "config.json"
    config_text = json.dumps(config, indent=2, sort_keys=True)
    inputs_path, inputs_text = out_dir / "inputs.json", json.dumps(inputs, indent=2, sort_keys=True)
    if checkpoint_exists(out_dir):
        run_config = _run_config(config_path)
        if json.dumps(run_config, indent=2, sort_keys=True) != config_text:
            raise RadioUNetError(f"{out_dir} holds a training run with another configuration "
                                 f"({_config_differences(run_config, json.loads(config_text))}); choose another --out "
                                 "or delete it (to train a model further, start a run from it: training.init_model)")
        changed = _changed_inputs(inputs_path, inputs)
        if changed:
            raise RadioUNetError(f"{out_dir} holds a run started on other inputs ({', '.join(changed)} differ); "
                                 "choose another --out or delete it")
    torch.manual_seed(training["seed"])
    model = UNet(UNetConfig(**config["model"]))
    if init_model is not None:
        path = resolve_model_path(init_model)
        init_card = read_model_card(path)
        gated = is_gated(init_card["architecture"])
        source = init_card["architecture"]["classes"] if gated else init_card["architecture"]
        # One reading a filtered copy beside the image shares the first weights between the two.
        add_filter = bool(config["model"]["compact_filter_box"]) and not source.get("compact_filter_box")
        if gated and config["model"]["out_channels"] > 1:
            # A class model starts from the class network of a gated model (its gate is left behind).
            load_weights(model, path, prefix="classes.", add_filter=add_filter)
        else:
            require_one_network(init_card, path)
            from_binary = init_card["architecture"]["out_channels"] == 1 < config["model"]["out_channels"]
            # A deeper network starts from a shallower one: its new lowest levels see wider context.
            extra_levels = max(0, config["model"]["depth"] - init_card["architecture"]["depth"])
            # A wider network starts computing what the narrower one did (see widen_state).
            widen = config["model"]["width"] > init_card["architecture"]["width"]
            load_weights(model, path, except_head=from_binary, extra_levels=extra_levels, widen=widen,
                         add_filter=add_filter)
            if from_binary:
                _class_head_from_binary(model, path)
    teacher = _teacher(training["teacher_model"], config["model"]["out_channels"], context.device)
    if freeze_levels:
        levels = None if freeze_levels < 0 else freeze_levels
        for parameter in model.encoder_parameters(levels):
            parameter.requires_grad_(False)
    model.to(context.device)
    train_set, val_set = datasets
    train_loader = _loader(train_set, training["batch_size"], True, context, training["workers"], training["seed"])
    val_loader = _loader(val_set, training["batch_size"], False, context, training["workers"], training["seed"])
    # The output head may learn faster than the rest (a new class head on a trained network).
    head = [p for p in model.head.parameters() if p.requires_grad]
    body = [p for name, p in model.named_parameters() if p.requires_grad and not name.startswith("head.")]
    optimizer = torch.optim.AdamW(
        [dict(params=body), dict(params=head, lr=training["learning_rate"] * training["head_learning_rate_factor"])],
        lr=training["learning_rate"], weight_decay=training["weight_decay"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(training["epochs"], training["warmup_epochs"], len(train_loader), training["schedule"]))
    state = dict(epoch=-1, best_dice=-1.0, best_epoch=-1, best_metrics={}, stale_epochs=0, seconds=0.0)
    # The weights validated and kept: the network's own, or their exponential moving average over the steps.
    average = None
    if training["ema_decay"] > 0:
        average = AveragedModel(model, multi_avg_fn=moving_average(training["ema_decay"]), use_buffers=True)
    kept = model if average is None else average.module
    if context.is_main:
        print(f"train: {len(train_loader.dataset)} training and {len(val_loader.dataset)} validation tiles per epoch, "
              f"{training['epochs']} epochs, on {context.device}", file=sys.stderr)
    if checkpoint_exists(out_dir):
        state = load_checkpoint(out_dir, model, optimizer, scheduler, context.device, average)
        if context.is_main:
            print(f"resuming {out_dir} after epoch {state['epoch'] + 1}", file=sys.stderr)
    elif context.is_main:
        with atomic_path(config_path) as tmp:
            tmp.write_text(config_text)
        with atomic_path(inputs_path) as tmp:
            tmp.write_text(inputs_text)
    network = DistributedDataParallel(model) if context.distributed else model
    use_amp = training["amp"] and context.device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    generator = torch.Generator().manual_seed(training["seed"] * 1000 + context.rank)
    writer = _tensorboard(out_dir, training) if context.is_main else None
    stopped_early = warned_no_positives = False
    start_epoch = state["epoch"] + 1
    for epoch in range(start_epoch, training["epochs"]):
        # Every random stream restarts from (seed, epoch), so a resumed run repeats an uninterrupted one.
        epoch_seed = training["seed"] * 100_003 + epoch * 1000
        generator.manual_seed(epoch_seed + context.rank)
        train_loader.generator.manual_seed(epoch_seed)
        torch.manual_seed(epoch_seed + 1 + context.rank)
        if hasattr(train_set, "set_epoch") and config["data"]["fresh_fields_each_epoch"]:
            train_set.set_epoch(epoch)
        if isinstance(train_loader.sampler, DistributedSampler):
            train_loader.sampler.set_epoch(epoch)
        started = time.perf_counter()
        network.train()
        loss_sum, tiles = 0.0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{training['epochs']}", disable=not progress, unit="batch")
        for batch in bar:
            inputs, target, labels = prepare_batch(batch, context.device, config["augment"], generator,
                                                   survey.beam_fwhm_pixels)
            with torch.autocast(context.device.type, dtype=torch.float16, enabled=use_amp):
                logits = network(inputs)
                if teacher is not None:
                    with torch.no_grad():
                        teacher_logits = teacher(inputs)
            loss = _loss(logits.float(), target, labels, training)
            if teacher is not None:
                share = training["teacher_weight"]
                loss = (1 - share) * loss + share * distillation_loss(logits.float(), teacher_logits.float())
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            if average is not None:
                average.update_parameters(model)
            loss_sum += float(loss.detach()) * len(target)
            tiles += len(target)
            bar.set_postfix(loss=f"{loss_sum / tiles:.4f}",
                            tiles_per_s=f"{tiles * context.world_size / (time.perf_counter() - started):.1f}")
        train_seconds = time.perf_counter() - started
        metrics = _evaluate(kept, val_loader, context, training, progress)
        seconds = time.perf_counter() - started
        state["seconds"] += seconds
        row = dict(epoch=epoch + 1, train_loss=loss_sum / max(tiles, 1), val_loss=metrics["val_loss"],
                   dice=metrics["dice"], iou=metrics["iou"], precision=metrics["precision"],
                   recall=metrics["recall"], empty_tile_positive_fraction=metrics["empty_tile_positive_fraction"],
                   learning_rate=scheduler.get_last_lr()[0], seconds=round(seconds, 2),
                   train_tiles_per_second=round(tiles * context.world_size / train_seconds, 2))
        if metrics["positive_pixels"] == 0 and context.is_main and not warned_no_positives:
            warned_no_positives = True
            print("train: warning: the validation tiles hold no diffuse pixel, so the validation Dice is 0 whatever "
                  "the model and the kept epoch says nothing; validate on more fields (train: data.val_fields, "
                  "data.val_fraction, more shards; finetune: --val-images and --val-masks with diffuse emission)",
                  file=sys.stderr)
        improved = metrics["dice"] > state["best_dice"]
        state.update(epoch=epoch, stale_epochs=0 if improved else state["stale_epochs"] + 1)
        if improved:
            state.update(best_dice=metrics["dice"], best_epoch=epoch + 1, best_metrics=metrics)
        if context.is_main:
            _append_log(out_dir / "log.csv", row)
            if writer is not None:
                for key, value in row.items():
                    if key != "epoch":
                        writer.add_scalar(key, value, epoch + 1)
                writer.flush()
            kept_every = training["keep_every"] and (epoch + 1) % training["keep_every"] == 0
            if improved or training["keep"] == "last" or kept_every:
                card = _model_card(config, survey, metrics, epoch + 1, state["seconds"], command, card_extra)
                card["parameters"] = count_parameters(model)
            if improved or training["keep"] == "last":
                save_model(out_dir / "model.safetensors", kept, card)
            if kept_every:
                epoch_model_path(out_dir, epoch + 1).parent.mkdir(exist_ok=True)
                save_model(epoch_model_path(out_dir, epoch + 1), kept, card)
            save_checkpoint(out_dir, model, optimizer, scheduler, state, average)
            print(f"epoch {epoch + 1}: train loss {row['train_loss']:.4f}, val loss {row['val_loss']:.4f}, "
                  f"Dice {row['dice']:.3f}, IoU {row['iou']:.3f}, precision {row['precision']:.3f}, "
                  f"recall {row['recall']:.3f}, {row['train_tiles_per_second']:.1f} tiles/s"
                  + "".join(f", {name} Dice {value:.3f}" for name, value in metrics.get("class_dice", {}).items()),
                  file=sys.stderr)
        if state["stale_epochs"] >= training["early_stopping_patience"]:
            stopped_early = True
            break
    if writer is not None:
        writer.close()
    kept_epoch = state["epoch"] + 1 if training["keep"] == "last" else state["best_epoch"]
    return TrainResult(model_path=out_dir / "model.safetensors", best_epoch=state["best_epoch"], kept_epoch=kept_epoch,
                       best_metrics=state["best_metrics"], epochs_run=state["epoch"] + 1, stopped_early=stopped_early)


def epoch_model_path(out_dir, epoch):
    """Where a run keeps the model of epoch ``epoch`` (counted from 1) with ``training.keep_every``."""
    return Path(out_dir) / "epochs" / f"epoch_{epoch:03d}.safetensors"


def _tensorboard(out_dir, training):
    if not training["tensorboard"]:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(out_dir / "tensorboard"))
