"""Held-out synthetic fields: how well a model segments diffuse emission, and how much it calls
diffuse where there is none (fields with radio galaxies only, or compact sources only).

Each field is one tile (the field size is the model's tile size) and is
normalised with the noise estimated from the image itself, as at inference.
"""

from dataclasses import replace

import numpy as np
import torch

from radiounet.data.normalize import estimate_rms, normalize
from radiounet.sky import FieldConfig, SkyConfig, field_rng, simulate_field

__all__ = ["evaluate_synthetic", "HELD_OUT_SEED"]

#: Seed of the held-out fields; training configurations use other seeds.
HELD_OUT_SEED = 777_000_001


def _probabilities(model, images, device, batch_size):
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = np.stack([normalize(im, estimate_rms(im)) for im in images[start:start + batch_size]])
            logits = model(torch.from_numpy(batch)[:, None].to(device))
            out.append(torch.sigmoid(logits)[:, 0].float().cpu().numpy())
    return np.concatenate(out)


def evaluate_synthetic(model, survey, *, tile_size=192, n_fields=100, threshold=0.5, seed=HELD_OUT_SEED,
                       redshift=(0.05, 0.6), mask_threshold=0.5, device="cpu", batch_size=16):
    """Metrics of ``model`` on ``n_fields`` held-out fields of each kind.

    Returns
    -------
    dict
        ``diffuse``: pixel Dice, IoU, precision and recall over all diffuse
        fields together, and the median Dice per field; ``radio_galaxies`` and
        ``empty``: mean and maximum fraction of pixels called diffuse.
    """
    model = model.to(device).eval()
    kinds = {"diffuse": (1.0, 0.0), "radio_galaxies": (0.0, 1.0), "empty": (0.0, 0.0)}
    base = FieldConfig(survey, shape=(tile_size, tile_size), mask_threshold=mask_threshold)
    results = {}
    for k, (kind, (f_diffuse, f_galaxies)) in enumerate(kinds.items()):
        config = replace(base, sky=SkyConfig(fraction_diffuse=f_diffuse, fraction_radio_galaxies=f_galaxies,
                                             redshift=tuple(redshift)))
        fields = [simulate_field(config, field_rng(seed + k, i)) for i in range(n_fields)]
        probability = _probabilities(model, [f.image for f in fields], device, batch_size)
        predicted = probability > threshold
        truth = np.stack([f.mask for f in fields])
        if kind == "diffuse":
            tp = float((predicted & truth).sum())
            fp = float((predicted & ~truth).sum())
            fn = float((~predicted & truth).sum())
            per_field = [2 * (p & t).sum() / max(p.sum() + t.sum(), 1) for p, t in zip(predicted, truth)
                         if t.any()]
            results[kind] = dict(dice=2 * tp / max(2 * tp + fp + fn, 1), iou=tp / max(tp + fp + fn, 1),
                                 precision=tp / max(tp + fp, 1), recall=tp / max(tp + fn, 1),
                                 median_field_dice=float(np.median(per_field)), n_fields=n_fields)
        else:
            fractions = predicted.reshape(n_fields, -1).mean(axis=1)
            results[kind] = dict(mean_fraction_called_diffuse=float(fractions.mean()),
                                 max_fraction_called_diffuse=float(fractions.max()), n_fields=n_fields)
    return results
