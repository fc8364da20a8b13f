"""From the network's logits to probabilities: one diffuse-emission map, or class maps."""

import torch

from radiounet.classes import CLASS_NAMES

__all__ = ["DIFFUSE_CLASSES", "diffuse_probability", "diffuse_from_classes", "probabilities", "called_diffuse"]

#: Classes whose probabilities add up to the diffuse-emission probability.
DIFFUSE_CLASSES = (CLASS_NAMES.index("halo"), CLASS_NAMES.index("relic"))


def diffuse_probability(logits):
    """Probability of diffuse emission, ``(batch, 1, H, W)``, from one logit or from class logits.

    One output channel: its sigmoid. Several (the classes of
    :data:`radiounet.classes.CLASS_NAMES`): the softmax probabilities of
    halo and relic added.
    """
    if logits.shape[1] == 1:
        return torch.sigmoid(logits)
    return diffuse_from_classes(torch.softmax(logits, dim=1))


def diffuse_from_classes(class_probability):
    """P(halo) + P(relic), ``(batch, 1, H, W)``, of class probabilities ``(batch, classes, H, W)``."""
    return class_probability[:, DIFFUSE_CLASSES].sum(dim=1, keepdim=True)


def probabilities(logits, classes):
    """What inference writes: the probability of diffuse emission, then (with ``classes``) the class
    probabilities, ``(batch, 1 + classes, H, W)``."""
    logits = logits.float()
    if not classes:
        return torch.sigmoid(logits)
    probability = torch.softmax(logits, dim=1)
    return torch.cat([diffuse_from_classes(probability), probability], dim=1)


def called_diffuse(probability, threshold):
    """The pixels called diffuse: ``probability >= threshold`` (NaN, a blank pixel, never is).

    The one rule behind ``STEM.mask.fits``, the source catalogue of
    ``predict``, and every pixel metric of ``evaluate`` and of training, so
    that a pixel exactly at the threshold is counted the same everywhere.
    ``probability`` is a numpy array or a torch tensor.
    """
    return probability >= threshold
