"""Calibration of the detection-ratio threshold on synthetic cluster fields.

Fields with and without diffuse emission (radio galaxies included) are
simulated at the survey's pixels, segmented as ``radio-unet predict`` segments
an image (regridded for a model of another native sampling), and ``R`` is measured in
``factor x R500`` around each cluster exactly as ``radio-unet detect`` does;
the threshold that maximises the chosen metric over the sweep of R values is
the calibrated one. For a class model the mean class probabilities in the
aperture and the cluster's true class (none, halo, relic, both: what the
labels hold inside the aperture) are recorded too, to fit
:func:`radiounet.detect.cluster_class.fit_cluster_classifier`.
"""

import numpy as np
from astropy.table import QTable

from radiounet.detect.aperture import aperture_ratio
from radiounet.detect.cluster_class import class_ratios
from radiounet.evaluate.detections import binary_metrics
from radiounet.evaluate.synthetic import segment_simulated_field
from radiounet.sky import CLASS_NAMES, FieldConfig, SkyConfig, field_rng, simulate_field
from radiounet.sky.labels import cluster_class_of

__all__ = ["CALIBRATION_SEED", "calibrate_ratio_threshold"]

#: Seed of the calibration fields (distinct from training and held-out seeds).
CALIBRATION_SEED = 555_000_001


def calibrate_ratio_threshold(predictor, survey, *, n_fields=60, size=1024, factor=2.2, redshift=(0.1, 0.6),
                              metric="accuracy", seed=CALIBRATION_SEED):
    """Threshold on R that best separates simulated clusters with and without diffuse emission.

    Returns
    -------
    threshold : float
    table : astropy.table.QTable
        One row per field: ``R``, ``coverage``, ``diffuse`` (truth: a halo or relic whose mask is not empty),
        ``z``; for a class model also ``R_halo``, ``R_relic``, ``R_radio_galaxy`` and ``cluster_class``.
    metrics : dict
        :func:`radiounet.evaluate.detections.binary_metrics` at the threshold.
    """
    sky = SkyConfig(fraction_diffuse=0.5, fraction_radio_galaxies=0.35, redshift=tuple(redshift))
    config = FieldConfig(survey, shape=(size, size), sky=sky)
    rows = []
    for i in range(n_fields):
        field = simulate_field(config, field_rng(seed, i))
        prediction = segment_simulated_field(predictor, field, survey, f"calibration field {i} of seed {seed}")
        x, y = field.cluster.x, field.cluster.y
        radius = factor * field.cluster.r500_arcsec / survey.pixel_arcsec
        aperture = aperture_ratio(prediction.probability, x, y, radius)
        row = dict(R=aperture.ratio, coverage=aperture.coverage,
                   diffuse=bool(field.field_type == "diffuse" and field.mask.any()), z=field.cluster.z)
        if predictor.class_names:
            row.update(class_ratios(prediction.class_probability, predictor.class_names, x, y, radius))
            present = [aperture_ratio(field.labels == CLASS_NAMES.index(name), x, y, radius).ratio > 0
                       for name in ("halo", "relic")]
            row["cluster_class"] = cluster_class_of(*present)
        rows.append(row)
    table = QTable(rows=rows)
    ratios, truth = np.asarray(table["R"], dtype=float), np.asarray(table["diffuse"], dtype=bool)
    candidates = np.unique(np.concatenate([[0.0], ratios[np.isfinite(ratios)]]))
    scores = [binary_metrics(ratios > t, truth)[metric] for t in candidates]
    best = float(candidates[int(np.nanargmax(scores))])
    return best, table, binary_metrics(ratios > best, truth)
