"""The benchmark's figures of one setup from its per-image counts, and how much they would move with other images.

A benchmark cell pools a few dozen images, and the few nearest clusters,
hundreds of beams wide, weigh most in it: two image sets of the same sky
differ by several hundredths in Dice. :func:`setup_figures` computes the
figures from the per-image table (:data:`IMAGE_COLUMNS`) and, for
:data:`INTERVAL_FIGURES`, a bootstrap interval: the images with diffuse
emission and those with radio galaxies only are each drawn again with
replacement, the figures computed on every draw, and the interval is the
central ``level`` of them (percentile bootstrap, Efron & Tibshirani 1993).
Two models measured on the same images are compared on the same draws
(:func:`paired_differences`): the images that are hard for one are mostly hard
for the other, so the difference is known much better than either figure.
"""

import numpy as np

__all__ = ["IMAGE_COLUMNS", "INTERVAL_FIGURES", "INTERVAL_TITLES", "INTERVAL_LEVEL", "SURE_LEVEL",
           "BOOTSTRAP_RESAMPLES", "MIN_IMAGES_FOR_INTERVAL", "setup_figures", "paired_differences"]

#: One row per benchmark image: what it holds and what the model made of it (pixel counts on the image's grid;
#: ``called_fraction``: share of its pixels called diffuse; ``ratio``: R within 2.2 R500 of the cluster).
IMAGE_COLUMNS = ("family", "setup", "kind", "index", "z", "components", "mask_pixels", "tp", "fp", "fn", "halo",
                 "halo_found", "halo_as_galaxy", "relic", "relic_found", "relic_as_galaxy", "relic_hesitant",
                 "called_fraction", "ratio")
#: Figures given with a bootstrap interval (columns ``NAME_lo`` and ``NAME_hi``).
INTERVAL_FIGURES = ("dice", "halo_found", "relic_found", "relic_labelled_radio_galaxy", "radio_galaxy_called_mean",
                    "r_accuracy")
#: Column titles of :data:`INTERVAL_FIGURES` in the Markdown tables.
INTERVAL_TITLES = dict(dice="Dice", halo_found="halo found", relic_found="relic found",
                       relic_labelled_radio_galaxy="relic → RG", radio_galaxy_called_mean="RG images: mean",
                       r_accuracy="R accuracy")
_LABEL_FIGURES = ("halo_labelled_radio_galaxy", "relic_labelled_radio_galaxy", "relic_lost_to_hesitation")
#: Central share of the bootstrap draws that an interval holds (one sigma of a normal distribution).
INTERVAL_LEVEL = 0.68
#: Share of the paired draws that must agree on the sign of a difference for it to count as sure (one side of a
#: two-sided 95% interval).
SURE_LEVEL = 0.975
BOOTSTRAP_RESAMPLES = 2000
#: Fewest images holding what a figure counts for it to get an interval (or be called sure): with fewer, the
#: draws only repeat the same few images.
MIN_IMAGES_FOR_INTERVAL = 5


