"""Per-cluster class probabilities of a class model: none, halo, relic, both.

The mean class probabilities in the aperture (``R_halo``, ``R_relic``,
``R_radio_galaxy``, see :func:`radiounet.detect.aperture.aperture_ratio`) say
how much of each class the network sees, not how likely a cluster is to host
a halo, a relic or both. A multinomial logistic regression on their
logarithms, fitted on simulated cluster fields whose content is known
(:func:`radiounet.evaluate.calibrate.calibrate_ratio_threshold`), turns them
into probabilities of the four outcomes that sum to one; its coefficients are
stored in the model card (``cluster_classes``) and applied by ``detect``.
"""

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax

from radiounet.detect.aperture import aperture_ratio
from radiounet.errors import InvalidParameterError
from radiounet.sky.labels import CLUSTER_CLASSES

__all__ = ["CLUSTER_CLASSES", "class_ratios", "cluster_features", "fit_cluster_classifier",
           "cluster_class_probabilities", "cross_validated_probabilities", "classifier_from_calibration"]

#: Floor of the aperture ratios before the logarithm (an empty class is 0).
_FLOOR = 1e-5
_FEATURES = ("log10 R_halo", "log10 R_relic", "log10 R_radio_galaxy")


def class_ratios(class_probability, class_names, x, y, radius):
    """``R_halo``, ``R_relic``, ``R_radio_galaxy``: the mean probability of each of these classes within
    ``radius`` pixels of ``(x, y)`` (:func:`radiounet.detect.aperture.aperture_ratio`), as a dict.

    ``class_probability`` is ``(classes, ny, nx)``, its planes named by ``class_names``.
    """
    return {f"R_{name}": aperture_ratio(class_probability[list(class_names).index(name)], x, y, radius).ratio
            for name in ("halo", "relic", "radio_galaxy")}


def cluster_features(r_halo, r_relic, r_radio_galaxy):
    """``(n, 3)`` features: log10 of the aperture ratios, floored at 1e-5."""
    ratios = np.column_stack([np.atleast_1d(np.asarray(r, dtype=float)) for r in (r_halo, r_relic, r_radio_galaxy)])
    return np.log10(np.maximum(ratios, _FLOOR))


def _design(features):
    return np.column_stack([np.ones(len(features)), features])


def fit_cluster_classifier(features, truth, *, l2=1.0):
    """Multinomial logistic regression of the outcome on the features.

    Parameters
    ----------
    features : numpy.ndarray
        ``(n, 3)`` from :func:`cluster_features`.
    truth : sequence of str
        Names in :data:`CLUSTER_CLASSES`.
    l2 : float
        Ridge penalty on the slopes (not the intercepts): with few clusters
        of a class (relics alone are rare) it keeps the fit finite.

    Returns
    -------
    dict
        ``classes``, ``features`` and ``coefficients`` (``4 x 4``: intercept
        and three slopes per class, the first class fixed at zero), ready for
        the model card and :func:`cluster_class_probabilities`.
    """
    features = np.asarray(features, dtype=float)
    unknown = sorted(set(truth) - set(CLUSTER_CLASSES))
    if unknown:
        raise InvalidParameterError("truth", unknown, f"classes must be among {', '.join(CLUSTER_CLASSES)}")
    if features.ndim != 2 or features.shape != (len(truth), len(_FEATURES)) or not np.isfinite(features).all():
        raise InvalidParameterError("features", features.shape, f"must be finite, ({len(truth)}, {len(_FEATURES)})")
    design = _design(features)
    target = np.array([CLUSTER_CLASSES.index(t) for t in truth])
    k, p = len(CLUSTER_CLASSES), design.shape[1]

    def loss(flat):
        coefficients = np.vstack([np.zeros(p), flat.reshape(k - 1, p)])
        log_p = log_softmax(design @ coefficients.T, axis=1)
        residual = np.exp(log_p)
        residual[np.arange(len(target)), target] -= 1
        gradient = (residual.T @ design)[1:] / len(target)
        penalty = np.zeros_like(coefficients[1:])
        penalty[:, 1:] = coefficients[1:, 1:]
        value = -log_p[np.arange(len(target)), target].mean() + 0.5 * l2 * np.sum(penalty ** 2) / len(target)
        return value, (gradient + l2 * penalty / len(target)).ravel()

    result = minimize(loss, np.zeros((k - 1) * p), jac=True, method="L-BFGS-B")
    coefficients = np.vstack([np.zeros(p), result.x.reshape(k - 1, p)])
    return dict(classes=list(CLUSTER_CLASSES), features=list(_FEATURES), coefficients=coefficients.tolist())


def cluster_class_probabilities(classifier, features):
    """``(n, 4)`` probabilities of :data:`CLUSTER_CLASSES` (NaN rows where a feature is NaN)."""
    coefficients = np.asarray(classifier["coefficients"], dtype=float)
    features = np.atleast_2d(np.asarray(features, dtype=float))
    with np.errstate(invalid="ignore"):
        probabilities = softmax(_design(features) @ coefficients.T, axis=1)
    probabilities[~np.isfinite(features).all(axis=1)] = np.nan
    return probabilities


def cross_validated_probabilities(features, truth, *, folds=5, seed=0, l2=1.0):
    """Out-of-fold probabilities: each cluster's from a fit that did not see it (for honest metrics)."""
    truth = np.asarray(truth)
    order = np.random.default_rng(seed).permutation(len(truth))
    probabilities = np.empty((len(truth), len(CLUSTER_CLASSES)))
    for fold in np.array_split(order, folds):
        train = np.setdiff1d(order, fold)
        classifier = fit_cluster_classifier(np.asarray(features)[train], list(truth[train]), l2=l2)
        probabilities[fold] = cluster_class_probabilities(classifier, np.asarray(features)[fold])
    return probabilities


def classifier_from_calibration(table, *, folds=5):
    """Fit on a calibration table and measure it out of fold.

    Parameters
    ----------
    table : astropy.table.Table
        With ``R_halo``, ``R_relic``, ``R_radio_galaxy`` and ``cluster_class``
        (from :func:`radiounet.evaluate.calibrate.calibrate_ratio_threshold`
        with a class model).

    Returns
    -------
    dict
        :func:`fit_cluster_classifier`'s, plus ``n_fields``, ``n_per_class``,
        and, from the out-of-fold probabilities, ``cross_validated_accuracy``
        and ``confusion`` (rows: true outcome, columns: most probable one).
    """
    features = cluster_features(table["R_halo"], table["R_relic"], table["R_radio_galaxy"])
    truth = np.asarray([str(t) for t in table["cluster_class"]])
    classifier = fit_cluster_classifier(features, list(truth))
    predicted = np.asarray(CLUSTER_CLASSES)[cross_validated_probabilities(features, truth, folds=folds).argmax(1)]
    classifier.update(
        n_fields=len(truth),
        n_per_class={name: int(np.sum(truth == name)) for name in CLUSTER_CLASSES},
        cross_validated_accuracy=float(np.mean(predicted == truth)),
        confusion=[[int(np.sum((truth == a) & (predicted == b))) for b in CLUSTER_CLASSES] for a in CLUSTER_CLASSES],
    )
    return classifier
