"""Size and cost of a network: parameters and floating-point operations per tile."""

import torch
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_parameters", "flops_per_tile"]


def count_parameters(model):
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


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
