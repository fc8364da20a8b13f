"""Evaluation of cluster detections against a truth classification.

Truth classes are split into positives (diffuse emission present, e.g. RH,
RR, DE), negatives (NDE) and uncertain ones (U, DEU), which are reported per
class but left out of the summary metrics. Metrics: accuracy, precision,
recall and false-negative rate, each with a bootstrap 95% interval (clusters
resampled with replacement); and a sweep of the R threshold (ROC and
precision-recall curves, the threshold that maximises a chosen metric).
"""

from dataclasses import dataclass

import numpy as np
from astropy.table import QTable

from radiounet.errors import RadioUNetError
from radiounet.io.tables import read_table
from radiounet.sky.labels import CLUSTER_CLASSES

__all__ = ["DEFAULT_POSITIVE", "DEFAULT_NEGATIVE", "TRUTH_CLUSTER_CLASSES", "Evaluation", "read_detections",
           "evaluate_detections", "binary_metrics", "cluster_class_confusion"]

DEFAULT_POSITIVE = ("RH", "RR", "RH+RR", "RH,RR", "DE", "HALO", "RELIC")
DEFAULT_NEGATIVE = ("NDE", "NONE")
_MEASURED = ("ok", "partial_coverage")
#: Truth classes (upper case) that name one outcome of a class model's ``class`` column; others
#: (DE: diffuse of unknown kind, U, DEU) are left out of :func:`cluster_class_confusion`.
TRUTH_CLUSTER_CLASSES = {"RH": "halo", "HALO": "halo", "RR": "relic", "RELIC": "relic", "RH+RR": "both",
                         "RH,RR": "both", "BOTH": "both", "NDE": "none", "NONE": "none"}


@dataclass
class Evaluation:
    """Per-class table, summary metrics with intervals, threshold sweep and the best threshold."""

    per_class: QTable
    metrics: dict
    sweep: QTable
    best_threshold: float
    best_metric: str
    n_unmatched: int


def read_detections(path):
    """The detections table of ``radio-unet detect`` at ``path``.

    Raises
    ------
    RadioUNetError
        Naming ``path``, if it is not a readable table, lacks a column that
        :func:`evaluate_detections` needs or has no rows.
    """
    table = read_table(path)
    missing = [column for column in ("name", "R", "detected", "status") if column not in table.colnames]
    if missing:
        raise RadioUNetError(f"{path}: not a detections table of radio-unet detect (no column {', '.join(missing)})")
    if not len(table):
        raise RadioUNetError(f"{path}: the detections table has no rows")
    return table


def binary_metrics(predicted, actual):
    """Accuracy, precision, recall, false-negative rate, F1 and Youden's J of boolean arrays."""
    predicted, actual = np.asarray(predicted, bool), np.asarray(actual, bool)
    tp = np.sum(predicted & actual)
    fp = np.sum(predicted & ~actual)
    fn = np.sum(~predicted & actual)
    tn = np.sum(~predicted & ~actual)

    def ratio(a, b):
        return float(a / b) if b else float("nan")

    recall = ratio(tp, tp + fn)
    specificity = ratio(tn, tn + fp)
    precision = ratio(tp, tp + fp)
    return dict(accuracy=ratio(tp + tn, tp + tn + fp + fn), precision=precision, recall=recall,
                false_negative_rate=ratio(fn, tp + fn), f1=ratio(2 * tp, 2 * tp + fp + fn),
                youden=recall + specificity - 1 if np.isfinite(recall + specificity) else float("nan"),
                false_positive_rate=ratio(fp, fp + tn))


