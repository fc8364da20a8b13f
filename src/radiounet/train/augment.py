"""Augmentation of training batches: the 8 flips/rotations, noise-level and flux-scale jitter, and noise
correlated over a few beams.

Beam and pixel-scale jitter act earlier, when fields are simulated (see
:class:`radiounet.data.datasets.SyntheticFieldDataset`), because they change
how the sky is observed.
"""

import math

import torch

__all__ = ["random_dihedral", "log_uniform_factors", "correlated_noise"]


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


def correlated_noise(shape, sigma_pixels, generator, device="cpu"):
    """Gaussian noise fields of unit variance smoothed by Gaussians of ``sigma_pixels`` (one per sample).

    Real survey noise (calibration residuals, sidelobes, sources below the
    confusion limit) stays correlated over a few beams, where the simulator's
    beam-convolved white noise is not; on such noise a model that never saw
    it finds diffuse emission. The fields are periodic (smoothed in Fourier
    space), which noise does not mind.

    Parameters
    ----------
    shape : tuple
        ``(batch, 1, H, W)``.
    sigma_pixels : torch.Tensor
        ``(batch,)`` smoothing widths in pixels.
    """
    n, _, height, width = shape
    white = torch.randn(shape, generator=generator)
    ky = torch.fft.fftfreq(height)[:, None]
    kx = torch.fft.rfftfreq(width)[None, :]
    k2 = (ky**2 + kx**2)[None, None]
    transfer = torch.exp(-2 * math.pi**2 * sigma_pixels.view(-1, 1, 1, 1) ** 2 * k2)
    fields = torch.fft.irfft2(torch.fft.rfft2(white) * transfer, s=(height, width))
    fields = fields / fields.std(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    return fields.to(device)
