"""Sliding-window inference: cut an image into overlapping tiles, predict, stitch.

Each tile's border of ``crop`` pixels is discarded when the map is
reassembled, except where the border lies on the image edge, so edge effects
of the network vanish and every pixel is covered. Tile starts are spread
evenly so that the last tile ends exactly on the image edge; images smaller
than a tile are padded and the padding is cut off again. With
``blend="gaussian"`` the kept part of each tile is also weighted by a
Gaussian (sigma = tile / 8) centred on the tile, which smooths the seams.

The output is assembled band by band (one row of tiles at a time), so
``out`` may be a memory-mapped array and the working memory stays at a few
tile rows whatever the image size.
"""

import numpy as np
import torch
from tqdm import tqdm

from radiounet.errors import InvalidParameterError
from radiounet.io.memmap import release_pages

__all__ = ["BLENDS", "aligned_tile_starts", "sliding_window_inference", "tile_weight"]


def _kept_window(tile, crop, top, bottom, left, right):
    """``(y0, y1, x0, x1)`` of the part of a tile kept: all but the cropped border, except on the image's edges."""
    return (0 if top else crop), (tile if bottom else tile - crop), (0 if left else crop), \
        (tile if right else tile - crop)


#: How overlapping tiles are put together: each pixel from the tile that keeps it, or weighted by a Gaussian.
BLENDS = ("crop", "gaussian")


def tile_weight(tile, crop, blend, top, bottom, left, right):
    """Weight map of one tile: zero in the cropped border, except on the sides that touch the image edge."""
    weight = np.zeros((tile, tile), dtype=np.float32)
    y0, y1, x0, x1 = _kept_window(tile, crop, top, bottom, left, right)
    weight[y0:y1, x0:x1] = 1.0
    if blend == "gaussian":
        centre = (tile - 1) / 2
        g = np.exp(-0.5 * ((np.arange(tile) - centre) / (tile / 8)) ** 2)
        gaussian = np.outer(g, g)
        # Raise the zeros of the far tails so that no kept pixel ends with a zero weight.
        gaussian = np.maximum(gaussian, gaussian[gaussian > 0].min())
        weight *= gaussian.astype(np.float32)
    return weight