def setup_figures(images, ratio_threshold, labels=True, *, resamples=BOOTSTRAP_RESAMPLES, level=INTERVAL_LEVEL,
                  seed=0):
    """The figures of one family and setup from its images.

    Parameters
    ----------
    images : astropy.table.Table
        Columns :data:`IMAGE_COLUMNS`; ``kind`` is ``"diffuse"`` or ``"radio_galaxies"``.
    ratio_threshold : float
        A cluster is detected when its ``ratio`` is above it.
    labels : bool
        Whether the model labels classes (else the radio-galaxy and hesitation figures are NaN).
    resamples : int
        Bootstrap draws for the intervals (0: none).
    level : float
        Central share of the draws that an interval holds.
    seed : int
        Seed of the draws, so that the intervals are the same on every run.

    Returns
    -------
    dict
        ``dice``, ``precision``, ``recall`` of the diffuse mask, pooled over the images with diffuse emission;
        ``halo_found``, ``relic_found`` (pooled pixels) and their ``_median`` over the images holding such
        emission; ``halo_labelled_radio_galaxy``, ``relic_labelled_radio_galaxy``, ``relic_lost_to_hesitation``;
        ``radio_galaxy_called_mean`` and ``_p90`` over the radio-galaxy images; ``r_accuracy``, ``r_recall``,
        ``r_false_positive`` per cluster (an image whose diffuse emission stays under the mask threshold counts
        neither way); ``n_halo_pixels``, ``n_relic_pixels``; and ``NAME_lo``, ``NAME_hi`` for
        :data:`INTERVAL_FIGURES` (NaN without resamples, or where fewer than :data:`MIN_IMAGES_FOR_INTERVAL`
        images hold what the figure counts). Fractions in [0, 1], NaN where nothing was counted.
    """
    kind = np.asarray(images["kind"])
    everything = np.arange(len(images))[None]
    figures = {name: value[0].item() for name, value in _pooled(images, everything, ratio_threshold).items()}
    for name in ("halo", "relic"):
        whole = np.asarray(images[name], float)
        with_it = (kind == "diffuse") & (whole > 0)
        shares = np.asarray(images[f"{name}_found"], float)[with_it] / whole[with_it]
        figures[f"{name}_found_median"] = float(np.median(shares)) if len(shares) else np.nan
    called = np.asarray(images["called_fraction"], float)[kind == "radio_galaxies"]
    # The draws' masked sum differs from np.mean in the last bit for some image counts: the figure of record
    # stays the plain mean the benchmark always gave.
    figures["radio_galaxy_called_mean"] = float(np.mean(called)) if len(called) else np.nan
    figures["radio_galaxy_called_p90"] = float(np.percentile(called, 90)) if len(called) else np.nan
    if not labels:
        figures.update(dict.fromkeys(_LABEL_FIGURES, np.nan))
    draws = _pooled(images, _stratified_draws(kind, resamples, seed), ratio_threshold) if resamples else {}
    holding = _images_holding(images)
    for name in INTERVAL_FIGURES:
        values = draws.get(name, np.array([]))
        values = values[np.isfinite(values)]
        if len(values) and np.isfinite(figures[name]) and holding[name] >= MIN_IMAGES_FOR_INTERVAL:
            figures[f"{name}_lo"], figures[f"{name}_hi"] = (float(q) for q in np.quantile(
                values, [(1 - level) / 2, (1 + level) / 2]))
        else:
            figures[f"{name}_lo"] = figures[f"{name}_hi"] = np.nan
    return figures


def paired_differences(first, second, ratio_thresholds, labels=(True, True), *, resamples=BOOTSTRAP_RESAMPLES,
                       level=INTERVAL_LEVEL, seed=0):
    """The figures of ``second`` minus those of ``first``, two models measured on the same images.

    Parameters
    ----------
    first, second : astropy.table.Table
        Per-image tables (:data:`IMAGE_COLUMNS`) of the same images in the same order.
    ratio_thresholds : tuple of float
        Each model's R threshold.
    labels : tuple of bool
        Whether each model labels classes.
    resamples, level, seed
        As in :func:`setup_figures`; both models get the same draws.

    Returns
    -------
    dict
        For each of :data:`INTERVAL_FIGURES`: ``NAME`` (the difference), ``NAME_lo`` and ``NAME_hi`` (the central
        ``level`` of the paired draws) and ``NAME_sure`` (True where :data:`SURE_LEVEL` of the draws agree on its
        sign); no interval, and never sure, where fewer than :data:`MIN_IMAGES_FOR_INTERVAL` images hold what the
        figure counts.
    """
    for name in ("family", "setup", "kind", "index", "mask_pixels", "halo", "relic"):
        if len(first) != len(second) or np.any(np.asarray(first[name]) != np.asarray(second[name])):
            raise ValueError(f"the two tables hold other images (column {name} differs)")
    kind = np.asarray(first["kind"])
    everything = np.arange(len(first))[None]
    draws = _stratified_draws(kind, resamples, seed)
    point, spread = ([_pooled(table, take, threshold) for table, threshold in zip((first, second), ratio_thresholds)]
                     for take in (everything, draws))
    differences = {}
    holding = _images_holding(first)
    for name in INTERVAL_FIGURES:
        if name in _LABEL_FIGURES and not all(labels):
            differences.update({name: np.nan, f"{name}_lo": np.nan, f"{name}_hi": np.nan, f"{name}_sure": False})
            continue
        differences[name] = float(point[1][name][0] - point[0][name][0])
        values = spread[1][name] - spread[0][name]
        values = values[np.isfinite(values)]
        if not (len(values) and np.isfinite(differences[name]) and holding[name] >= MIN_IMAGES_FOR_INTERVAL):
            differences.update({f"{name}_lo": np.nan, f"{name}_hi": np.nan, f"{name}_sure": False})
            continue
        differences[f"{name}_lo"], differences[f"{name}_hi"] = (float(q) for q in np.quantile(
            values, [(1 - level) / 2, (1 + level) / 2]))
        differences[f"{name}_sure"] = bool(max(np.mean(values > 0), np.mean(values < 0)) >= SURE_LEVEL)
    return differences


