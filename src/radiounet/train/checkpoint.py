"""Training checkpoints: model and optimizer tensors in safetensors, the rest in JSON.

``DIR/checkpoints/last.safetensors`` (model), ``last.optimizer.safetensors``
and ``last.json`` (epoch, history, scheduler, best score, config) are
rewritten atomically after every epoch, so a killed run loses at most the
epoch in progress.
"""

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from radiounet.errors import RadioUNetError
from radiounet.io.atomic import atomic_path
from radiounet.models.store import load_weights

__all__ = ["save_checkpoint", "load_checkpoint", "checkpoint_exists"]


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


def save_checkpoint(directory, model, optimizer, scheduler, state):
    """Write the checkpoint of the epoch just finished (``state``: JSON-serialisable dict)."""
    folder, model_path, optimizer_path, state_path = _paths(directory)
    folder.mkdir(parents=True, exist_ok=True)
    tensors, plain = _flatten_optimizer(optimizer.state_dict())
    with atomic_path(model_path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    with atomic_path(optimizer_path) as tmp:
        save_file(tensors, str(tmp))
    # The JSON is written last: it is the marker of a complete checkpoint.
    with atomic_path(state_path) as tmp:
        tmp.write_text(json.dumps(dict(state, optimizer=plain, scheduler=scheduler.state_dict()), indent=1))


def load_checkpoint(directory, model, optimizer, scheduler, device):
    """Restore model, optimizer and scheduler; return the saved state dict."""
    _, model_path, optimizer_path, state_path = _paths(directory)
    try:
        state = json.loads(state_path.read_text())
        load_weights(model, model_path)
        optimizer.load_state_dict(_unflatten_optimizer(load_file(str(optimizer_path), device=str(device)),
                                                       state.pop("optimizer")))
        scheduler.load_state_dict(state.pop("scheduler"))
    except (OSError, ValueError, KeyError) as exc:
        raise RadioUNetError(f"{state_path.parent}: cannot resume from the checkpoint ({exc}); "
                             "delete the checkpoints folder to start again") from None
    return state
