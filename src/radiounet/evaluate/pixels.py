"""Pixel metrics of probability maps against truth masks: Dice, IoU, precision, recall.

Predictions are the ``STEM.prob.fits`` maps written by ``radio-unet predict``;
truth masks are FITS images with 1 on diffuse emission (the simulator's
``STEM.mask.fits``). A prediction ``STEM.prob.fits`` is paired with the
truth mask named ``STEM.mask.fits`` or ``STEM.fits``. A truth mask on
another pixel grid is regridded onto the prediction's (nearest pixel, with
``reproject``); blank pixels of the prediction (NaN) are left out.
"""

import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import QTable
from astropy.wcs import WCS, FITSFixedWarning

from radiounet._overlap import overlap_metrics
from radiounet.errors import MissingFileError, RadioUNetError
from radiounet.models.outputs import called_diffuse

__all__ = ["PIXEL_COLUMNS", "pair_predictions", "pixel_counts", "pixel_metrics", "pair_class_maps",
           "class_confusion"]

PIXEL_COLUMNS = ("image", "truth_mask", "n_pixels", "n_truth", "n_predicted", "tp", "fp", "fn", "dice", "iou",
                 "precision", "recall")
_PROB_SUFFIX = ".prob.fits"


def _files(paths, suffix):
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.name.endswith(suffix)))
        elif path.exists():
            files.append(path)
        else:
            raise MissingFileError(f"{path}: no such file or folder")
    return files


def pair_predictions(predictions, truth_masks):
    """Pairs ``(prob_path, mask_path)`` matched by stem, and the probability maps without a truth mask.

    ``predictions`` and ``truth_masks`` are files or folders (a folder of
    predictions stands for its ``*.prob.fits``, a folder of masks for its
    ``*.fits``, where ``STEM.mask.fits`` is taken before ``STEM.fits``).
    """
    truth = {}
    # STEM.mask.fits wins over STEM.fits: a simulator folder holds both the image and the mask.
    for path in sorted(_files(truth_masks, ".fits"), key=lambda p: p.name.endswith(".mask.fits")):
        name = path.name
        stem = name[: -len(".mask.fits")] if name.endswith(".mask.fits") else name[: -len(".fits")]
        truth[stem] = path
    pairs, unmatched = [], []
    for path in _files(predictions, _PROB_SUFFIX):
        if not path.name.endswith(_PROB_SUFFIX):
            raise RadioUNetError(f"{path}: not a probability map of radio-unet predict (STEM{_PROB_SUFFIX})")
        stem = path.name[: -len(_PROB_SUFFIX)]
        if stem in truth:
            pairs.append((path, truth[stem]))
        else:
            unmatched.append(path)
    return pairs, unmatched


def _read_image(path, what):
    """Data (float32) and header of the first HDU holding an image of two or more axes."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            with fits.open(path) as hdul:
                hdu = next((h for h in hdul if h.data is not None and h.data.ndim >= 2), None)
                if hdu is None:
                    raise RadioUNetError(f"{path}: no image in the file")
                return np.asarray(hdu.data, dtype=np.float32), hdu.header
    except (OSError, ValueError, TypeError) as exc:
        raise RadioUNetError(f"{path}: cannot read the {what} ({exc})") from None


def _read_plane(path):
    data, header = _read_image(path, "FITS image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(header).celestial
    except (ValueError, TypeError) as exc:
        raise RadioUNetError(f"{path}: cannot read the FITS image's WCS ({exc})") from None
    data = data.reshape(data.shape[-2:]) if data.size == np.prod(data.shape[-2:]) else None
    if data is None:
        raise RadioUNetError(f"{path}: the image has more than one plane")
    return data, header, wcs


def _truth_on_grid(mask_path, prob_wcs, prob_shape):
    """The truth mask on the prediction's pixel grid, and where the mask covers that grid."""
    mask, _, mask_wcs = _read_plane(mask_path)
    if mask.shape == tuple(prob_shape) and (not mask_wcs.has_celestial or mask_wcs.wcs.compare(prob_wcs.wcs)):
        return mask > 0.5, np.ones(mask.shape, bool)
    if not mask_wcs.has_celestial or not prob_wcs.has_celestial:
        raise RadioUNetError(f"{mask_path}: the truth mask has another shape than the prediction "
                             f"({mask.shape} vs {tuple(prob_shape)}) and no celestial WCS to regrid it")
    from reproject import reproject_interp

    regridded, footprint = reproject_interp((mask, mask_wcs), prob_wcs, shape_out=tuple(prob_shape),
                                            order="nearest-neighbor")
    return (np.nan_to_num(regridded) > 0.5) & (footprint > 0), footprint > 0


def pixel_counts(probability, truth, threshold, covered=None):
    """Pixels, truth pixels, predicted pixels, TP, FP and FN of the pixels called diffuse
    (:func:`radiounet.models.outputs.called_diffuse`: ``probability >= threshold``, as in
    ``STEM.mask.fits``) against ``truth``.

    Pixels where the probability is NaN (blank in the image), or outside ``covered`` (where the truth is
    known; default: everywhere), are not counted.
    """
    valid = np.isfinite(probability) if covered is None else np.isfinite(probability) & covered
    predicted = called_diffuse(np.nan_to_num(probability, nan=0.0), threshold) & valid
    truth = np.asarray(truth, bool) & valid
    tp = int(np.sum(predicted & truth))
    return dict(n_pixels=int(valid.sum()), n_truth=int(truth.sum()), n_predicted=int(predicted.sum()), tp=tp,
                fp=int(predicted.sum()) - tp, fn=int(truth.sum()) - tp)


