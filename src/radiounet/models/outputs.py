"""From the network's logits to probabilities: one diffuse-emission map, or class maps."""

import torch

from radiounet.sky.labels import CLASS_NAMES

__all__ = ["DIFFUSE_CLASSES", "diffuse_probability", "diffuse_from_classes"]

#: Classes whose probabilities add up to the diffuse-emission probability.
DIFFUSE_CLASSES = (CLASS_NAMES.index("halo"), CLASS_NAMES.index("relic"))


def diffuse_probability(logits):
    """Probability of diffuse emission, ``(batch, 1, H, W)``, from one logit or from class logits.

    One output channel: its sigmoid. Several (the classes of
    :data:`radiounet.sky.labels.CLASS_NAMES`): the softmax probabilities of
    halo and relic added.
    """
    if logits.shape[1] == 1:
        return torch.sigmoid(logits)
    return diffuse_from_classes(torch.softmax(logits, dim=1))


def diffuse_from_classes(class_probability):
    """P(halo) + P(relic), ``(batch, 1, H, W)``, of class probabilities ``(batch, classes, H, W)``."""
    return class_probability[:, DIFFUSE_CLASSES].sum(dim=1, keepdim=True)
