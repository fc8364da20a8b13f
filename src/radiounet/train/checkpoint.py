"""Training checkpoints: model and optimizer tensors in safetensors, the rest in JSON.

``DIR/checkpoints/last.safetensors`` (model), ``last.optimizer.safetensors``,
``last.average.safetensors`` (the moving average of the weights, when
training keeps one) and ``last.json`` (epoch, history, scheduler, best
score, config) are rewritten atomically after every epoch, so a killed run
loses at most the epoch in progress.
"""

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from radiounet.errors import RadioUNetError
from radiounet.io.atomic import atomic_path
from radiounet.models.store import load_weights

__all__ = ["save_checkpoint", "load_checkpoint", "checkpoint_exists"]

_AVERAGE_FILE = "last.average.safetensors"
#: What last.json holds: the training loop's state, and the optimizer's and scheduler's non-tensor parts.
_STATE_KEYS = ("epoch", "best_dice", "best_epoch", "best_metrics", "stale_epochs", "seconds", "optimizer",
               "scheduler")


def _paths(directory):
    directory = Path(directory) / "checkpoints"
    return directory, directory / "last.safetensors", directory / "last.optimizer.safetensors", \
        directory / "last.json"


def checkpoint_exists(directory):
    return _paths(directory)[3].is_file()


def _flatten_optimizer(state_dict):
    tensors, plain = {}, {"param_groups": state_dict["param_groups"], "state": {}}
    for index, values in state_dict["state"].items():
        plain["state"][str(index)] = {}
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                plain["state"][str(index)][key] = value
    return tensors, plain


def _unflatten_optimizer(tensors, plain):
    state = {int(index): dict(values) for index, values in plain["state"].items()}
    for name, tensor in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = tensor
    return {"state": state, "param_groups": plain["param_groups"]}


def _tensors(module):
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def save_checkpoint(directory, model, optimizer, scheduler, state, average=None):
    """Write the checkpoint of the epoch just finished (``state``: JSON-serialisable dict; ``average``: a
    ``torch.optim.swa_utils.AveragedModel`` of ``model``, or None)."""
    folder, model_path, optimizer_path, state_path = _paths(directory)
    folder.mkdir(parents=True, exist_ok=True)
    tensors, plain = _flatten_optimizer(optimizer.state_dict())
    with atomic_path(model_path) as tmp:
        save_file(_tensors(model), str(tmp))
    with atomic_path(optimizer_path) as tmp:
        save_file(tensors, str(tmp))
    if average is not None:
        with atomic_path(folder / _AVERAGE_FILE) as tmp:
            save_file(_tensors(average), str(tmp))
    # The JSON is written last: it is the marker of a complete checkpoint.
    with atomic_path(state_path) as tmp:
        tmp.write_text(json.dumps(dict(state, optimizer=plain, scheduler=scheduler.state_dict()), indent=1))


def load_checkpoint(directory, model, optimizer, scheduler, device, average=None):
    """Restore model, optimizer, scheduler (and the ``average`` of the weights, when given); return the saved
    state dict."""
    folder, model_path, optimizer_path, state_path = _paths(directory)
    try:
        state = json.loads(state_path.read_text())
        missing = [key for key in _STATE_KEYS if key not in state] if isinstance(state, dict) else ["all"]
        if missing:
            raise ValueError(f"{state_path.name} lacks {', '.join(missing)}")
        load_weights(model, model_path)
        optimizer.load_state_dict(_unflatten_optimizer(load_file(str(optimizer_path), device=str(device)),
                                                       state.pop("optimizer")))
        scheduler.load_state_dict(state.pop("scheduler"))
        if average is not None:
            average.load_state_dict(load_file(str(folder / _AVERAGE_FILE), device=str(device)))
    except (OSError, ValueError, KeyError, TypeError, SafetensorError, RadioUNetError) as exc:
        raise RadioUNetError(f"{state_path.parent}: cannot resume from the checkpoint ({exc}); "
                             "delete the checkpoints folder to start again") from None
    return state
