"""Input normalisation shared by training and inference.

The network sees ``asinh(image / rms)``: dividing by the noise makes the
input independent of the survey's flux scale and depth (a 3-sigma feature
looks the same in any survey), and the inverse hyperbolic sine keeps the
near-noise range linear (``asinh(x) ~ x`` for ``|x| < 1``, where halos live)
while compressing bright sources logarithmically (a 1 Jy source at 80 uJy/beam
noise becomes ~10 instead of 12000). NaN and infinite pixels (blanked mosaic
edges) become 0, i.e. "no signal", after normalisation. Pixels blanked as 0 or
another constant instead of NaN (:func:`fill_value`, :func:`fill_mask`) are
blank too: left out of the noise estimates and, turned into NaN by
:func:`blank_fill` or band by band (:func:`blank_rows`), no signal to the
network.
"""

import numpy as np
import torch
from astropy.stats import sigma_clipped_stats
from scipy.ndimage import binary_dilation, binary_erosion

from radiounet.errors import RadioUNetError

__all__ = ["blank_fill", "blank_rows", "estimate_rms", "fill_mask", "fill_value", "normalize", "not_fill"]

#: A value held by more than this share of an image's finite pixels, and by five times as many as any other
#: value, is a fill value. Noise never repeats one float that often; quantised (scaled-integer) noise repeats
#: its levels, but a few of them about equally often.
_FILL_SHARE = 0.01
_FILL_DOMINANCE = 5
#: Values within this relative difference are one value: a constant keeps it through regridding.
_FILL_RTOL = 1e-6
_FILL_SAMPLE_PIXELS = 250_000


def fill_value(image):
    """The constant that blanked pixels of ``image`` were written as, or None.

    Some imagers and archives write the pixels outside the primary beam as 0
    or another constant instead of NaN. Such pixels are no noise: counted in a
    robust rms they pull it down (a box mostly of them has a rms near 0). The
    value is looked for in every k-th row and column (at most about 250,000
    pixels; a memory map is read only there), so a fill over less than 1% of
    the image is not found.

    Parameters
    ----------
    image : array-like
        A 2-D image (numpy array or memory map).

    Returns
    -------
    float or None
        The value held by more than 1% of the finite pixels, and by five times
        as many as any other value (equal within a relative 1e-6, so that a
        regridded fill stays one value); None if there is no such value.
    """
    ny, nx = image.shape
    step = max(1, int(np.ceil(np.sqrt(ny * nx / _FILL_SAMPLE_PIXELS))))
    sample = np.asarray(image[::step, ::step], dtype=np.float32).ravel()
    sample = np.sort(sample[np.isfinite(sample)])
    if sample.size < 2:
        return None
    same = np.abs(np.diff(sample)) <= _FILL_RTOL * np.abs(sample[1:])
    edges = np.flatnonzero(np.diff(np.concatenate(([False], same, [False])).astype(np.int8)))
    if edges.size == 0:
        return None
    starts, lengths = edges[::2], edges[1::2] - edges[::2] + 1  # a run of k equal steps holds k + 1 values
    order = np.argsort(lengths)[::-1]
    top = lengths[order[0]]
    second = lengths[order[1]] if order.size > 1 else 1
    if top <= _FILL_SHARE * sample.size or top < _FILL_DOMINANCE * second:
        return None
    return float(np.median(sample[starts[order[0]]:starts[order[0]] + top]))