def _images_holding(images):
    """For each of :data:`INTERVAL_FIGURES`, how many images hold what it counts."""
    diffuse = np.asarray(images["kind"]) == "diffuse"
    galaxies = ~diffuse
    relics = int((diffuse & (np.asarray(images["relic"]) > 0)).sum())
    return dict(dice=int((diffuse & (np.asarray(images["mask_pixels"]) > 0)).sum()),
                halo_found=int((diffuse & (np.asarray(images["halo"]) > 0)).sum()), relic_found=relics,
                relic_labelled_radio_galaxy=relics, radio_galaxy_called_mean=int(galaxies.sum()),
                r_accuracy=int((diffuse & (np.asarray(images["mask_pixels"]) > 0)).sum() + galaxies.sum()))


def _stratified_draws(kind, resamples, seed):
    """``(resamples, n)`` row indices: each kind of image drawn with replacement from its own rows."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(kind == name) for name in ("diffuse", "radio_galaxies")]
    return np.concatenate([rng.choice(rows, size=(resamples, len(rows))) for rows in groups if len(rows)], axis=1)


def _pooled(images, take, ratio_threshold):
    """The pooled figures of each draw: ``take`` is ``(draws, n)`` row indices; returns arrays of ``draws``."""

    def column(name):
        return np.asarray(images[name], float)[take]

    diffuse = (np.asarray(images["kind"]) == "diffuse")[take]
    galaxies = ~diffuse

    def total(name):
        return np.where(diffuse, column(name), 0.0).sum(axis=1)

    tp, fp, fn = total("tp"), total("fp"), total("fn")
    detected = column("ratio") > ratio_threshold
    positives = diffuse & (column("mask_pixels") > 0)
    counted = positives | galaxies
    return dict(
        dice=_ratio(2 * tp, 2 * tp + fp + fn, empty=0.0), precision=_ratio(tp, tp + fp, empty=0.0),
        recall=_ratio(tp, tp + fn, empty=0.0),
        halo_found=_ratio(total("halo_found"), total("halo")), relic_found=_ratio(total("relic_found"), total("relic")),
        halo_labelled_radio_galaxy=_ratio(total("halo_as_galaxy"), total("halo")),
        relic_labelled_radio_galaxy=_ratio(total("relic_as_galaxy"), total("relic")),
        relic_lost_to_hesitation=_ratio(total("relic_hesitant"), total("relic")),
        radio_galaxy_called_mean=_ratio(np.where(galaxies, column("called_fraction"), 0.0).sum(axis=1),
                                        galaxies.sum(axis=1)),
        r_accuracy=_ratio((detected & positives).sum(axis=1) + (~detected & galaxies).sum(axis=1),
                          counted.sum(axis=1)),
        r_recall=_ratio((detected & positives).sum(axis=1), positives.sum(axis=1)),
        r_false_positive=_ratio((detected & galaxies).sum(axis=1), galaxies.sum(axis=1)),
        n_halo_pixels=total("halo").astype(int), n_relic_pixels=total("relic").astype(int))


def _ratio(numerator, denominator, empty=np.nan):
    """``numerator / denominator`` elementwise, ``empty`` where the denominator is 0."""
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    return np.divide(numerator, denominator, out=np.full(numerator.shape, empty), where=denominator > 0)
