"""Held-out synthetic fields: how well a model segments diffuse emission, and how much it calls
diffuse where there is none (fields with radio galaxies only, or compact sources only).

:func:`evaluate_synthetic` scores fields of one tile (the field size is the
model's tile size), each normalised with the noise estimated from the image
itself. :func:`evaluate_whole_images` scores larger images segmented as
``predict`` does (sliding window, tile borders cropped), where relics lie at
their own distance from the cluster and anywhere in a tile.
"""

from dataclasses import replace

import numpy as np
import torch

from radiounet._overlap import overlap_metrics
from radiounet.data.normalize import estimate_rms, normalize
from radiounet.evaluate.pixels import pixel_counts
from radiounet.io.image import RadioImage
from radiounet.models.outputs import called_diffuse, diffuse_probability
from radiounet.sky import FieldConfig, SkyConfig, field_rng, simulate_field
from radiounet.sky.labels import CLASS_NAMES
from radiounet.train.metrics import ConfusionCounts

__all__ = ["evaluate_synthetic", "evaluate_whole_images", "segment_simulated_field", "add_diffuse_counts",
           "DIFFUSE_COUNTS", "radio_galaxy_outcome",
           "radio_galaxy_labelled", "RADIO_GALAXY_OUTCOMES", "HELD_OUT_SEED", "WHOLE_IMAGE_SEED"]

#: Seed of the held-out fields; training configurations use other seeds.
HELD_OUT_SEED = 777_000_001
#: Seed of the held-out whole images (:func:`evaluate_whole_images`).
WHOLE_IMAGE_SEED = HELD_OUT_SEED + 500


def _probabilities(model, images, device, batch_size):
    """Diffuse-emission probabilities ``(n, H, W)`` and, for a class model, the predicted classes (else None)."""
    probability, classes = [], []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = np.stack([normalize(im, estimate_rms(im)) for im in images[start:start + batch_size]])
            logits = model(torch.from_numpy(batch)[:, None].to(device)).float()
            probability.append(diffuse_probability(logits)[:, 0].cpu().numpy())
            classes.append(logits.argmax(1).cpu().numpy())
    return np.concatenate(probability), (np.concatenate(classes) if logits.shape[1] > 1 else None)


#: What a field's radio galaxies are taken for (:func:`radio_galaxy_outcome`).
RADIO_GALAXY_OUTCOMES = ("radio_galaxy", "halo_or_relic", "compact_or_background")


def radio_galaxy_outcome(predicted, labels):
    """What a field's radio galaxies are labelled, judged in their footprint (true label radio galaxy).

    ``"radio_galaxy"`` when more of its pixels are predicted radio galaxy than
    halo or relic, ``"halo_or_relic"`` when at least as many are predicted
    halo or relic (and some are), ``"compact_or_background"`` when none is
    predicted radio galaxy, halo or relic; None for a field without radio galaxy.
    """
    footprint = labels == CLASS_NAMES.index("radio_galaxy")
    if not footprint.any():
        return None
    inside = predicted[footprint]
    as_galaxy = np.sum(inside == CLASS_NAMES.index("radio_galaxy"))
    as_diffuse = np.sum((inside == CLASS_NAMES.index("halo")) | (inside == CLASS_NAMES.index("relic")))
    if as_galaxy > as_diffuse:
        return "radio_galaxy"
    return "halo_or_relic" if as_diffuse else "compact_or_background"


def radio_galaxy_labelled(predicted, labels):
    """Whether a field's radio galaxies are labelled as such (:func:`radio_galaxy_outcome` is
    ``"radio_galaxy"``); None for a field without radio galaxy."""
    outcome = radio_galaxy_outcome(predicted, labels)
    return None if outcome is None else outcome == "radio_galaxy"


