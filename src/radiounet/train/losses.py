"""Segmentation losses for mostly empty masks.

Binary cross-entropy alone lets the network settle on "all background" when
diffuse emission covers 1% of the pixels; the soft Dice term is computed over
the whole batch at once (not per tile), so tiles without emission neither
divide by zero nor dominate, and the positive class counts as much as the
background.
"""

import torch
import torch.nn.functional as F

from radiounet.models.outputs import diffuse_from_classes

__all__ = ["soft_dice_loss", "segmentation_loss", "class_segmentation_loss", "distillation_loss"]

def _soft_dice(probability, target, smooth=1.0):
    intersection = (probability * target).sum()
    return 1.0 - (2.0 * intersection + smooth) / (probability.sum() + target.sum() + smooth)


def soft_dice_loss(logits, target, smooth=1.0):
    """1 - soft Dice between ``sigmoid(logits)`` and ``target`` over the whole batch."""
    return _soft_dice(torch.sigmoid(logits), target, smooth)


def class_segmentation_loss(logits, labels, target, ce_weight=1.0, dice_weight=1.0, pixel_weight=None):
    """Cross-entropy over the classes + soft Dice, for a class model.

    The Dice term is the mean of the soft Dice of the derived diffuse
    probability P(halo) + P(relic) against the mask (the binary task) and the
    mean soft Dice of the foreground classes (every class but the first,
    background) against their labels, as nnU-Net does for rare classes: a
    relic class, with half the pixels of the halo class, counts as much.

    Parameters
    ----------
    logits : torch.Tensor
        ``(batch, classes, H, W)``.
    labels : torch.Tensor
        ``(batch, 1, H, W)`` class indices.
    target : torch.Tensor
        ``(batch, 1, H, W)`` diffuse mask (0/1), the binary model's target.
    pixel_weight : torch.Tensor, optional
        ``(batch, 1, H, W)`` weight of each pixel's cross-entropy.
    """
    loss = logits.new_zeros(())
    if ce_weight:
        ce = F.cross_entropy(logits, labels[:, 0], reduction="none")
        if pixel_weight is not None:
            ce = ce * pixel_weight[:, 0]
        loss = loss + ce_weight * ce.mean()
    if dice_weight:
        probability = torch.softmax(logits, dim=1)
        one_hot = F.one_hot(labels[:, 0], logits.shape[1]).permute(0, 3, 1, 2).to(probability.dtype)
        per_class = torch.stack([_soft_dice(probability[:, k], one_hot[:, k]) for k in range(1, logits.shape[1])])
        diffuse = _soft_dice(diffuse_from_classes(probability), target)
        loss = loss + dice_weight * 0.5 * (diffuse + per_class.mean())
    return loss


def distillation_loss(logits, teacher_logits):
    """Mean over pixels of KL(teacher || student) between the class probabilities of two class models.

    The teacher's probabilities carry what its labels do not: how much a lobe
    looks like a relic, or a halo's edge like background.
    """
    teacher = torch.softmax(teacher_logits, dim=1)
    return F.kl_div(F.log_softmax(logits, dim=1), teacher, reduction="none").sum(dim=1).mean()


def segmentation_loss(logits, target, bce_weight=1.0, dice_weight=1.0, pos_weight=None, pixel_weight=None):
    """``bce_weight * BCE + dice_weight * soft Dice``.

    ``pos_weight`` up-weights positive pixels in the BCE; ``pixel_weight`` (same
    shape as ``target``) weights every pixel's BCE term, for instance to make
    the pixels of radio galaxies (hard negatives) cost more than blank sky.
    """
    positive = None if pos_weight is None else torch.as_tensor(pos_weight, device=logits.device, dtype=logits.dtype)
    loss = logits.new_zeros(())
    if bce_weight:
        loss = loss + bce_weight * F.binary_cross_entropy_with_logits(logits, target, weight=pixel_weight,
                                                                      pos_weight=positive)
    if dice_weight:
        loss = loss + dice_weight * soft_dice_loss(logits, target)
    return loss
