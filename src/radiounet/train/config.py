"""Training configuration: a TOML file, validated, with command-line overrides.

Every key has a default (see :data:`DEFAULTS` and ``configs/`` in the
repository); a file only needs what it changes. Unknown keys are errors, so
a typo never goes unnoticed.
"""

import copy
import dataclasses
import math
import sys
from pathlib import Path

from radiounet.errors import InvalidParameterError, MissingFileError, RadioUNetError
from radiounet.models.unet import UNetConfig
from radiounet.sky.field import SkyConfig
from radiounet.sky.labels import CLASS_NAMES, LABEL_RULES
from radiounet.sky.survey import PRESETS
from radiounet.sky.survey_distribution import SurveyDistribution

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["DEFAULTS", "RANDOMISED", "load_config", "config_over_defaults", "apply_overrides", "validate_config",
           "sky_config", "survey_distribution"]

#: ``data.preset`` of a training sky whose survey is drawn per field from the ``[survey]`` section.
RANDOMISED = "randomised"
# Sky parameters set in [data] (older configs) or not meant for configs.
_SKY_KEYS_ELSEWHERE = ("fraction_diffuse", "fraction_radio_galaxies", "radio_galaxies_mean", "redshift",
                       "compact_reference_flux")


def _section_defaults(instance, skip=()):
    return {f.name: list(getattr(instance, f.name)) if isinstance(getattr(instance, f.name), tuple)
            else getattr(instance, f.name)
            for f in dataclasses.fields(instance) if f.name not in skip}


DEFAULTS = {
    "model": {"depth": 4, "width": 16, "norm": "batch", "dropout": 0.1, "out_channels": 1, "compact_filter_box": 0},
    "data": {
        "source": "synthetic",
        "preset": "lotss-dr2-6",
        "pixels_per_beam": 0.0,
        "field_size": 384,
        "tile_size": 192,
        "foreground_crop_fraction": 0.0,
        "foreground_field_size": 0,
        "train_fields": 1024,
        "val_fields": 128,
        "fresh_fields_each_epoch": True,
        "seed": 1,
        "fraction_diffuse": 0.6,
        "fraction_radio_galaxies": 0.3,
        "radio_galaxies_mean": 1.0,
        "redshift": [0.05, 0.6],
        "mask_threshold": 0.5,
        "label_rule": "mask",
        "shards": [],
        "val_fraction": 0.1,
    },
    "augment": {
        "dihedral": True,
        "noise_jitter": [0.9, 1.1],
        "flux_jitter": [0.3, 3.0],
        "beam_jitter": [0.85, 1.2],
        "pixel_scale_jitter": [0.9, 1.1],
        "correlated_noise": [0.0, 0.0],
        "correlated_noise_scale": [1.0, 2.5],
    },
    # The sky's distributions (radiounet.sky.SkyConfig); the defaults are the simulator's.
    "sky": _section_defaults(SkyConfig(), _SKY_KEYS_ELSEWHERE),
    # The survey drawn per field when data.preset = "randomised" (radiounet.sky.survey_distribution).
    "survey": _section_defaults(SurveyDistribution()),
    "training": {
        "epochs": 20,
        "batch_size": 8,
        "learning_rate": 2e-3,
        "head_learning_rate_factor": 1.0,
        "weight_decay": 1e-4,
        "schedule": "cosine",
        "warmup_epochs": 1,
        "bce_weight": 1.0,
        "dice_weight": 1.0,
        "pos_weight": 2.0,
        "radio_galaxy_weight": 1.0,
        "relic_weight": 1.0,
        "amp": True,
        "workers": 2,
        "early_stopping_patience": 6,
        "keep": "best",
        "keep_every": 0,
        "threshold": 0.5,
        "device": "auto",
        "seed": 0,
        "tensorboard": True,
        "init_model": "",
        "teacher_model": "",
        "teacher_weight": 0.5,
        "ema_decay": 0.0,
    },
}

_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", list: "a list", bool: "true or false"}

_CHOICES = {
    ("data", "source"): ("synthetic", "shards"),
    ("data", "label_rule"): LABEL_RULES,
    ("training", "schedule"): ("cosine", "constant"),
    ("training", "device"): ("auto", "cpu", "cuda"),
    ("training", "keep"): ("best", "last"),
}


def load_config(path=None, overrides=()):
    """Read a TOML config over the defaults, apply ``key.sub=value`` overrides, validate.

    Parameters
    ----------
    path : str or Path, optional
        TOML file; the defaults alone when None.
    overrides : sequence of str
        ``section.key=value`` with a TOML value (``training.epochs=3``,
        ``data.redshift=[0.1, 0.3]``, ``model.norm="group"`` or ``model.norm=group``).

    Returns
    -------
    dict
        The full configuration.

    Raises
    ------
    RadioUNetError
        Unreadable file, bad TOML, unknown or mistyped keys (naming the file and key).
    """
    config = copy.deepcopy(DEFAULTS)
    source = "defaults"
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            user = tomllib.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise RadioUNetError(f"{path}: not a UTF-8 text file (a TOML config is expected)") from None
        except FileNotFoundError:
            raise MissingFileError(f"{path}: no such file (a TOML training configuration)") from None
        except OSError as exc:
            raise RadioUNetError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise RadioUNetError(f"{path}: not valid TOML ({exc})") from None
        _merge(config, user, source)
    validate_config(config, source, apply_overrides(config, overrides))
    return config


