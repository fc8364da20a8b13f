"""Pixel metrics accumulated over an epoch: Dice, IoU, precision, recall."""

import torch

from radiounet._overlap import overlap_metrics
from radiounet.train.distributed import all_reduce_sum

__all__ = ["PixelCounts", "ConfusionCounts"]


class PixelCounts:
    """True/false positive and false negative counts, summed over batches (and over ranks)."""

    def __init__(self):
        self.counts = torch.zeros(3, dtype=torch.float64)

    def update(self, predicted, target):
        """Add a batch of boolean predictions and targets."""
        predicted, target = predicted.bool(), target.bool()
        self.counts += torch.stack([
            (predicted & target).sum(), (predicted & ~target).sum(), (~predicted & target).sum(),
        ]).to(self.counts)

    def all_reduce(self):
        """Sum the counts over the processes of a distributed run."""
        self.counts = all_reduce_sum(self.counts)

    def metrics(self):
        """Dict of dice, iou, precision and recall (1.0 where both prediction and truth are empty)."""
        return overlap_metrics(*self.counts.tolist(), empty=1.0)


class ConfusionCounts:
    """Confusion matrix of class maps (rows: true class, columns: predicted class), summed over batches."""

    def __init__(self, n_classes):
        self.n_classes = n_classes
        self.counts = torch.zeros(n_classes, n_classes, dtype=torch.float64)

    def update(self, predicted, target):
        """Add integer class maps of the same shape."""
        index = target.reshape(-1).long() * self.n_classes + predicted.reshape(-1).long()
        self.counts += torch.bincount(index, minlength=self.n_classes**2).reshape(self.n_classes,
                                                                                  self.n_classes).to(self.counts)

    def all_reduce(self):
        """Sum the counts over the processes of a distributed run."""
        self.counts = all_reduce_sum(self.counts)

    def dice(self):
        """Dice of each class (NaN for a class neither present nor predicted)."""
        tp = self.counts.diagonal()
        denominator = self.counts.sum(0) + self.counts.sum(1)
        return [float(2 * t / d) if d else float("nan") for t, d in zip(tp, denominator)]
