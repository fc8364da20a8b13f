"""Size and cost of a network: parameters, floating-point operations and tiles per second."""

import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from radiounet._allocator import freed_memory_retained
from radiounet.models.gated import GatedConfig, network_from_config

__all__ = ["count_parameters", "flops_per_tile", "throughput"]


def count_parameters(model):
    """Number of parameters (frozen ones included: the model's size, not what a fine-tuning trains)."""
    return sum(p.numel() for p in model.parameters())


def flops_per_tile(model, tile_size=192):
    """Floating-point operations of one forward pass on one ``tile_size`` x ``tile_size`` tile.

    Counted by PyTorch's FLOP counter (a multiply-add is two operations).
    """
    was_training = model.training
    model.eval()
    x = torch.zeros(1, model.config.in_channels, tile_size, tile_size, device=next(model.parameters()).device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops()


def _tiles_per_second(step, batch_size, steps, device):
    step()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch_size * steps / (time.perf_counter() - start)


def throughput(model_config, device="cpu", tile_size=192, batch_size=16, steps=5):
    """Training and inference speed of a fresh network of ``model_config``, in tiles per second.

    A training step is forward, backward and an AdamW update on random tiles;
    inference is a forward pass without gradients. Both run ``steps`` times
    after one warm-up step, in the current number of torch threads.

    Returns
    -------
    dict
        ``train`` and ``inference`` tiles per second; ``train`` is None for a
        gated model (:class:`radiounet.models.gated.GatedConfig`), which is
        not trained as a whole.
    """
    device = torch.device(device)
    gated = isinstance(model_config, GatedConfig)
    model = network_from_config(model_config).to(device)
    optimizer = torch.optim.AdamW(model.parameters())
    x = torch.randn(batch_size, model_config.in_channels, tile_size, tile_size, device=device)
    with torch.no_grad():
        target = (torch.rand_like(model(x)) > 0.9).float()

    def train_step():
        model.train()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def inference_step():
        model.eval()
        with torch.no_grad():
            model(x)

    # As in predict and train: the activations reused warm, not mapped afresh at every layer.
    with freed_memory_retained():
        inference = _tiles_per_second(inference_step, batch_size, steps, device)
        train = None if gated else _tiles_per_second(train_step, batch_size, steps, device)
    return dict(train=train, inference=inference)
