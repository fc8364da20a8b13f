"""Augmentation of training batches: the 8 flips/rotations and noise-level and flux-scale jitter.

Beam and pixel-scale jitter act earlier, when fields are simulated (see
:class:`radiounet.data.datasets.SyntheticFieldDataset`), because they change
how the sky is observed.
"""

import math

import torch

__all__ = ["random_dihedral", "log_uniform_factors"]


def random_dihedral(tensors, generator):
    """Apply one of the 8 flips/rotations, drawn per sample, to batched tensors ``(batch, ..., H, W)``.

    Sample ``i`` of every tensor gets the same transform, so images and masks stay aligned.
    """
    n = tensors[0].shape[0]
    rotations = torch.randint(0, 4, (n,), generator=generator).tolist()
    flips = torch.randint(0, 2, (n,), generator=generator).tolist()
    out = []
    for t in tensors:
        samples = [torch.rot90(t[i], rotations[i], dims=(-2, -1)) for i in range(n)]
        out.append(torch.stack([torch.flip(s, dims=(-1,)) if f else s for s, f in zip(samples, flips)]))
    return out


def log_uniform_factors(n, low, high, generator):
    """``n`` factors drawn log-uniformly in ``[low, high]`` (1.0 each when low == high == 1)."""
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return torch.exp(math.log(low) + u * (math.log(high) - math.log(low))).to(torch.float32)
