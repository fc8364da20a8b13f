"""Cutting images into tiles whose starts are spread evenly, the last ending on the image edge."""

import numpy as np

from radiounet.errors import InvalidParameterError

__all__ = ["tile_starts", "cut_tiles"]


def tile_starts(length, tile, stride):
    """Start indices of tiles of size ``tile`` along an axis of ``length`` pixels.

    The steps are at most ``stride`` and spread evenly, so the first tile
    starts at 0 and the last one ends exactly at ``length``: every pixel is
    covered. Requires ``tile <= length``.

    Examples
    --------
    >>> tile_starts(500, 192, 192).tolist()
    [0, 154, 308]
    """
    if tile > length:
        raise InvalidParameterError("tile_size", tile, f"must not exceed the image size ({length} px)")
    if stride < 1 or stride > tile:
        raise InvalidParameterError("stride", stride, f"must be between 1 and the tile size ({tile})")
    n = int(np.ceil((length - tile) / stride)) + 1
    return np.round(np.linspace(0, length - tile, n)).astype(int) if n > 1 else np.zeros(1, dtype=int)


def cut_tiles(array, tile, stride):
    """Cut a 2-D array into tiles.

    Returns
    -------
    tiles : numpy.ndarray
        ``(n, tile, tile)`` array.
    origins : numpy.ndarray
        ``(n, 2)`` array of (row, column) starts.
    """
    rows = tile_starts(array.shape[0], tile, stride)
    cols = tile_starts(array.shape[1], tile, stride)
    origins = np.array([(r, c) for r in rows for c in cols], dtype=np.int32)
    tiles = np.stack([array[r:r + tile, c:c + tile] for r, c in origins])
    return tiles, origins
