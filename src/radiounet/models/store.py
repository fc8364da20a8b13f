"""Saving and loading models: safetensors weights with the model card in their metadata.

A model file is self-describing: its safetensors metadata holds the model
card as JSON (architecture, normalisation, native sampling, detection
threshold, training provenance and metrics). Models shipped with the package
are found by name in ``pretrained/registry.json``, which also holds their
sha256; a file that does not match is refused.
"""

import hashlib
import json
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from radiounet.errors import InvalidParameterError, MissingFileError, RadioUNetError
from radiounet.io.atomic import atomic_path
from radiounet.models.gated import GATED, GatedConfig, network_from_config
from radiounet.models.unet import UNetConfig

__all__ = ["DEFAULT_MODEL", "save_model", "load_model", "load_weights", "deepen_state", "widen_state",
           "read_model_card", "available_models", "model_table", "benchmark_headlines", "sha256_of",
           "resolve_model_path", "build_model", "is_gated", "require_one_network", "require_card_fields",
           "run_model_parts"]

_CARD_KEY = "radiounet_model_card"
#: The model used when none is named.
DEFAULT_MODEL = "multisurvey-v1"


def run_model_parts(model):
    """``(RUN, NAME)`` for a run's model file, ``RUN/model.safetensors`` (NAME ``model.safetensors``) or
    ``RUN/epochs/epoch_NNN.safetensors`` (NAME ``epochs/epoch_NNN.safetensors``), whose run folder tells it apart
    from other runs' (every run names its models so); ``(None, NAME)`` for a shipped model or another file."""
    path = Path(model)
    if path.name == "model.safetensors" and path.parent.name:
        return path.parent.name, path.name
    if path.parent.name == "epochs" and path.parent.parent.name:
        return path.parent.parent.name, f"epochs/{path.name}"
    return None, path.name


def sha256_of(path):
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(path, model, card):
    """Write ``model``'s weights and ``card`` (a JSON-serialisable dict) to ``path`` atomically.

    The card gets the architecture (``card["architecture"]``) from the model.
    """
    card = dict(card, architecture=model.config.to_dict())
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={_CARD_KEY: json.dumps(card, sort_keys=True)})
    return path


def _registry():
    text = resources.files("radiounet.models").joinpath("pretrained/registry.json").read_text()
    return json.loads(text)


def available_models():
    """Names of the models shipped with the package, with their descriptions."""
    return {name: entry["description"] for name, entry in _registry().items()}


def model_table():
    """One row per shipped model (the default first), from its card: what it segments and how well, on
    held-out fields.

    Returns
    -------
    astropy.table.Table
        ``name``, ``default`` (the model used when none is named),
        ``output`` (``binary`` or the number of classes; ``gated`` for a class
        model gated by a binary one), ``depth`` and ``parameters`` of the U-Net
        (of a gated model: its class network's depth, both networks' parameters),
        ``pixels_per_beam`` (native sampling), ``threshold`` (probability),
        ``dice`` (diffuse Dice on the card's held-out fields with a halo or
        relics) and ``radio_galaxy_fraction`` (mean fraction of the pixels of
        its radio-galaxy fields called diffuse); the registry's description
        in the ``description`` column.
    """
    from astropy.table import Table

    rows = []
    for name, entry in sorted(_registry().items(), key=lambda item: (item[0] != DEFAULT_MODEL, item[0])):
        card = read_model_card(name)
        held_out = card.get("held_out", {})
        classes = card.get("classes")
        rows.append(dict(name=name, default=name == DEFAULT_MODEL,
                         output=(f"{len(classes)} classes" + (", gated" if is_gated(card["architecture"]) else "")
                                 if classes else "binary"),
                         depth=_depth(card["architecture"]), parameters=int(card["parameters"]),
                         pixels_per_beam=float(card["native_sampling"]["beam_fwhm_pixels"]),
                         threshold=float(card["threshold"]),
                         dice=float(held_out.get("diffuse", {}).get("dice", float("nan"))),
                         radio_galaxy_fraction=float(held_out.get("radio_galaxies", {}).get(
                             "mean_fraction_called_diffuse", float("nan"))),
                         description=entry["description"]))
    return Table(rows=rows, names=list(rows[0]))