def aligned_tile_starts(length, tile, stride, align):
    """Start indices of tiles covering ``length`` pixels, each a multiple of ``align``, steps at most ``stride``.

    The tiles cover ``tile + k * align`` pixels, the smallest such length
    at least ``length``: the image is padded at its far end up to there.

    Examples
    --------
    >>> aligned_tile_starts(640, 304, 176, 16).tolist()
    [0, 160, 336]
    """
    step = max(stride // align, 1)
    units = -(-max(length - tile, 0) // align)
    n = -(-units // step) + 1
    return align * np.round(np.linspace(0, units, n)).astype(int)


def sliding_window_inference(image, predictor, *, tile=192, crop=48, batch_size=16, blend="crop", channels=1,
                             device="cpu", out=None, pad_value=0.0, align=1, progress=False):
    """Predict a whole 2-D image with a tile predictor.

    Parameters
    ----------
    image : numpy.ndarray
        2-D input (may be a memory map); it is read one band of tiles at a time.
    predictor : callable
        Maps a float32 tensor ``(batch, 1, tile, tile)`` on ``device`` to
        ``(batch, channels, tile, tile)``.
    tile : int
        Tile side in pixels.
    crop : int
        Border discarded on each side of a tile (unless on the image edge);
        the tile step is at most ``tile - 2 * crop``.
    batch_size : int
        Tiles per predictor call.
    blend : {"crop", "gaussian"}
        How overlapping kept regions are averaged.
    channels : int
        Output channels of the predictor.
    device : str or torch.device
        Where the predictor runs; the tiles are read, normalised (for a
        :class:`~radiounet.inference.noise.NormalisedImage`) and stitched there too.
    out : numpy.ndarray, optional
        ``(channels, ny, nx)`` float32 array to write into (e.g. a memory map).
    pad_value : float
        Value used to pad images smaller than a tile, and the far edges for ``align``.
    align : int
        Tile starts are multiples of it. With a network's ``2**depth``, every tile pools
        on the same pixel grid as the whole image would, and tiles agree better
        where they overlap (the image is padded at its far edges to fit).
    progress : bool
        Show a progress bar in Mpixel of the image, with its rate in Mpix/s.

    Returns
    -------
    numpy.ndarray
        ``(channels, ny, nx)`` float32 array (``out`` if given).
    """
    if image.ndim != 2:
        raise InvalidParameterError("image", image.shape, "must be 2-D")
    if not 0 <= crop or 2 * crop >= tile:
        raise InvalidParameterError("crop", crop, f"must be >= 0 and less than half the tile ({tile})")
    if blend not in BLENDS:
        raise InvalidParameterError("blend", blend, f"must be one of {', '.join(BLENDS)}")
    if batch_size < 1:
        raise InvalidParameterError("batch_size", batch_size, "must be positive")
    if align < 1 or (align > 1 and crop > 0 and tile - 2 * crop < align):
        raise InvalidParameterError("align", align, f"must be >= 1 and at most the kept part of a tile "
                                                    f"({tile - 2 * crop})")
    ny, nx = image.shape
    rows = aligned_tile_starts(ny, tile, tile - 2 * crop, align)
    cols = aligned_tile_starts(nx, tile, tile - 2 * crop, align)
    height, width = rows[-1] + tile, cols[-1] + tile
    if out is None:
        out = np.empty((channels, ny, nx), dtype=np.float32)
    device = torch.device(device)
    weights = {}
    n_tiles, tiles_done = len(rows) * len(cols), 0
    bar = tqdm(total=ny * nx, unit="pix", unit_scale=True, disable=not progress, desc="segment")
    band_top = 0  # first row not yet written to out
    # Reading, normalising and stitching happen where the predictor runs (torch): on a GPU the CPU would be the
    # bottleneck. float32 accumulation: at most a few overlapping tiles per pixel.
    value = torch.zeros((channels, 0, width), dtype=torch.float32, device=device)
    weight_sum = torch.zeros((0, width), dtype=torch.float32, device=device)
    for i, r in enumerate(rows):
        band = _read_band(image, r, tile, width, pad_value, device)
        # Grow the accumulation band down to the bottom of this tile row.
        grow = r + tile - (band_top + weight_sum.shape[0])
        if grow > 0:
            value = torch.cat([value, value.new_zeros((channels, grow, width))], dim=1)
            weight_sum = torch.cat([weight_sum, weight_sum.new_zeros((grow, width))], dim=0)
        offset = r - band_top
        pending, positions = [], []
        for j, c in enumerate(cols):
            pending.append(band[:, c:c + tile])
            positions.append((j, c))
            if len(pending) == batch_size or j == len(cols) - 1:
                with torch.no_grad():
                    predictions = predictor(torch.stack(pending)[:, None]).float()
                for (jj, cc), p in zip(positions, predictions):
                    key = (i == 0, i == len(rows) - 1, jj == 0, jj == len(cols) - 1)
                    if key not in weights:  # the kept window and its weights (zero outside it: left out)
                        y0, y1, x0, x1 = _kept_window(tile, crop, *key)
                        weights[key] = (y0, y1, x0, x1), torch.from_numpy(
                            tile_weight(tile, crop, blend, *key)[y0:y1, x0:x1]).to(device)
                    (y0, y1, x0, x1), w = weights[key]
                    value[:, offset + y0:offset + y1, cc + x0:cc + x1] += p[:, y0:y1, x0:x1] * w
                    weight_sum[offset + y0:offset + y1, cc + x0:cc + x1] += w
                tiles_done += len(pending)
                bar.update(tiles_done * ny * nx // n_tiles - bar.n)
                pending, positions = [], []
        # Rows above the next tile row receive no more contributions: write them out.
        done_to = rows[i + 1] if i + 1 < len(rows) else height
        n_done = done_to - band_top
        if n_done > 0:
            _flush(out, value[:, :n_done], weight_sum[:n_done], band_top, ny, nx)
            release_pages(out)
            value, weight_sum = value[:, n_done:], weight_sum[n_done:]
            band_top = done_to
    bar.close()
    return out


def _read_band(image, row, tile, width, pad_value, device):
    """Rows ``row:row + tile`` of ``image`` as a tensor on ``device``, padded to ``width`` columns and ``tile`` rows.

    An image with a ``rows_on(start, stop, device)`` method (:class:`radiounet.inference.noise.NormalisedImage`)
    makes its rows there itself; any other 2-D array is read with slicing.
    """
    ny, nx = image.shape
    band = torch.full((tile, width), pad_value, dtype=torch.float32, device=device)
    rows = max(min(tile, ny - row), 0)
    if rows:
        if hasattr(image, "rows_on"):
            band[:rows, :nx] = image.rows_on(row, row + rows, device)
        else:
            band[:rows, :nx] = torch.from_numpy(np.ascontiguousarray(image[row:row + rows, :], dtype=np.float32))
    return band


def _flush(out, value, weight_sum, top, ny, nx):
    rows = min(value.shape[1], max(ny - top, 0))
    if rows <= 0:
        return
    out[:, top:top + rows, :] = (value[:, :rows, :nx] / weight_sum[:rows, :nx]).cpu().numpy()
