"""Per-cluster class probabilities of a class model: none, halo, relic, both.

The mean class probabilities in the aperture (``R_halo``, ``R_relic``,
``R_radio_galaxy``, see :func:`radiounet.detect.aperture.aperture_ratio`) say
how much of each class the network sees, not how likely a cluster is to host
a halo, a relic or both. Where the emission lies says more: a halo fills the
cluster's centre, a relic lies in its outskirts, so the mean halo probability
within R500 (``R_halo_R500``) and the mean relic probability between R500 and
the aperture's edge (``R_relic_outskirts``) are measured too. A multinomial
logistic regression on the logarithms of these ratios, fitted on simulated
cluster fields whose content is known
(:func:`radiounet.evaluate.calibrate.calibrate_ratio_threshold`), turns them
into probabilities of the four outcomes that sum to one; its coefficients and
the names of its features are stored in the model card (``cluster_classes``)
and applied by ``detect``.
"""

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax

from radiounet.detect.aperture import aperture_ratio
from radiounet.errors import InvalidParameterError
from radiounet.sky.labels import CLUSTER_CLASSES

__all__ = ["CLUSTER_CLASSES", "CLUSTER_FEATURES", "class_ratios", "cluster_features", "fit_cluster_classifier",
           "cluster_class_probabilities", "cross_validated_probabilities", "classifier_from_calibration"]

#: Floor of the aperture ratios before the logarithm (an empty class is 0).
_FLOOR = 1e-5
#: Features of the regressions fitted from now on: log10 of the ratios :func:`class_ratios` measures.
CLUSTER_FEATURES = ("log10 R_halo", "log10 R_relic", "log10 R_radio_galaxy", "log10 R_halo_R500",
                    "log10 R_relic_outskirts")


def class_ratios(class_probability, class_names, x, y, radius, r500):
    """The mean probability of each diffuse class where it is expected, and of radio galaxies, as a dict.

    ``R_halo``, ``R_relic``, ``R_radio_galaxy``: within ``radius`` pixels of
    ``(x, y)`` (:func:`radiounet.detect.aperture.aperture_ratio`);
    ``R_halo_R500``: the halo probability within ``r500`` pixels;
    ``R_relic_outskirts``: the relic probability between ``r500`` and
    ``radius`` pixels (NaN if ``radius <= r500`` or no valid pixel lies there).
    ``class_probability`` is ``(classes, ny, nx)``, its planes named by ``class_names``.
    """
    plane = {name: class_probability[list(class_names).index(name)] for name in ("halo", "relic", "radio_galaxy")}
    within = {name: aperture_ratio(probability, x, y, radius) for name, probability in plane.items()}
    ratios = {f"R_{name}": aperture.ratio for name, aperture in within.items()}
    ratios["R_halo_R500"] = aperture_ratio(plane["halo"], x, y, r500).ratio
    whole, core = within["relic"], aperture_ratio(plane["relic"], x, y, r500)
    n_outskirts = whole.n_pixels - core.n_pixels
    ratios["R_relic_outskirts"] = (
        float((whole.ratio * whole.n_pixels - np.nan_to_num(core.ratio) * core.n_pixels) / n_outskirts)
        if radius > r500 and n_outskirts > 0 else float("nan"))
    return ratios


def cluster_features(ratios, feature_names=CLUSTER_FEATURES):
    """``(n, m)`` features named ``"log10 X"``: log10 of ``ratios[X]``, floored at 1e-5.

    ``ratios`` maps ratio names (``R_halo`` ...) to values or sequences: a
    :func:`class_ratios` dict, a detections or calibration table.
    """
    columns = []
    for name in feature_names:
        if not name.startswith("log10 "):
            raise InvalidParameterError("feature_names", name, "features must be named 'log10 RATIO'")
        ratio = name.removeprefix("log10 ")
        try:
            columns.append(np.atleast_1d(np.asarray(ratios[ratio], dtype=float)))
        except KeyError:
            raise InvalidParameterError("ratios", ratio, "is missing: measure it with class_ratios") from None
    with np.errstate(invalid="ignore"):
        return np.log10(np.maximum(np.column_stack(columns), _FLOOR))


def _design(features):
    return np.column_stack([np.ones(len(features)), features])