def evaluate_synthetic(model, survey, *, tile_size=192, n_fields=100, threshold=0.5, seed=HELD_OUT_SEED,
                       redshift=(0.05, 0.6), mask_threshold=0.5, device="cpu", batch_size=16):
    """Metrics of ``model`` on ``n_fields`` held-out fields of each kind.

    Returns
    -------
    dict
        ``diffuse``: pixel Dice, IoU, precision and recall over all diffuse
        fields together, and the median Dice per field; ``radio_galaxies`` and
        ``empty``: mean, 90th percentile and maximum over fields of the
        fraction of pixels called diffuse; for ``radio_galaxies`` also the
        fraction of the galaxies' own pixels (label radio galaxy) called
        diffuse, which does not depend on the field size. For a
        class model also ``classes``: the pixel confusion matrix over all
        fields (rows true, columns predicted class), the Dice of each class,
        the fraction of fields holding a radio galaxy where it is
        labelled as one (:func:`radio_galaxy_labelled`), and the fractions of
        each outcome (:func:`radio_galaxy_outcome`) for all those fields and
        for those of each kind.
    """
    model = model.to(device).eval()
    kinds = {"diffuse": (1.0, 0.0), "radio_galaxies": (0.0, 1.0), "empty": (0.0, 0.0)}
    base = FieldConfig(survey, shape=(tile_size, tile_size), mask_threshold=mask_threshold)
    results = {}
    confusion = ConfusionCounts(len(CLASS_NAMES))
    outcomes = {}
    for k, (kind, (f_diffuse, f_galaxies)) in enumerate(kinds.items()):
        config = replace(base, sky=SkyConfig(fraction_diffuse=f_diffuse, fraction_radio_galaxies=f_galaxies,
                                             redshift=tuple(redshift)))
        fields = [simulate_field(config, field_rng(seed + k, i)) for i in range(n_fields)]
        probability, classes = _probabilities(model, [f.image for f in fields], device, batch_size)
        labels = np.stack([f.labels for f in fields])
        if classes is not None:
            confusion.update(torch.from_numpy(classes), torch.from_numpy(labels.astype(np.int64)))
            with_galaxy = [o for o in map(radio_galaxy_outcome, classes, labels) if o is not None]
            if with_galaxy:
                outcomes[kind] = with_galaxy
        predicted = called_diffuse(probability, threshold)
        truth = np.stack([f.mask for f in fields])
        if kind == "diffuse":
            pixels = pixel_counts(probability, truth, threshold)
            per_field = [2 * (p & t).sum() / max(p.sum() + t.sum(), 1) for p, t in zip(predicted, truth)
                         if t.any()]
            results[kind] = dict(**overlap_metrics(pixels["tp"], pixels["fp"], pixels["fn"], empty=0.0),
                                 median_field_dice=float(np.median(per_field)), n_fields=n_fields)
        else:
            fractions = predicted.reshape(n_fields, -1).mean(axis=1)
            results[kind] = dict(mean_fraction_called_diffuse=float(fractions.mean()),
                                 p90_fraction_called_diffuse=float(np.percentile(fractions, 90)),
                                 max_fraction_called_diffuse=float(fractions.max()), n_fields=n_fields)
            if kind == "radio_galaxies":
                footprint = labels == CLASS_NAMES.index("radio_galaxy")
                results[kind]["footprint_fraction_called_diffuse"] = (float(predicted[footprint].mean())
                                                                     if footprint.any() else float("nan"))
    if outcomes:
        pooled = [o for kind_outcomes in outcomes.values() for o in kind_outcomes]
        results["classes"] = dict(
            names=list(CLASS_NAMES), confusion=confusion.counts.long().tolist(),
            dice=dict(zip(CLASS_NAMES, confusion.dice())), n_fields_with_radio_galaxy=len(pooled),
            radio_galaxy_labelled_fraction=_share(pooled, "radio_galaxy"),
            radio_galaxy_outcomes={kind: dict(n_fields=len(o), **{name: _share(o, name) for name in
                                                                   RADIO_GALAXY_OUTCOMES})
                                   for kind, o in {"all": pooled, **outcomes}.items()})
    return results


def _share(outcomes, name):
    return float(np.mean([o == name for o in outcomes])) if outcomes else float("nan")