def fill_mask(block, fill):
    """Where ``block`` is blanked as ``fill``: in a 3 x 3 patch of pixels that all hold it.

    A blanked area, not a noise pixel that happens to equal the fill value, as
    many do in a scaled-integer image whose fill is 0 (nine such pixels side by
    side are as good as impossible). Beyond its edges the block is taken as
    fill, so that a blanked area is fill up to the edge it reaches.

    Parameters
    ----------
    block : numpy.ndarray
        2-D pixels (a 1-D array is taken as one row).
    fill : float or None
        From :func:`fill_value` (equal within a relative 1e-6); with None
        nothing is fill.

    Returns
    -------
    numpy.ndarray
        Boolean array of the block's shape (2-D).
    """
    block = np.atleast_2d(block)
    if fill is None:
        return np.zeros(block.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        equal = np.abs(block - fill) <= _FILL_RTOL * abs(fill)
    square = np.ones((3, 3), bool)
    # A morphological opening, but with the border taken as fill only for the erosion: the dilation must not
    # mark the pixels along the edges of the image.
    return binary_dilation(binary_erosion(equal, square, border_value=1), square)


def not_fill(block, fill):
    """The finite pixels of ``block`` that are not fill (:func:`fill_mask`).

    Parameters
    ----------
    block : numpy.ndarray
        2-D pixels (a 1-D array is taken as one row).
    fill : float or None
        From :func:`fill_value`; with None every finite pixel is kept.

    Returns
    -------
    numpy.ndarray
        1-D array of the pixels kept.
    """
    block = np.atleast_2d(block)
    return block[np.isfinite(block) & ~fill_mask(block, fill)]


def blank_rows(data, start, stop, fill):
    """Where rows ``start:stop`` of a 2-D image are blank: NaN, infinite or fill (:func:`fill_mask`).

    Two rows either side are read too, so that a band gives the same mask as
    the whole image; ``data`` may be a memory map.
    """
    low, high = max(start - 2, 0), min(stop + 2, data.shape[0])
    rows = np.asarray(data[low:high], dtype=np.float32)
    blank = ~np.isfinite(rows)
    if fill is not None:
        blank |= fill_mask(rows, fill)
    return blank[start - low:stop - low]


def blank_fill(data):
    """``data`` as float32 with its fill pixels (:func:`fill_value`, :func:`fill_mask`) set to NaN.

    For images in memory (a cutout, a finetuning image, an image to regrid,
    where a fill would blend into its neighbours); ``data`` itself is never
    changed. Without a fill value it is returned as it is (float32).
    """
    data = np.asarray(data, dtype=np.float32)
    fill = fill_value(data)
    return data if fill is None else np.where(fill_mask(data, fill), np.float32(np.nan), data)


def estimate_rms(image):
    """Robust noise estimate of an image: sigma-clipped standard deviation from the MAD.

    Parameters
    ----------
    image : array-like
        Pixels; NaN and infinite values are ignored, and so is a fill value
        (:func:`fill_value`).

    Raises
    ------
    RadioUNetError
        If the image has no finite pixels or no noise.
    """
    data = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(data)
    if not finite.any():
        raise RadioUNetError("image has no finite pixels: cannot estimate its noise")
    plane = np.atleast_2d(data).reshape(-1, data.shape[-1]) if data.ndim else data.reshape(1, 1)
    values = not_fill(plane, fill_value(plane))
    if values.size == 0:
        raise RadioUNetError("image noise is zero: a constant image cannot be normalised")
    _, _, rms = sigma_clipped_stats(values, sigma=3.0, maxiters=5, stdfunc="mad_std")
    if not np.isfinite(rms) or rms <= 0:
        raise RadioUNetError("image noise is zero: a constant image cannot be normalised")
    return float(rms)


def normalize(image, rms):
    """``asinh(image / rms)`` with non-finite pixels set to 0.

    Works on numpy arrays and torch tensors alike (``rms`` a scalar, or an
    array/tensor broadcastable to the image, e.g. ``(batch, 1, 1, 1)``).
    """
    if isinstance(image, torch.Tensor):
        scaled = torch.asinh(image / rms)
        return torch.nan_to_num(scaled, nan=0.0, posinf=0.0, neginf=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = np.arcsinh(np.asarray(image, dtype=np.float32) / np.float32(rms))
    return np.where(np.isfinite(scaled), scaled, np.float32(0)).astype(np.float32)
