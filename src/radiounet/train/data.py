"""Training and validation datasets from a training configuration.

Synthetic data: training fields come from the run's seed (fresh fields every
epoch unless ``data.fresh_fields_each_epoch`` is false), validation fields
from another seed, so no field is on both sides. Shards: the fields are
split by field index, the last ``data.val_fraction`` of them for validation.
"""

import glob

import h5py
import numpy as np

from radiounet.data.datasets import SyntheticFieldDataset, TileShardDataset
from radiounet.errors import RadioUNetError
from radiounet.sky import FieldConfig, SkyConfig, custom_survey, get_survey

__all__ = ["build_datasets", "training_survey", "VALIDATION_SEED_OFFSET"]

VALIDATION_SEED_OFFSET = 1_000_003


def training_survey(data):
    """The survey of the ``[data]`` section: its preset, at ``pixels_per_beam`` pixels per beam FWHM if that is
    not 0 (the model's native sampling; a coarser one gives each tile a wider view of the sky)."""
    survey = get_survey(data["preset"])
    if not data["pixels_per_beam"]:
        return survey
    return custom_survey(survey.name, survey.beam.major, survey.beam.major / data["pixels_per_beam"], survey.rms,
                         survey.frequency, bmin=survey.beam.minor, bpa=survey.beam.pa)


def _field_config(data):
    sky = SkyConfig(fraction_diffuse=data["fraction_diffuse"],
                    fraction_radio_galaxies=data["fraction_radio_galaxies"],
                    radio_galaxies_mean=data["radio_galaxies_mean"], redshift=tuple(data["redshift"]))
    size = data["field_size"]
    return FieldConfig(training_survey(data), shape=(size, size), sky=sky,
                       mask_threshold=data["mask_threshold"], label_rule=data["label_rule"])


def _shard_paths(patterns):
    paths = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise RadioUNetError(f"{pattern}: no shard file matches")
        paths.extend(matches)
    return paths


def build_datasets(config):
    """Return ``(train_dataset, validation_dataset, survey_description)`` for a training config."""
    data, augment = config["data"], config["augment"]
    if data["source"] == "synthetic":
        field_config = _field_config(data)
        train = SyntheticFieldDataset(field_config, data["train_fields"], seed=data["seed"],
                                      tile_size=data["tile_size"], beam_jitter=tuple(augment["beam_jitter"]),
                                      pixel_scale_jitter=tuple(augment["pixel_scale_jitter"]),
                                      foreground_crop_fraction=data["foreground_crop_fraction"],
                                      foreground_field_size=data["foreground_field_size"])
        validation = SyntheticFieldDataset(field_config, data["val_fields"],
                                           seed=data["seed"] + VALIDATION_SEED_OFFSET, tile_size=data["tile_size"])
        return train, validation, field_config.survey
    paths = _shard_paths(data["shards"])
    fields = []
    for path in paths:
        try:
            with h5py.File(path, "r") as h5:
                fields.extend(np.unique(h5["field_index"][:]).tolist())
        except (OSError, KeyError) as exc:
            raise RadioUNetError(f"{path}: corrupt or not a tile shard ({exc})") from None
    fields = sorted(set(fields))
    n_val = max(1, int(round(len(fields) * data["val_fraction"])))
    if n_val >= len(fields):
        raise RadioUNetError(f"{len(fields)} fields in the shards: too few to split off {n_val} for validation")
    train = TileShardDataset(paths, fields=set(fields[:-n_val]))
    validation = TileShardDataset(paths, fields=set(fields[-n_val:]))
    return train, validation, training_survey(data)
