"""ROC and precision-recall curves of a threshold sweep, as PNG files."""

import numpy as np
from matplotlib.figure import Figure

from radiounet.io.atomic import atomic_path

__all__ = ["save_curves"]


def _save(figure, path):
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100, metadata={"Software": None})


def save_curves(evaluation, directory):
    """Write ``roc.png`` and ``precision_recall.png`` of ``evaluation.sweep`` into ``directory``."""
    sweep = evaluation.sweep
    fpr, tpr = np.asarray(sweep["false_positive_rate"]), np.asarray(sweep["recall"])
    order = np.argsort(fpr)
    figure = Figure(figsize=(4.5, 4.5))
    ax = figure.subplots()
    ax.plot(fpr[order], tpr[order], "o-", markersize=3)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate (recall)")
    ax.set_title(f"ROC; best R threshold ({evaluation.best_metric}) = {evaluation.best_threshold:.4g}", fontsize=9)
    _save(figure, directory / "roc.png")
    figure = Figure(figsize=(4.5, 4.5))
    ax = figure.subplots()
    ax.plot(np.asarray(sweep["recall"]), np.asarray(sweep["precision"]), "o-", markersize=3)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title("precision-recall over the R threshold", fontsize=9)
    _save(figure, directory / "precision_recall.png")
