"""Reference mask and per-pixel class labels.

Both are computed from the sky components convolved with the survey beam
(noise-free), with one threshold in units of the image rms:

* the **mask** marks pixels where the diffuse sky (halos + relics) is above
  the threshold; radio galaxies and compact sources never enter it;
* the **labels** (rule ``"mask"``, the reference) agree with the mask: a
  masked pixel is labelled halo or relic, whichever is brighter there;
  elsewhere a pixel takes the brighter of radio galaxy and compact source if
  that is above the threshold, else background. So ``labels in (halo, relic)``
  is exactly the mask.

Rule ``"brightest"`` is for training class models: a masked pixel where a
radio galaxy or compact source outshines halo and relic together takes that
class, so a galaxy lying on a halo keeps its body. ``labels in (halo, relic)``
is then a subset of the mask. Evaluations use the reference rule.
"""

import numpy as np

from radiounet.classes import CLASS_NAMES
from radiounet.errors import InvalidParameterError

__all__ = ["CLASS_NAMES", "CLASS_LAYERS", "CLUSTER_CLASSES", "LABEL_RULES", "diffuse_mask", "class_labels",
           "labelled_snr", "cluster_class_of"]

#: Order of the component layers of a field's sky model (classes 1..4).
CLASS_LAYERS = CLASS_NAMES[1:]
#: What a cluster hosts, as ``detect`` reports it for a class model.
CLUSTER_CLASSES = ("none", "halo", "relic", "both")
#: Labelling rules of :func:`class_labels` (see the module docstring).
LABEL_RULES = ("mask", "brightest")


def diffuse_mask(convolved_layers, threshold_jy):
    """Boolean mask where halo + relic brightness (layers 0 and 1) exceeds ``threshold_jy``."""
    return (convolved_layers[0] + convolved_layers[1]) > threshold_jy


def class_labels(convolved_layers, threshold_jy, rule="mask"):
    """uint8 class map (values index :data:`CLASS_NAMES`) from the convolved layers, by ``rule``
    (one of :data:`LABEL_RULES`)."""
    halo, relic, galaxy, compact = convolved_layers
    labels = np.zeros(halo.shape, dtype=np.uint8)
    other = np.maximum(galaxy, compact)
    labels[other > threshold_jy] = np.where(galaxy >= compact, 3, 4)[other > threshold_jy]
    diffuse = diffuse_mask(convolved_layers, threshold_jy)
    if rule == "brightest":
        diffuse &= other <= halo + relic
    elif rule != "mask":
        raise InvalidParameterError("label_rule", rule, f"must be one of {', '.join(LABEL_RULES)}")
    labels[diffuse] = np.where(halo >= relic, 1, 2)[diffuse]
    return labels


def labelled_snr(convolved_layers, labels, rms_jy, beam_area_pixels):
    """Signal-to-noise ratio of the halo and of the relics as a whole: the noise-free diffuse brightness summed
    over the pixels labelled halo (relic), over the noise of such a sum in beam-correlated noise,
    ``rms * sqrt(n_pixels * beam_area_pixels)`` (the ratio of ``predict``'s ``flux`` to ``flux_err``).

    What an aperture drawn on the true mask would measure against the survey's rms (stripes, sidelobes and wider
    correlated noise left out): an emission far below 5 cannot be told from the noise (a filter matched to its
    profile does up to about 1.5 times better). In an interferometric image the noise is correlated over about
    the beam; the simulator's (white noise convolved with the beam) over twice its area, so that sums over more
    than a few beams scatter up to sqrt(2) times more there, and the held-out generator's up to about 2 times:
    for emission of a few beams or more the ratio is an upper bound.

    Parameters
    ----------
    convolved_layers : numpy.ndarray
        ``(4, ny, nx)`` noise-free layers convolved with the beam, Jy/beam, in :data:`CLASS_LAYERS` order.
    labels : numpy.ndarray
        Class labels (:func:`class_labels`).
    rms_jy : float
        The survey's rms, Jy/beam.
    beam_area_pixels : float
        The beam's solid angle in pixels.

    Returns
    -------
    dict
        ``{"halo": float, "relic": float}``, NaN for a class without labelled pixels.
    """
    diffuse = convolved_layers[CLASS_LAYERS.index("halo")] + convolved_layers[CLASS_LAYERS.index("relic")]
    # One pass over the labels (every simulated field, training's too, computes this): pixels and sums per class.
    n = np.bincount(labels.ravel(), minlength=len(CLASS_NAMES))
    sums = np.bincount(labels.ravel(), weights=diffuse.ravel(), minlength=len(CLASS_NAMES))
    snr = {}
    for name in ("halo", "relic"):
        k = CLASS_NAMES.index(name)
        snr[name] = float(sums[k] / (rms_jy * np.sqrt(n[k] * beam_area_pixels))) if n[k] else float("nan")
    return snr


def cluster_class_of(has_halo, has_relic):
    """Name in :data:`CLUSTER_CLASSES` of a cluster with or without a halo and a relic."""
    return CLUSTER_CLASSES[int(bool(has_halo)) + 2 * int(bool(has_relic))]