def benchmark_headlines():
    """Headline figures of ``radio-unet benchmark`` per setup, for the shipped models that have them.

    Read from ``pretrained/NAME.benchmark.ecsv`` (written by
    ``scripts/ship_model.py``): one row per model and sky family, the default
    model first, with for each setup the string ``"Dice / relic pixels found
    (in the median image) / radio-galaxy images called diffuse (mean)"``.

    Returns
    -------
    astropy.table.Table or None
        None when no shipped model has a benchmark table.
    """
    from astropy.table import Table

    rows = []
    for name in sorted(_registry(), key=lambda item: (item != DEFAULT_MODEL, item)):
        path = resources.files("radiounet.models").joinpath("pretrained", f"{name}.benchmark.ecsv")
        if not path.is_file():
            continue
        table = Table.read(str(path), format="ascii.ecsv")
        for family in dict.fromkeys(table["family"]):
            row = dict(name=name, family=family)
            for line in table[table["family"] == family]:
                row[line["setup"]] = (f"{line['dice']:.2f} / {_percent(line['relic_found'], 0)} "
                                      f"({_percent(line['relic_found_median'], 0)}) / "
                                      f"{_percent(line['radio_galaxy_called_mean'], 1)}")
            rows.append(row)
    if not rows:
        return None
    names = list(dict.fromkeys(key for row in rows for key in row))
    return Table(rows=[{key: row.get(key, "") for key in names} for row in rows], names=names)


def _percent(value, digits):
    return "-" if value != value else f"{100 * value:.{digits}f}%"


def _depth(architecture):
    """The U-Net depth of an architecture; of a gated model, its class model's."""
    return int((architecture["classes"] if is_gated(architecture) else architecture)["depth"])


def resolve_model_path(name_or_path):
    """Path of a shipped model (checksum verified) or of a model file.

    Raises
    ------
    RadioUNetError
        Unknown name, missing file, or checksum mismatch.
    """
    registry = _registry()
    if name_or_path in registry:
        entry = registry[name_or_path]
        path = Path(str(resources.files("radiounet.models").joinpath("pretrained", entry["file"])))
        if not path.is_file():
            raise MissingFileError(f"{path}: no such file, the weights of shipped model {name_or_path!r}; "
                                   "reinstall the package")
        actual = sha256_of(path)
        if actual != entry["sha256"]:
            raise RadioUNetError(f"{path}: sha256 {actual[:12]}... does not match the registry "
                                 f"({entry['sha256'][:12]}...); the file is corrupt or was replaced")
        return path
    path = Path(name_or_path)
    if not path.is_file():
        known = ", ".join(registry) or "none"
        raise MissingFileError(f"{name_or_path}: no such model file, and not a shipped model name (known: {known})")
    return path


