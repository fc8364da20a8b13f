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

R is a mean probability, so it also counts the low probability a model puts
on noise. The noise of real survey images stays correlated over a few beams
where the simulator's does not, and a threshold calibrated on the simulator's
noise alone can lie below what real fields without any diffuse emission give.
``correlated_noise`` adds to every field a stand-in for it: a Gaussian random
field smoothed over 1.5 beam FWHM holding a given share of the noise variance
(30% reproduces the mean probability of the real LoTSS-DR1 test fields for
the shipped models; docs/model-experiments.md).
"""

from dataclasses import replace

import numpy as np
import torch
from astropy.table import QTable
from tqdm import tqdm

from radiounet.detect.aperture import aperture_ratio
from radiounet.detect.cluster_class import class_ratios
from radiounet.errors import InvalidParameterError
from radiounet.evaluate.detections import binary_metrics
from radiounet.evaluate.synthetic import segment_simulated_field
from radiounet.sky import CLASS_NAMES, FieldConfig, SkyConfig, field_rng, simulate_field
from radiounet.sky.labels import cluster_class_of
from radiounet.sky.observe import CORRELATED_NOISE_SCALE
from radiounet.train.augment import correlated_noise as smoothed_noise

__all__ = ["CALIBRATION_SEED", "SURVEY_SEED_STEP", "CORRELATED_NOISE_SCALE", "survey_seeds", "calibration_fields",
           "calibrate_ratio_threshold", "calibrate_across_surveys", "best_ratio_threshold", "short_threshold",
           "with_correlated_noise"]

#: Seed of the calibration fields, distinct from the training, held-out and benchmark seeds: no calibration
#: field shares its cluster (mass, redshift, position) with an image the benchmark scores the threshold on.
CALIBRATION_SEED = 333_000_001
#: Seed offset between the surveys of :func:`calibrate_across_surveys`, so that each draws clusters of its own
#: (with one seed, field i of every survey would hold the same cluster, seen by another beam).
SURVEY_SEED_STEP = 1000


def survey_seeds(surveys, seed):
    """``{name: seed}`` for several surveys measured together: ``seed + k * SURVEY_SEED_STEP`` for the k-th name in
    sorted order, so that each survey draws clusters of its own whatever the order the surveys are given in."""
    names = sorted(survey.name for survey in surveys)
    if len(set(names)) != len(names):
        raise InvalidParameterError("surveys", names, "must have distinct names")
    return {name: seed + k * SURVEY_SEED_STEP for k, name in enumerate(names)}


def calibration_fields(survey, *, n_fields=60, size=1024, redshift=(0.1, 0.6), seed=CALIBRATION_SEED):
    """The calibration's simulated cluster fields of one survey, drawn lazily.

    Half hold a halo and/or relics, 35% radio galaxies only, the rest neither;
    field ``i`` is drawn from :func:`radiounet.sky.field_rng` ``(seed, i)``.
    """
    sky = SkyConfig(fraction_diffuse=0.5, fraction_radio_galaxies=0.35, redshift=tuple(redshift))
    config = FieldConfig(survey, shape=(size, size), sky=sky)
    for i in range(n_fields):
        yield simulate_field(config, field_rng(seed, i))


def calibrate_ratio_threshold(predictor, survey, *, n_fields=60, size=1024, factor=2.2, redshift=(0.1, 0.6),
                              metric="accuracy", seed=CALIBRATION_SEED, correlated_noise=0.0,
                              correlated_noise_scale=CORRELATED_NOISE_SCALE, progress=False):
    """Threshold on R that best separates simulated clusters with and without diffuse emission.

    Parameters
    ----------
    seed : int
        Seed of the fields (:func:`calibration_fields`).
    correlated_noise : float
        Share of the noise variance (0 to 0.9) that a Gaussian random field
        smoothed by a Gaussian of ``correlated_noise_scale`` beam FWHM (sigma)
        added to every field holds (:func:`with_correlated_noise`): a stand-in
        for the correlated noise of real images. 0 (default) keeps the
        simulator's noise.
    correlated_noise_scale : float
        Its smoothing, in beam FWHM.
    progress : bool
        A progress bar over the fields.

    Returns
    -------
    threshold : float
    table : astropy.table.QTable
        One row per field: ``R``, ``coverage``, ``diffuse`` (truth: a halo or relic whose mask is not empty),
        ``z``; for a class model also the ratios of
        :func:`radiounet.detect.cluster_class.class_ratios` and ``cluster_class``.
    metrics : dict
        :func:`radiounet.evaluate.detections.binary_metrics` at the threshold.
    """
    if not 0 <= correlated_noise <= 0.9:
        raise InvalidParameterError("correlated_noise", correlated_noise, "must lie between 0 and 0.9")
    rows = []
    fields = calibration_fields(survey, n_fields=n_fields, size=size, redshift=redshift, seed=seed)
    for i, field in enumerate(tqdm(fields, total=n_fields, unit="field", disable=not progress, desc=survey.name)):
        if correlated_noise:
            # A stream of the field's own (seed, index), so that no two fields of any survey share the added noise.
            noise_seed = int(np.random.SeedSequence([seed, i, 1]).generate_state(1)[0])
            field = with_correlated_noise(field, survey, correlated_noise, correlated_noise_scale, seed=noise_seed)
        prediction = segment_simulated_field(predictor, field, survey, f"calibration field {i} of seed {seed}")
        x, y = field.cluster.x, field.cluster.y
        radius = factor * field.cluster.r500_arcsec / survey.pixel_arcsec
        aperture = aperture_ratio(prediction.probability, x, y, radius)
        row = dict(R=aperture.ratio, coverage=aperture.coverage,
                   diffuse=bool(field.field_type == "diffuse" and field.mask.any()), z=field.cluster.z)
        if predictor.class_names:
            row.update(class_ratios(prediction.class_probability, predictor.class_names, x, y, radius,
                                    radius / factor))
            present = [aperture_ratio(field.labels == CLASS_NAMES.index(name), x, y, radius).ratio > 0
                       for name in ("halo", "relic")]
            row["cluster_class"] = cluster_class_of(*present)
        rows.append(row)
    table = QTable(rows=rows)
    best = best_ratio_threshold(table, metric)
    return best, table, binary_metrics(np.asarray(table["R"], dtype=float) > best, _truth(table))


def _truth(table):
    return np.asarray(table["diffuse"], dtype=bool)


def best_ratio_threshold(table, metric="accuracy"):
    """The R threshold that maximises ``metric`` over the fields of a calibration ``table``."""
    ratios = np.asarray(table["R"], dtype=float)
    candidates = np.unique(np.concatenate([[0.0], ratios[np.isfinite(ratios)]]))
    scores = [binary_metrics(ratios > t, _truth(table))[metric] for t in candidates]
    return float(candidates[int(np.nanargmax(scores))])


def short_threshold(threshold, ratios):
    """``threshold`` rounded up to 3 significant digits (more if needed), so that it decides every R of ``ratios``
    as ``threshold`` does (``R > threshold``).

    A calibrated threshold is the R of one field: printed rounded to the nearest it can fall below that R and
    turn the field into a detection. This one lies above ``threshold`` and below the next larger R.

    Examples
    --------
    >>> short_threshold(0.0041391637, [0.002, 0.0041391637, 0.0045])
    0.00414
    """
    ratios = np.asarray(ratios, dtype=float)
    above = ratios[np.isfinite(ratios) & (ratios > threshold)]
    upper = above.min() if above.size else np.inf
    if threshold <= 0:
        return float(threshold)
    for digits in range(3, 17):
        step = 10.0 ** (np.floor(np.log10(threshold)) - digits + 1)
        candidate = float(f"{np.ceil(threshold / step) * step:.{digits}g}")
        if threshold < candidate < upper:
            return candidate
    return float(threshold)


def calibrate_across_surveys(predictor, surveys, *, n_fields=60, metric="accuracy", seed=CALIBRATION_SEED,
                             **kwargs):
    """One R threshold for clusters seen by several surveys, and how each survey fares with it.

    R is a mean probability over 2.2 R500: for a model that segments alike at
    every resolution it does not depend on the beam, but the share of the
    aperture a halo fills at the mask threshold does (a distant halo seen by a
    large beam fills less of it). Fields of every survey are pooled and one
    threshold chosen on them; each survey's metrics at that threshold and its
    own best threshold show how far one threshold serves them all.

    Parameters
    ----------
    predictor : radiounet.inference.Predictor
    surveys : sequence of radiounet.sky.Survey
    n_fields : int
        Fields per survey.
    seed : int
        The fields of the survey whose name comes k-th in sorted order draw at ``seed + k * SURVEY_SEED_STEP``,
        whatever the order in which the surveys are given.
    **kwargs
        Passed to :func:`calibrate_ratio_threshold` (``size``, ``redshift``, ``correlated_noise``, ...).

    Returns
    -------
    threshold : float
    table : astropy.table.QTable
        The fields of every survey, with a ``survey`` column.
    metrics : dict
        Pooled metrics at the threshold, with ``per_survey``: for each survey's
        name its metrics at the pooled threshold and ``own_threshold``, the
        threshold best for it alone.
    """
    from astropy.table import vstack

    tables, per_survey = [], {}
    seeds = survey_seeds(surveys, seed)
    for survey in surveys:
        own, table, _ = calibrate_ratio_threshold(predictor, survey, n_fields=n_fields, metric=metric,
                                                  seed=seeds[survey.name], **kwargs)
        table["survey"] = survey.name
        tables.append(table)
        per_survey[survey.name] = dict(own_threshold=own)
    table = vstack(tables)
    best = best_ratio_threshold(table, metric)
    for name, entry in per_survey.items():
        mine = table[table["survey"] == name]
        entry.update(binary_metrics(np.asarray(mine["R"], dtype=float) > best, _truth(mine)))
    metrics = binary_metrics(np.asarray(table["R"], dtype=float) > best, _truth(table))
    return best, table, dict(metrics, per_survey=per_survey)


def with_correlated_noise(field, survey, share, scale=CORRELATED_NOISE_SCALE, *, seed=0):
    """``field`` with a Gaussian random field smoothed over ``scale`` beam FWHM (sigma) added to its image.

    The added field's rms is ``sqrt(share / (1 - share))`` times the survey's,
    so that it holds ``share`` of the variance of the noise, which grows by
    ``1 / sqrt(1 - share)`` (1.2 for 0.3; ``predict`` measures the noise in
    the image, so the normalisation follows). Labels, mask and the halo's and
    relics' SNR (``diffuse_snr``, against the survey's rms as the simulator's
    ``correlated_noise`` leaves it too) are kept; ``seed`` makes the added
    field reproducible.
    """
    shape = (1, 1) + field.image.shape
    sigma = torch.tensor([scale * survey.beam_fwhm_pixels], dtype=torch.float32)
    noise = smoothed_noise(shape, sigma, torch.Generator().manual_seed(int(seed)))[0, 0].numpy()
    return replace(field, image=field.image + np.sqrt(share / (1 - share)) * survey.rms_jy * noise)
