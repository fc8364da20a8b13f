"""Inference-time folding of batch normalisation into the convolution before it.

In evaluation mode a ``BatchNorm2d`` after a ``Conv2d`` is an affine map per
channel, so it can be folded into the convolution's weights and bias: the same
outputs (within float rounding) with one pass over the activations fewer.
"""

import torch
from torch import nn

__all__ = ["fold_batch_norm"]


def _folded(conv, norm):
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                      padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True,
                      padding_mode=conv.padding_mode).to(conv.weight.device)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
    fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
    fused.bias.copy_((bias - norm.running_mean) * scale + norm.bias)
    return fused


@torch.no_grad()
def fold_batch_norm(model):
    """Fold every ``BatchNorm2d`` that directly follows a ``Conv2d`` in an ``nn.Sequential`` of ``model``.

    For inference only (the model is put in evaluation mode and changed in
    place); returns ``model``.
    """
    model.eval()
    for sequential in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for k in range(len(sequential) - 1):
            conv, norm = sequential[k], sequential[k + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) and norm.track_running_stats:
                sequential[k] = _folded(conv, norm)
                sequential[k + 1] = nn.Identity()
    return model