def fit_cluster_classifier(features, truth, *, l2=1.0, feature_names=CLUSTER_FEATURES):
    """Multinomial logistic regression of the outcome on the features.

    Parameters
    ----------
    features : numpy.ndarray
        ``(n, m)``, e.g. from :func:`cluster_features`.
    truth : sequence of str
        Names in :data:`CLUSTER_CLASSES`.
    l2 : float
        Ridge penalty on the slopes (not the intercepts): with few clusters
        of a class (relics alone are rare) it keeps the fit finite.
    feature_names : sequence of str
        Names of the ``m`` features, stored with the coefficients.

    Returns
    -------
    dict
        ``classes``, ``features`` and ``coefficients`` (``4 x (m + 1)``:
        intercept and slopes per class, the first class fixed at zero), ready
        for the model card and :func:`cluster_class_probabilities`.
    """
    features = np.asarray(features, dtype=float)
    unknown = sorted(set(truth) - set(CLUSTER_CLASSES))
    if unknown:
        raise InvalidParameterError("truth", unknown, f"classes must be among {', '.join(CLUSTER_CLASSES)}")
    if features.ndim != 2 or features.shape != (len(truth), len(feature_names)) or not np.isfinite(features).all():
        raise InvalidParameterError("features", features.shape,
                                    f"must be finite, ({len(truth)}, {len(feature_names)})")
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
    return dict(classes=list(CLUSTER_CLASSES), features=list(feature_names), coefficients=coefficients.tolist())


def cluster_class_probabilities(classifier, features):
    """``(n, 4)`` probabilities of :data:`CLUSTER_CLASSES` (NaN rows where a feature is NaN)."""
    coefficients = np.asarray(classifier["coefficients"], dtype=float)
    features = np.atleast_2d(np.asarray(features, dtype=float))
    with np.errstate(invalid="ignore"):
        probabilities = softmax(_design(features) @ coefficients.T, axis=1)
    probabilities[~np.isfinite(features).all(axis=1)] = np.nan
    return probabilities


def cross_validated_probabilities(features, truth, *, folds=5, seed=0, **fit):
    """Out-of-fold probabilities: each cluster's from a fit that did not see it (for honest metrics).

    ``fit``: keywords of :func:`fit_cluster_classifier`.
    """
    truth = np.asarray(truth)
    order = np.random.default_rng(seed).permutation(len(truth))
    probabilities = np.empty((len(truth), len(CLUSTER_CLASSES)))
    for fold in np.array_split(order, folds):
        train = np.setdiff1d(order, fold)
        classifier = fit_cluster_classifier(np.asarray(features)[train], list(truth[train]), **fit)
        probabilities[fold] = cluster_class_probabilities(classifier, np.asarray(features)[fold])
    return probabilities


def classifier_from_calibration(table, *, folds=5, feature_names=CLUSTER_FEATURES):
    """Fit on a calibration table and measure it out of fold.

    Parameters
    ----------
    table : astropy.table.Table
        With the ratios that ``feature_names`` name and ``cluster_class``
        (from :func:`radiounet.evaluate.calibrate.calibrate_ratio_threshold`
        with a class model).

    Returns
    -------
    dict
        :func:`fit_cluster_classifier`'s, plus ``n_fields``, ``n_per_class``,
        and, from the out-of-fold probabilities, ``cross_validated_accuracy``
        and ``confusion`` (rows: true outcome, columns: most probable one).
    """
    features = cluster_features(table, feature_names)
    truth = np.asarray([str(t) for t in table["cluster_class"]])
    classifier = fit_cluster_classifier(features, list(truth), feature_names=feature_names)
    out_of_fold = cross_validated_probabilities(features, truth, folds=folds, feature_names=feature_names)
    predicted = np.asarray(CLUSTER_CLASSES)[out_of_fold.argmax(1)]
    classifier.update(
        n_fields=len(truth),
        n_per_class={name: int(np.sum(truth == name)) for name in CLUSTER_CLASSES},
        cross_validated_accuracy=float(np.mean(predicted == truth)),
        confusion=[[int(np.sum((truth == a) & (predicted == b))) for b in CLUSTER_CLASSES] for a in CLUSTER_CLASSES],
    )
    return classifier