def pixel_metrics(pairs, threshold=None):
    """One row per ``(prob_path, mask_path)`` pair and the totals over all of them.

    Parameters
    ----------
    pairs : sequence of (path, path)
        From :func:`pair_predictions`.
    threshold : float, optional
        Probability threshold; default: the one the map was written with
        (``RUTHRESH`` card), else 0.5.

    Returns
    -------
    astropy.table.QTable
        Columns :data:`PIXEL_COLUMNS`; ``meta["total"]`` holds the counts and
        Dice, IoU, precision and recall over all pixels of all images (NaN
        where undefined, e.g. Dice when neither truth nor prediction has a
        pixel).
    """
    rows = []
    for prob_path, mask_path in pairs:
        probability, header, prob_wcs = _read_plane(prob_path)
        cut = float(threshold if threshold is not None else header.get("RUTHRESH", 0.5))
        truth, covered = _truth_on_grid(mask_path, prob_wcs, probability.shape)
        if not covered.any():
            raise RadioUNetError(f"{mask_path}: the truth mask does not overlap {prob_path}")
        counts = pixel_counts(probability, truth, cut, covered)
        rows.append(dict(image=str(prob_path), truth_mask=str(mask_path), **counts,
                         **overlap_metrics(counts["tp"], counts["fp"], counts["fn"])))
    table = QTable(rows=rows, names=PIXEL_COLUMNS) if rows else QTable(names=PIXEL_COLUMNS)
    total = {key: int(sum(row[key] for row in rows)) for key in ("n_pixels", "n_truth", "n_predicted", "tp", "fp",
                                                                 "fn")}
    total.update(overlap_metrics(total["tp"], total["fp"], total["fn"]))
    table.meta["total"] = total
    return table


def pair_class_maps(predictions, truth_labels):
    """Pairs ``(STEM.classes.fits, STEM.labels.fits)`` of class cubes (beside the probability maps) and truth labels.

    ``predictions`` are the probability maps or their folders (as for
    :func:`pair_predictions`); ``truth_labels`` files or folders of
    ``STEM.labels.fits`` (the simulator's class labels).
    """
    labels = {path.name[: -len(".labels.fits")]: path for path in _files(truth_labels, ".labels.fits")
              if path.name.endswith(".labels.fits")}
    pairs = []
    for path in _files(predictions, _PROB_SUFFIX):
        stem = path.name[: -len(_PROB_SUFFIX)]
        cube = path.with_name(f"{stem}.classes.fits")
        if not cube.exists():
            raise MissingFileError(f"{path}: no class map {cube.name} beside it (predicted with a binary model?)")
        if stem in labels:
            pairs.append((cube, labels[stem]))
    return pairs


def class_confusion(pairs):
    """Pixel confusion matrix of the most probable class against the truth labels, over all pairs.

    Returns
    -------
    astropy.table.QTable
        One row per true class: ``class``, ``n_pixels``, one column per
        predicted class (pixel counts), ``recall`` and ``dice`` of the class.
        Blank pixels (NaN) are not counted.
    """
    import torch

    from radiounet.train.metrics import ConfusionCounts

    names, counts = None, None
    for cube_path, labels_path in pairs:
        cube, header = _read_cube(cube_path)
        these = tuple(header[f"CLASS{k}"] for k in range(cube.shape[0]))
        if names is None:
            names, counts = these, ConfusionCounts(len(these))
        elif these != names:
            raise RadioUNetError(f"{cube_path}: other classes ({', '.join(these)}) than {', '.join(names)}")
        truth, _, _ = _read_plane(labels_path)
        if truth.shape != cube.shape[1:]:
            raise RadioUNetError(f"{labels_path}: shape {truth.shape} differs from the class map's {cube.shape[1:]}")
        valid = np.all(np.isfinite(cube), axis=0)
        predicted = np.argmax(np.nan_to_num(cube, nan=-1.0), axis=0)[valid]
        true = truth[valid].astype(np.int64)
        if true.size and (true.min() < 0 or true.max() >= len(names)):
            raise RadioUNetError(f"{labels_path}: labels outside 0..{len(names) - 1}")
        counts.update(torch.from_numpy(predicted), torch.from_numpy(true))
    if names is None:
        raise RadioUNetError("no class map has truth labels with the same stem")
    matrix = counts.counts.numpy().astype(np.int64)
    table = QTable({"class": list(names), "n_pixels": matrix.sum(axis=1)})
    for k, name in enumerate(names):
        table[f"as_{name}"] = matrix[:, k]
    with np.errstate(invalid="ignore", divide="ignore"):
        table["recall"] = np.diagonal(matrix) / matrix.sum(axis=1)
    table["dice"] = counts.dice()
    return table


def _read_cube(path):
    data, header = _read_image(path, "class map")
    if data.ndim != 3 or "CLASS0" not in header:
        raise RadioUNetError(f"{path}: not a class map of radio-unet predict (a cube with CLASSn cards)")
    return data, header
