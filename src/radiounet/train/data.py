"""Training and validation datasets from a training configuration.

Synthetic data: training fields come from the run's seed (fresh fields every
epoch unless ``data.fresh_fields_each_epoch`` is false), validation fields
from another seed, so no field is on both sides. Shards: the fields are
split by field index, the last ``data.val_fraction`` of them for validation.
"""

import glob
from dataclasses import replace
from pathlib import Path

import astropy.units as u
import numpy as np

from radiounet.data.datasets import SyntheticFieldDataset, TileShardDataset
from radiounet.data.shards import read_shard_attributes
from radiounet.errors import MissingFileError, RadioUNetError
from radiounet.sky import FieldConfig, get_survey
from radiounet.sky.survey import custom_survey
from radiounet.train.config import RANDOMISED, sky_config, survey_distribution

__all__ = ["build_datasets", "shards_record", "training_survey", "VALIDATION_SEED_OFFSET"]

VALIDATION_SEED_OFFSET = 1_000_003


def training_survey(data):
    """The survey of the ``[data]`` section: its preset, at ``pixels_per_beam`` pixels per beam FWHM if that is
    not 0 (the model's native sampling; a coarser one gives each tile a wider view of the sky).

    For ``data.preset = "randomised"`` only the sampling is meant (each field draws its own survey): a 6"
    beam at ``pixels_per_beam``, LoTSS-DR2's noise and frequency.
    """
    randomised = data["preset"] == RANDOMISED
    survey = get_survey("lotss-dr2-6" if randomised else data["preset"])
    if not data["pixels_per_beam"]:
        return survey
    return replace(survey, name=RANDOMISED if randomised else survey.name,
                   pixel_scale=(survey.beam.major / data["pixels_per_beam"]).to(u.arcsec))


def _field_config(config):
    data = config["data"]
    size = data["field_size"]
    return FieldConfig(training_survey(data), shape=(size, size), sky=sky_config(config),
                       mask_threshold=data["mask_threshold"], label_rule=data["label_rule"])


def _shard_paths(patterns):
    paths = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if not matches:
            if not any(char in pattern for char in "*?["):
                raise MissingFileError(f"{pattern}: no such shard file")
            raise RadioUNetError(f"{pattern}: no shard file matches")
        paths.extend(matches)
    return paths


def shards_record(config):
    """What a model trained on ``config``'s shards learnt from, for its card: the files' names (not the folders of
    the machine it was trained on), their fields and the simulation settings and seed of the first
    (:mod:`radiounet.data.shards` writes them into every shard; training refuses shards of another sampling)."""
    paths = _shard_paths(config["data"]["shards"])
    first = read_shard_attributes(paths[0])
    n_fields = sum(int(read_shard_attributes(path)["n_fields"]) for path in paths)
    return {"files": [Path(path).name for path in paths], "n_fields": n_fields, "seed": int(first["seed"]),
            "simulation": first["config"], "radiounet_version": str(first.get("radiounet_version", ""))}


def build_datasets(config):
    """Return ``(train_dataset, validation_dataset, survey_description)`` for a training config."""
    data, augment = config["data"], config["augment"]
    if data["source"] == "synthetic":
        field_config = _field_config(config)
        drawn = dict(survey_distribution=survey_distribution(config),
                     native_beam_pixels=data["pixels_per_beam"]) if data["preset"] == RANDOMISED else {}
        train = SyntheticFieldDataset(field_config, data["train_fields"], seed=data["seed"],
                                      tile_size=data["tile_size"], beam_jitter=tuple(augment["beam_jitter"]),
                                      pixel_scale_jitter=tuple(augment["pixel_scale_jitter"]),
                                      foreground_crop_fraction=data["foreground_crop_fraction"],
                                      foreground_field_size=data["foreground_field_size"], **drawn)
        # Validation tiles like the training tiles (drawn surveys, foreground crops) but from other fields.
        validation = SyntheticFieldDataset(field_config, data["val_fields"],
                                           seed=data["seed"] + VALIDATION_SEED_OFFSET, tile_size=data["tile_size"],
                                           **(dict(drawn, foreground_crop_fraction=data["foreground_crop_fraction"],
                                                   foreground_field_size=data["foreground_field_size"])
                                              if drawn else {}))
        return train, validation, field_config.survey
    paths = _shard_paths(data["shards"])
    survey, fields = _read_shards(paths, data["tile_size"])
    n_val = max(1, int(round(len(fields) * data["val_fraction"])))
    if n_val >= len(fields):
        raise RadioUNetError(f"{len(fields)} fields in the shards: too few to split off {n_val} for validation")
    train = TileShardDataset(paths, fields=set(fields[:-n_val]))
    validation = TileShardDataset(paths, fields=set(fields[-n_val:]))
    return train, validation, survey


def _read_shards(paths, tile_size):
    """The survey the first shard was simulated for (the model card's sampling) and the sorted field indices of
    all, from the shards' attributes, checking that all share its beam and pixel size (their noise may differ)
    and that their tiles are ``tile_size`` pixels."""
    first, fields = None, set()
    for path in paths:
        attrs = read_shard_attributes(path)
        fields.update(range(attrs["first_field"], attrs["first_field"] + attrs["n_fields"]))
        if attrs["tile_size"] != tile_size:
            raise RadioUNetError(f"{path}: holds {attrs['tile_size']}-pixel tiles, not data.tile_size = {tile_size} "
                                 f"(set data.tile_size to the shards' size)")
        survey = attrs["config"]["survey"]
        sampling = [survey[key] for key in ("bmaj_arcsec", "bmin_arcsec", "bpa_deg", "pixel_arcsec")]
        if first is None:
            first = path, survey, sampling
        elif not np.allclose(sampling, first[2]):
            raise RadioUNetError(f"{path}: simulated with another beam or pixel size than {first[0]} "
                                 f"({survey['name']} against {first[1]['name']}); train on shards of one sampling")
    _, survey, _ = first
    return custom_survey(survey["name"], survey["bmaj_arcsec"] * u.arcsec, survey["pixel_arcsec"] * u.arcsec,
                         survey["rms_jy_per_beam"] * u.Jy / u.beam, survey["frequency_mhz"] * u.MHz,
                         bmin=survey["bmin_arcsec"] * u.arcsec, bpa=survey["bpa_deg"] * u.deg), sorted(fields)