def evaluate_detections(detections, truth_classes, *, positive=DEFAULT_POSITIVE, negative=DEFAULT_NEGATIVE,
                        metric="accuracy", n_bootstrap=1000, seed=0):
    """Compare ``detections`` (from ``radio-unet detect``) with truth classes.

    Parameters
    ----------
    detections : astropy.table.QTable
        With ``name``, ``R``, ``detected``, ``status``.
    truth_classes : dict
        Cluster name -> class label (case-insensitive).
    positive, negative : sequence of str
        Classes with and without diffuse emission; any other class is uncertain.
    metric : {"accuracy", "f1", "youden"}
        What the threshold sweep maximises.
    n_bootstrap : int
    seed : int

    Returns
    -------
    Evaluation
    """
    if metric not in ("accuracy", "f1", "youden"):
        raise RadioUNetError(f"unknown metric {metric!r}: choose accuracy, f1 or youden")
    positive = {c.upper() for c in positive}
    negative = {c.upper() for c in negative}
    names, classes, ratios, detected = [], [], [], []
    n_unmatched = 0
    for row in detections:
        label = truth_classes.get(str(row["name"]))
        if label is None or str(row["status"]) not in _MEASURED:
            n_unmatched += 1
            continue
        names.append(str(row["name"]))
        classes.append(str(label).strip().upper())
        ratios.append(float(row["R"]))
        detected.append(bool(row["detected"]))
    classes, ratios, detected = np.array(classes), np.array(ratios), np.array(detected, bool)
    per_class = QTable(names=("class", "kind", "n", "n_detected", "percent_correct"),
                       dtype=(str, str, int, int, float))
    for label in sorted(set(classes)):
        members = classes == label
        kind = "positive" if label in positive else "negative" if label in negative else "uncertain"
        correct = detected[members] if kind != "negative" else ~detected[members]
        per_class.add_row((label, kind, int(members.sum()), int(detected[members].sum()),
                           100.0 * correct.mean()))
    decided = np.isin(classes, list(positive | negative))
    actual = np.isin(classes[decided], list(positive))
    if not decided.any():
        found = ", ".join(sorted(set(classes))) or "none"
        raise RadioUNetError(f"no cluster with a positive or negative truth class was measured: {len(classes)} "
                             f"measured detections have a truth row (classes: {found}), {n_unmatched} have none or "
                             "no R; check the names, --positive and --negative")
    metrics = {}
    point = binary_metrics(detected[decided], actual)
    rng = np.random.default_rng(seed)
    samples = [binary_metrics(detected[decided][i], actual[i])
               for i in (rng.integers(0, decided.sum(), decided.sum()) for _ in range(n_bootstrap))]
    for key, value in point.items():
        values = np.array([s[key] for s in samples], dtype=float)
        low, high = np.nanpercentile(values, [2.5, 97.5]) if np.isfinite(values).any() else (np.nan, np.nan)
        metrics[key] = dict(value=value, ci95=(float(low), float(high)))
    metrics.update(n=int(decided.sum()), n_positive=int(actual.sum()), n_negative=int((~actual).sum()))
    thresholds = np.unique(np.concatenate([[0.0], ratios[decided][np.isfinite(ratios[decided])], [1.0]]))
    rows = [dict(threshold=t, **binary_metrics(ratios[decided] > t, actual)) for t in thresholds]
    sweep = QTable(rows=rows)
    scores = np.nan_to_num(np.asarray(sweep[metric], dtype=float), nan=-np.inf)
    best = float(sweep["threshold"][int(np.argmax(scores))])
    return Evaluation(per_class=per_class, metrics=metrics, sweep=sweep, best_threshold=best, best_metric=metric,
                      n_unmatched=n_unmatched)


def cluster_class_confusion(detections, truth_classes):
    """Cluster classes of a class model (``class`` column of ``detect``) against truth classes.

    Parameters
    ----------
    detections : astropy.table.Table
        From ``radio-unet detect`` with a class model (finite ``R_halo``).
    truth_classes : dict
        Cluster name -> class label; labels in :data:`TRUTH_CLUSTER_CLASSES` are used.

    Returns
    -------
    astropy.table.QTable or None
        One row per true outcome (none, halo, relic, both) with ``n`` and the
        count of each predicted class; None for detections of a binary model
        and where no measured cluster has a truth class of that kind.
    """
    from radiounet.detect.clusters import from_class_model

    if not from_class_model(detections):
        return None
    counts = {name: dict.fromkeys(CLUSTER_CLASSES, 0) for name in CLUSTER_CLASSES}
    for row in detections:
        label = TRUTH_CLUSTER_CLASSES.get(str(truth_classes.get(str(row["name"]), "")).strip().upper())
        if label is not None and str(row["status"]) in _MEASURED and str(row["class"]) in CLUSTER_CLASSES:
            counts[label][str(row["class"])] += 1
    if not any(sum(row.values()) for row in counts.values()):
        return None
    table = QTable(names=("true_class", "n") + CLUSTER_CLASSES, dtype=(str,) + (int,) * 5)
    for name in CLUSTER_CLASSES:
        table.add_row((name, sum(counts[name].values()), *counts[name].values()))
    return table