def read_model_card(name_or_path):
    """The model card (dict) of a model file or shipped model."""
    path = resolve_model_path(name_or_path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise RadioUNetError(f"{path}: not a readable safetensors model ({exc})") from None
    if _CARD_KEY not in metadata:
        raise RadioUNetError(f"{path}: safetensors file without a radiounet model card")
    try:
        card = json.loads(metadata[_CARD_KEY])
    except ValueError as exc:
        raise RadioUNetError(f"{path}: its model card is not valid JSON ({exc})") from None
    _check_card(card, path)
    return card


#: Fields of a model card that the commands read, and their types; every card has ``architecture``.
_CARD_FIELDS = {"architecture": dict, "threshold": (int, float), "tile_size": int, "native_sampling": dict,
                "training": dict}
_SAMPLING_FIELDS = {"beam_fwhm_pixels": (int, float), "bmaj_arcsec": (int, float), "pixel_arcsec": (int, float),
                    "survey": str}


def _check_card(card, path):
    if not isinstance(card, dict):
        raise RadioUNetError(f"{path}: its model card is not a JSON object")
    require_card_fields(card, path, "architecture")
    for fields, where, prefix in ((_CARD_FIELDS, card, ""),
                                  (_SAMPLING_FIELDS, card.get("native_sampling") or {}, "native_sampling.")):
        for key, kind in fields.items():
            value = where.get(key)
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
                raise RadioUNetError(f"{path}: its model card's {prefix}{key} is a {type(value).__name__}, not a "
                                     f"{kind.__name__ if isinstance(kind, type) else 'number'}")


def require_card_fields(card, path, *names):
    """Raise a one-line error naming ``path`` if the model card lacks one of ``names`` (``native_sampling``
    also needs its four entries)."""
    for name in names:
        if card.get(name) is None:
            raise RadioUNetError(f"{path}: its model card lacks {name}")
        if name == "native_sampling":
            for key in _SAMPLING_FIELDS:
                if card[name].get(key) is None:
                    raise RadioUNetError(f"{path}: its model card lacks native_sampling.{key}")


def load_model(name_or_path, device="cpu"):
    """Load a model by shipped name or file path.

    Returns
    -------
    model : UNet
        In evaluation mode, on ``device``.
    card : dict
        Its model card.
    """
    path = resolve_model_path(name_or_path)
    card = read_model_card(path)
    try:
        model = build_model(card["architecture"])
    except (TypeError, KeyError, InvalidParameterError) as exc:
        raise RadioUNetError(f"{path}: model card has an unknown architecture ({exc})") from None
    load_weights(model, path)
    return model.to(device).eval(), card


def build_model(architecture):
    """A fresh network of ``architecture`` (a card's ``architecture`` dict): a :class:`UNet`, or a
    :class:`radiounet.models.gated.GatedUNet` for ``kind = "gated"``."""
    return network_from_config(GatedConfig.from_dict(architecture) if is_gated(architecture)
                               else UNetConfig(**architecture))


def is_gated(architecture):
    """Whether a card's ``architecture`` is a gated model of two networks."""
    return architecture.get("kind") == GATED


def require_one_network(card, path):
    """Raise the one-line error of training on from a gated model (two networks with a fixed rule).

    Training code that can start from a gated model's class network (see
    ``radiounet.train.loop``) does so instead of calling this.
    """
    if is_gated(card["architecture"]):
        raise RadioUNetError(
            f"{path}: a gated model of two networks cannot be trained further as it is; a class model can start from "
            f"its class network (radio-unet train with training.init_model = {str(path)!r})")


def deepen_state(state, depth, extra_levels):
    """Name the tensors of a U-Net of ``depth`` levels as those of one ``extra_levels`` deeper.

    The shallow network's bottleneck becomes the deep one's encoder level
    ``depth`` (same channels), its upsampling and decoder levels the deep
    one's upper levels; the new lower levels are absent from the result and
    keep their own initial weights.
    """
    renamed = {}
    for key, value in state.items():
        part, _, rest = key.partition(".")
        if part == "bottleneck":
            key = f"encoder.{depth}.{rest}"
        elif part in ("upsample", "decoder"):
            level, _, rest = rest.partition(".")
            key = f"{part}.{int(level) + extra_levels}.{rest}"
        renamed[key] = value
    return renamed


def _channel_positions(old, new, concatenated):
    """Where channel ``i`` of a narrower layer sits in the wider one.

    A decoder block's input is ``cat(upsampled, skip)``: each half keeps its
    own first channels, so the skip half moves up by the added width.
    """
    positions = torch.arange(old)
    if concatenated:
        positions[old // 2:] += (new - old) // 2
    return positions


def widen_state(state, model):
    """Place the tensors of a narrower U-Net into ``model``'s wider ones, keeping its function.

    Every layer keeps the old channels as its first ones; the added channels
    keep ``model``'s own (random) weights, and the old channels' weights from
    the added inputs are zero. The widened network so computes the narrow
    one's output exactly (the added channels are read by nobody until
    training changes the zeros), and training grows the added channels from there.
    """
    expected = model.state_dict()
    # Per convolution weight: its output-channel dimension (the input channels are the other of the first two)
    # and whether its input is a decoder block's cat(upsampled, skip).
    layout = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ConvTranspose2d):
            layout[f"{name}.weight"] = (1, False)
        elif isinstance(module, torch.nn.Conv2d):
            layout[f"{name}.weight"] = (0, name.startswith("decoder.") and name.endswith(".0"))
    widened = {}
    for key, value in state.items():
        target = expected.get(key)
        if target is None or target.shape == value.shape or target.dim() != value.dim() or any(
                n < o for n, o in zip(target.shape, value.shape)):
            widened[key] = value
            continue
        result = target.clone()
        if key in layout:
            out_dim, concatenated = layout[key]
            outputs = torch.arange(value.shape[out_dim])
            inputs = _channel_positions(value.shape[1 - out_dim], target.shape[1 - out_dim], concatenated)
            if out_dim == 0:
                result[outputs] = 0
                result[outputs[:, None], inputs] = value
            else:
                result[:, outputs] = 0
                result[inputs[:, None], outputs] = value
        else:
            result[tuple(slice(0, n) for n in value.shape)] = value
        widened[key] = result
    return widened


def share_input_with_filter(state, model):
    """Give ``model``'s compact-source-filtered input channel half the first convolution's weights of a network
    without it.

    The image channel keeps the other half: where the filter leaves the image
    as it is (noise-free emission wider than its box in every direction) the
    network so computes the other one's output; compact sources reach it at half
    their weight, and noise, whose opening is its lower envelope, changes too:
    training takes it from there. A zero start would keep the
    function everywhere, but training from a converged network leaves zero
    weights near zero (docs/model-experiments.md, multisurvey-v12).
    """
    key = "encoder.0.0.weight"
    weight = state[key]
    if model.state_dict()[key].shape[1] != 2 * weight.shape[1]:
        return state
    return {**state, key: torch.cat([weight / 2, weight / 2], dim=1)}


def load_weights(model, path, *, except_head=False, prefix="", extra_levels=0, widen=False, add_filter=False):
    """Load safetensors weights into ``model``; an architecture mismatch is a one-line error.

    With ``except_head`` the output head keeps its own weights: a model with
    another number of outputs (binary -> classes) starts from the rest. With
    ``prefix`` (e.g. ``"classes."``) only the tensors under it are loaded,
    without it: one network of a gated model's file. With ``extra_levels``
    the file holds a network that many levels shallower than ``model``
    (see :func:`deepen_state`): ``model``'s new lowest levels keep their weights.
    With ``widen`` the file may hold a narrower network (see :func:`widen_state`).
    With ``add_filter`` it may hold a network without ``model``'s compact-source
    filtered input (see :func:`share_input_with_filter`).
    """
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise RadioUNetError(f"{path}: not a readable safetensors file ({exc})") from None
    if prefix:
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    expected = model.state_dict()
    if extra_levels:
        depth = model.config.depth - extra_levels
        state = deepen_state(state, depth, extra_levels)
        new_levels = ("bottleneck.", *(f"encoder.{level}." for level in range(depth + 1, model.config.depth)),
                      *(f"{part}.{level}." for part in ("upsample", "decoder") for level in range(extra_levels)))
        state.update({k: v for k, v in expected.items() if k.startswith(new_levels)})
    if add_filter:
        state = share_input_with_filter(state, model)
    if widen:
        state = widen_state(state, model)
    if except_head:
        state = {k: v for k, v in state.items() if not k.startswith("head.")}
        state.update({k: v for k, v in expected.items() if k.startswith("head.")})
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        detail = (f"{len(missing)} missing, {len(unexpected)} unexpected and {len(wrong)} mis-shaped tensors"
                  f" (e.g. {(missing + unexpected + wrong)[0]})")
        raise RadioUNetError(f"{path}: weights of another architecture: {detail}")
    with torch.no_grad():
        model.load_state_dict(state)