def evaluate_whole_images(predictor, survey, *, size=1024, n_fields=40, n_radio_galaxy_fields=24,
                          seed=WHOLE_IMAGE_SEED, redshift=(0.05, 0.6), mask_threshold=0.5):
    """Metrics of a :class:`radiounet.inference.Predictor` on held-out whole images.

    Each ``size`` x ``size`` image, at the survey's own pixels, goes through
    :meth:`~radiounet.inference.Predictor.predict` as in ``predict``: a model
    of another native sampling sees it regridded, and its map is regridded back,
    so that models of any sampling are scored on the same images.

    Returns
    -------
    dict
        ``diffuse`` (``n_fields`` images with a halo and/or relics): pixel Dice,
        IoU, precision and recall over all images together, the fraction of
        the halo and of the relic pixels called diffuse and, for a class
        model, of the relic pixels labelled radio galaxy; ``radio_galaxies``
        (``n_radio_galaxy_fields`` images): the mean and 90th percentile over
        images of the fraction of pixels called diffuse.
    """
    images = dict(predictor=predictor, survey=survey, size=size, redshift=redshift, mask_threshold=mask_threshold)
    counts = dict.fromkeys(DIFFUSE_COUNTS, 0)
    for field, prediction in _segmented_images(n=n_fields, seed=seed, diffuse=True, **images):
        add_diffuse_counts(counts, prediction, field, predictor.threshold)
    diffuse = dict(**overlap_metrics(counts["tp"], counts["fp"], counts["fn"], empty=0.0),
                   halo_found=_share_of(counts["halo_found"], counts["halo"]),
                   relic_found=_share_of(counts["relic_found"], counts["relic"]), n_fields=n_fields, size=size)
    if predictor.class_names:
        diffuse["relic_labelled_radio_galaxy"] = _share_of(counts["relic_as_galaxy"], counts["relic"])
    fractions = [float(prediction.mask.mean()) for _, prediction in
                 _segmented_images(n=n_radio_galaxy_fields, seed=seed + 1, diffuse=False, **images)]
    galaxies = dict(mean_fraction_called_diffuse=float(np.mean(fractions)),
                    p90_fraction_called_diffuse=float(np.percentile(fractions, 90)),
                    n_fields=n_radio_galaxy_fields, size=size)
    return dict(diffuse=diffuse, radio_galaxies=galaxies)


#: What :func:`add_diffuse_counts` counts.
DIFFUSE_COUNTS = ("tp", "fp", "fn", "halo", "halo_found", "halo_as_galaxy", "relic", "relic_found", "relic_as_galaxy",
                  "relic_hesitant")


def add_diffuse_counts(counts, prediction, field, threshold):
    """Add to ``counts`` (keys :data:`DIFFUSE_COUNTS`) one segmented field's pixels: true and false positives
    and false negatives of the diffuse mask at ``threshold``; halo and relic pixels, those called diffuse and
    (a class model) those labelled radio galaxy, and the relic pixels lost to hesitation (``relic_hesitant``:
    not called diffuse, though P(halo) + P(relic) + P(radio galaxy) reaches the threshold: the model split the
    pixel's probability between diffuse emission and a radio galaxy; for a gated model with the conditional
    rule, what its gate moved to radio galaxy counts too)."""
    pixels = pixel_counts(prediction.probability, field.mask, threshold)
    for key in ("tp", "fp", "fn"):
        counts[key] += pixels[key]
    labelled = prediction.class_probability.argmax(0) if prediction.class_probability is not None else None
    for name in ("halo", "relic"):
        where = field.labels == CLASS_NAMES.index(name)
        counts[name] += int(where.sum())
        counts[f"{name}_found"] += int(prediction.mask[where].sum())
        if labelled is not None:
            counts[f"{name}_as_galaxy"] += int((labelled[where] == CLASS_NAMES.index("radio_galaxy")).sum())
    if prediction.class_probability is not None:
        where = (field.labels == CLASS_NAMES.index("relic")) & ~prediction.mask
        galaxy = prediction.class_probability[list(prediction.class_names).index("radio_galaxy")]
        counts["relic_hesitant"] += int((prediction.probability[where] + galaxy[where] >= threshold).sum())


def _segmented_images(predictor, survey, size, n, seed, diffuse, redshift, mask_threshold):
    """``(field, its Prediction)`` for ``n`` simulated images with diffuse emission, or with radio galaxies only."""
    config = FieldConfig(survey, shape=(size, size), mask_threshold=mask_threshold,
                         sky=SkyConfig(fraction_diffuse=float(diffuse), fraction_radio_galaxies=float(not diffuse),
                                       redshift=tuple(redshift)))
    for i in range(n):
        field = simulate_field(config, field_rng(seed, i))
        yield field, segment_simulated_field(predictor, field, survey, f"simulated image {i} of seed {seed}")


def segment_simulated_field(predictor, field, survey, name):
    """The :class:`~radiounet.inference.Prediction` of a simulated field of ``survey``, segmented as
    ``radio-unet predict`` segments an image.

    The field goes through :meth:`~radiounet.inference.Predictor.predict` with
    its WCS and the survey's beam, so that a model of another native sampling
    sees it regridded and its maps come back on the field's pixels; ``name``
    stands for the file name in messages.
    """
    image = RadioImage(path=name, data=field.image, jy_per_unit=1.0, wcs=field.wcs, beam=survey.beam,
                       header=field.wcs.to_header())
    return predictor.predict(image)


def _share_of(part, whole):
    return part / whole if whole else float("nan")
