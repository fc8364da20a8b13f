"""The diffuse-probability threshold, chosen on whole simulated images the model never saw.

A threshold that is best on training tiles (foreground crops of the training
distribution) is not best on whole images: the label weights of training push
the probability up, and a whole image holds mostly sky far from any cluster.
:func:`select_threshold` segments whole images of several surveys once, as
``predict`` does, and scores every candidate threshold on them: the diffuse
Dice of the images with a halo or relics (pooled per survey) and the share of
the pixels of radio-galaxy-only images called diffuse. The images come from the
training simulator at :data:`THRESHOLD_SEED`, a seed of their own (not the
benchmark's, not the held-out fields'), so that the benchmark stays a measure
of the chosen threshold rather than the place it was chosen.
"""

import numpy as np
from astropy.table import Table

from radiounet._overlap import overlap_metrics
from radiounet.errors import InvalidParameterError
from radiounet.evaluate.calibrate import survey_seeds
from radiounet.evaluate.pixels import pixel_counts
from radiounet.evaluate.synthetic import HELD_OUT_SEED, _segmented_images
from radiounet.models.outputs import called_diffuse

__all__ = ["select_threshold", "THRESHOLD_SEED", "DEFAULT_THRESHOLDS"]

#: Seed of the images the threshold is chosen on.
THRESHOLD_SEED = HELD_OUT_SEED + 900
#: Candidate thresholds.
DEFAULT_THRESHOLDS = tuple(np.round(np.arange(0.30, 0.81, 0.05), 2))


def select_threshold(predictor, surveys, *, thresholds=DEFAULT_THRESHOLDS, size=512, n_fields=24,
                     n_radio_galaxy_fields=12, redshift=(0.02, 0.9), mask_threshold=0.5, max_radio_galaxy_called=None,
                     seed=THRESHOLD_SEED):
    """The threshold with the best mean diffuse Dice over ``surveys`` on whole simulated images.

    Parameters
    ----------
    predictor : radiounet.inference.Predictor
        Its own threshold is not used.
    surveys : sequence of radiounet.sky.Survey
        Each survey (names unique) gets one vote: the mean of their Dice is maximised.
    thresholds : sequence of float
        Candidates, each in (0, 1).
    size, n_fields, n_radio_galaxy_fields : int
        Side of the images (at each survey's own pixels), and images per survey with a halo and/or relics and
        with radio galaxies only.
    redshift : tuple
        Cluster redshifts, drawn uniformly.
    mask_threshold : float
        The reference mask's threshold in units of the rms (the training configuration's ``data.mask_threshold``).
    max_radio_galaxy_called : float, optional
        Only thresholds whose share of radio-galaxy-image pixels called diffuse (mean over the images of every
        survey) is at most this are eligible; if none is, the one calling the least.
    seed : int
        Seed of the images, one per survey (:func:`radiounet.evaluate.calibrate.survey_seeds`), so that no two
        surveys see the same clusters.

    Returns
    -------
    threshold : float
    table : astropy.table.Table
        One row per candidate: ``threshold``, ``dice_mean``, ``radio_galaxy_called_mean`` (over every survey's
        radio-galaxy images), and per survey ``dice_<name>`` and ``radio_galaxy_called_<name>``.
    """
    thresholds = np.asarray(thresholds, dtype=float)
    if thresholds.size == 0 or not np.all((thresholds > 0) & (thresholds < 1)):
        raise InvalidParameterError("thresholds", list(thresholds), "must be probabilities in (0, 1)")
    names = [survey.name for survey in surveys]
    if not names or len(set(names)) != len(names):
        raise InvalidParameterError("surveys", names, "must be one or more surveys of distinct names")
    table = Table({"threshold": thresholds})
    images = dict(predictor=predictor, size=size, redshift=tuple(redshift), mask_threshold=mask_threshold)
    called = []
    seeds = survey_seeds(surveys, seed)
    for survey in surveys:
        own_seed = seeds[survey.name]
        counts = np.zeros((len(thresholds), 3))
        for field, prediction in _segmented_images(survey=survey, n=n_fields, seed=own_seed, diffuse=True, **images):
            for i, threshold in enumerate(thresholds):
                pixels = pixel_counts(prediction.probability, field.mask, threshold)
                counts[i] += pixels["tp"], pixels["fp"], pixels["fn"]
        table[f"dice_{survey.name}"] = [overlap_metrics(*row, empty=0.0)["dice"] for row in counts]
        shares = np.array([[np.mean(called_diffuse(prediction.probability, t)) for t in thresholds]
                           for _, prediction in
                           _segmented_images(survey=survey, n=n_radio_galaxy_fields, seed=own_seed + 1, diffuse=False,
                                             **images)])
        table[f"radio_galaxy_called_{survey.name}"] = shares.mean(axis=0)
        called.append(shares)
    table["dice_mean"] = np.mean([table[f"dice_{s.name}"] for s in surveys], axis=0)
    table["radio_galaxy_called_mean"] = np.concatenate(called).mean(axis=0)
    eligible = np.ones(len(thresholds), dtype=bool)
    if max_radio_galaxy_called is not None:
        eligible = table["radio_galaxy_called_mean"] <= max_radio_galaxy_called
    if not eligible.any():
        return float(thresholds[np.argmin(table["radio_galaxy_called_mean"])]), table
    best = np.flatnonzero(eligible)[np.argmax(np.asarray(table["dice_mean"])[eligible])]
    return float(thresholds[best]), table