def config_over_defaults(config, source):
    """A full configuration from a partial one, e.g. the one stored in the card of a model trained by an
    older version (keys added since take their defaults)."""
    full = copy.deepcopy(DEFAULTS)
    _merge(full, config, source)
    return full


def _merge(config, user, source):
    if not isinstance(user, dict):
        raise RadioUNetError(f"{source}: not a table of sections ([model], [data], ...)")
    for section, values in user.items():
        if section not in DEFAULTS:
            raise RadioUNetError(f"{source}: unknown section [{section}]; known: {', '.join(DEFAULTS)}")
        if not isinstance(values, dict):
            raise RadioUNetError(f"{source}: [{section}] must be a table")
        for key, value in values.items():
            _set(config, section, key, value, source)


def _set(config, section, key, value, source):
    if key not in DEFAULTS[section]:
        raise RadioUNetError(f"{source}: unknown key {section}.{key}; known: {', '.join(DEFAULTS[section])}")
    default = DEFAULTS[section][key]
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(default) is not type(value) and not (isinstance(default, list) and isinstance(value, list)):
        raise RadioUNetError(f"{source}: {section}.{key} must be {_TYPE_WORDS[type(default)]}, not {value!r}")
    config[section][key] = value


def apply_overrides(config, overrides):
    """Apply ``section.key=value`` strings to ``config`` in place; return the ``(section, key)`` pairs set."""
    overridden = set()
    for item in overrides:
        name, sep, text = item.partition("=")
        section, dot, key = name.strip().partition(".")
        if not sep or not dot:
            raise RadioUNetError(f"--set {item!r} must look like section.key=value")
        if section not in DEFAULTS:
            raise RadioUNetError(f"--set {item!r}: unknown section {section!r}; known: {', '.join(DEFAULTS)}")
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text  # a bare word is a string
        _set(config, section, key, value, "--set")
        overridden.add((section, key))
    return overridden


def sky_config(config):
    """The :class:`radiounet.sky.SkyConfig` of a full training configuration."""
    data = config["data"]
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in config["sky"].items()}
    return SkyConfig(fraction_diffuse=data["fraction_diffuse"], fraction_radio_galaxies=data["fraction_radio_galaxies"],
                     radio_galaxies_mean=data["radio_galaxies_mean"], redshift=tuple(data["redshift"]), **values)


def survey_distribution(config):
    """The :class:`radiounet.sky.survey_distribution.SurveyDistribution` of a configuration's ``[survey]``."""
    return SurveyDistribution(**{k: tuple(v) if isinstance(v, list) else v for k, v in config["survey"].items()})


def _like(value, default):
    """Whether a list value has the form of its default: a range of finite numbers, or a list of names."""
    if not default:
        return all(isinstance(v, str) for v in value)
    if all(isinstance(d, str) for d in default):
        return bool(value) and all(isinstance(v, str) for v in value)
    return len(value) == len(default) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                              and math.isfinite(v) for v in value)


def validate_config(config, source="config", overridden=()):
    """Check values that have a type but also a range.

    An error names ``source`` (the config file), or ``--set`` for a key in
    ``overridden`` (the ``(section, key)`` pairs that :func:`apply_overrides` set).
    """
    def fail(section, key, text):
        origin = "--set" if (section, key) in overridden else source
        raise RadioUNetError(f"{origin}: {section}.{key} {text}")

    for section, values in config.items():
        for key, value in values.items():
            default = DEFAULTS[section][key]
            if isinstance(default, list) and not _like(value, default):
                form = f"like {default}" if default else "a list of strings"
                fail(section, key, f"must be {form}, not {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                fail(section, key, f"must be a finite number, not {value!r}")
    for name, build in (("sky", sky_config), ("survey", survey_distribution)):
        try:
            build(config)
        except InvalidParameterError as exc:
            section = "data" if name == "sky" and exc.name in _SKY_KEYS_ELSEWHERE else name
            fail(section, exc.name, f"= {exc.value}: {exc.reason}")
    try:
        UNetConfig(**config["model"])
    except InvalidParameterError as exc:
        fail("model", exc.name.removeprefix("model."), f"= {exc.value!r}: {exc.reason}")
    for (section, key), choices in _CHOICES.items():
        if config[section][key] not in choices:
            fail(section, key, f"must be one of {', '.join(choices)}, not {config[section][key]!r}")
    for section, key in (("training", "epochs"), ("training", "batch_size"), ("training", "early_stopping_patience"),
                         ("data", "tile_size"), ("data", "field_size"), ("data", "train_fields"),
                         ("data", "val_fields")):
        if config[section][key] < 1:
            fail(section, key, "must be positive")
    for key in ("workers", "warmup_epochs", "weight_decay", "bce_weight", "dice_weight", "keep_every"):
        if config["training"][key] < 0:
            fail("training", key, f"must be at least 0, not {config['training'][key]!r}")
    training = config["training"]
    if training["bce_weight"] == training["dice_weight"] == 0:
        fail("training", "dice_weight", "and training.bce_weight must not both be 0 (nothing left to learn)")
    for key in ("learning_rate", "head_learning_rate_factor", "pos_weight", "radio_galaxy_weight", "relic_weight"):
        if training[key] <= 0:
            fail("training", key, f"must be positive, not {training[key]!r}")
    data = config["data"]
    if data["source"] == "synthetic" and data["tile_size"] > data["field_size"]:
        fail("data", "tile_size", "must not exceed data.field_size")
    if data["source"] == "synthetic" and data["preset"] != RANDOMISED and data["preset"] not in PRESETS:
        fail("data", "preset", f"must be '{RANDOMISED}' or a survey preset ({', '.join(sorted(PRESETS))}), not "
             f"{data['preset']!r}; for another survey, train on tiles of radio-unet dataset (data.source = "
             "'shards')")
    if not 0 <= data["foreground_crop_fraction"] <= 1:
        fail("data", "foreground_crop_fraction", "must be between 0 and 1")
    if data["foreground_field_size"] and not (data["foreground_crop_fraction"]
                                              and data["foreground_field_size"] >= data["tile_size"]):
        fail("data", "foreground_field_size", "needs data.foreground_crop_fraction > 0 and must be at least "
             "data.tile_size (0: the foreground crops come from data.field_size)")
    if not 0 < data["val_fraction"] < 1:
        fail("data", "val_fraction", "must be between 0 and 1")
    if data["mask_threshold"] <= 0:
        fail("data", "mask_threshold", "must be positive (times the survey rms)")
    if data["source"] == "shards" and data["foreground_crop_fraction"]:
        fail("data", "foreground_crop_fraction", "applies to synthetic fields only (shards hold tiles already cut)")
    if data["source"] == "shards" and data["label_rule"] != "mask":
        fail("data", "label_rule", "applies to synthetic fields only (shards hold their labels; give "
             "`radio-unet dataset` --label-rule instead)")
    if data["tile_size"] % 2 ** config["model"]["depth"]:
        fail("data", "tile_size", f"must be a multiple of 2**model.depth ({2 ** config['model']['depth']})")
    if data["preset"] == RANDOMISED:
        if not data["pixels_per_beam"]:
            fail("data", "pixels_per_beam", f"is needed with data.preset = '{RANDOMISED}' (the model's sampling, "
                 "which each drawn survey is regridded to)")
        for key in ("beam_jitter", "pixel_scale_jitter"):
            if config["augment"][key] != [1.0, 1.0]:
                fail("augment", key, f"applies to a preset's survey; with data.preset = '{RANDOMISED}' set it to "
                     "[1.0, 1.0] (the [survey] section draws beam and sampling)")
    if data["pixels_per_beam"] < 0 or 0 < data["pixels_per_beam"] < 1.5:
        fail("data", "pixels_per_beam", f"must be 0 (the preset's own sampling) or >= 1.5, not "
             f"{data['pixels_per_beam']!r}")
    if data["source"] == "shards" and data["pixels_per_beam"]:
        fail("data", "pixels_per_beam", "applies to synthetic fields only (shards keep the sampling they were "
             "written at)")
    if data["source"] == "shards" and not data["shards"]:
        fail("data", "shards", "is needed with data.source = 'shards' (files or glob patterns)")
    for key in ("noise_jitter", "flux_jitter", "beam_jitter", "pixel_scale_jitter", "correlated_noise_scale"):
        low, high = config["augment"][key]
        if not 0 < low <= high:
            fail("augment", key, "must be a range 0 < low <= high")
    low, high = config["augment"]["correlated_noise"]
    if not 0 <= low <= high:
        fail("augment", "correlated_noise", "must be a range 0 <= low <= high (a fraction of the noise variance)")
    if not 0 < training["threshold"] < 1:
        fail("training", "threshold", "must be between 0 and 1")
    if config["model"]["out_channels"] not in (1, len(CLASS_NAMES)):
        fail("model", "out_channels", f"must be 1 (diffuse emission) or {len(CLASS_NAMES)} (classes "
             f"{', '.join(CLASS_NAMES)})")
    if not 0 <= training["teacher_weight"] <= 1:
        fail("training", "teacher_weight", "must be between 0 and 1")
    if not 0 <= training["ema_decay"] < 1:
        fail("training", "ema_decay", "must be at least 0 (off) and below 1")
