"""Local noise of large images, in bounded memory.

The noise of a survey mosaic varies across it (pointing centres, bright
sources). :func:`rms_mesh` measures a sigma-clipped, MAD-based rms in boxes
(reading one box at a time, so a memory-mapped mosaic is never loaded whole),
leaving out blanked pixels (NaN, or a fill value such as 0 outside the primary
beam), fills boxes without data from their neighbours, and median-filters the mesh;
:class:`NormalisedImage` then serves ``asinh(image / rms)`` band by band with
the mesh interpolated to every pixel.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from astropy.stats import sigma_clipped_stats
from scipy.ndimage import median_filter

from radiounet.data.normalize import blank_rows, fill_value, normalize, not_fill
from radiounet.errors import RadioUNetError

__all__ = ["rms_mesh", "NormalisedImage"]

_MIN_FINITE_FRACTION = 0.25
#: Finite pixels a box needs for its rms.
_MIN_PIXELS = 100


def rms_mesh(data, box, filter_size=3):
    """Robust rms in boxes of ``box`` x ``box`` pixels.

    Blank pixels are left out: NaN and infinite ones, and those holding the
    image's fill value (:func:`radiounet.data.normalize.fill_value`).

    Returns
    -------
    numpy.ndarray
        ``(ceil(ny / box), ceil(nx / box))`` mesh of rms values (data units).

    Raises
    ------
    RadioUNetError
        If no box holds enough finite, non-constant pixels (an all-blank or
        constant image).
    """
    ny, nx = data.shape
    mesh = np.full((-(-ny // box), -(-nx // box)), np.nan)
    finite = np.zeros(mesh.shape, dtype=int)
    counts = np.zeros(mesh.shape, dtype=int)
    constant = np.zeros(mesh.shape, dtype=bool)
    fill = fill_value(data)

    def measure(i, j, block):
        finite[i, j] = np.isfinite(block).sum()
        values = not_fill(block, fill)
        counts[i, j] = values.size
        if values.size > _MIN_PIXELS:
            _, _, rms = sigma_clipped_stats(values, sigma=3.0, maxiters=5, stdfunc="mad_std")
            if rms > 0:
                mesh[i, j] = float(rms)
            else:
                constant[i, j] = True
        elif values.size == 0 and finite[i, j] > 0:
            constant[i, j] = True  # every finite pixel the fill value

    # The boxes of one band of rows at a time, in threads: numpy's partitions (the medians) release the GIL.
    with ThreadPoolExecutor(max_workers=torch.get_num_threads()) as pool:
        for i in range(mesh.shape[0]):
            # float32 as the images are: the medians are the same pixels, the clipping the same within rounding.
            block = np.asarray(data[i * box:(i + 1) * box, :], dtype=np.float32)
            list(pool.map(lambda j: measure(i, j, block[:, j * box:(j + 1) * box]), range(mesh.shape[1])))
    # Boxes mostly blank give poor estimates: use them only where no box is mostly filled (a small image
    # padded with blanks, as a cutout at the edge of a survey).
    filled = counts >= _MIN_FINITE_FRACTION * box * box
    if (filled & np.isfinite(mesh)).any():
        mesh[~filled] = np.nan
    if not np.isfinite(mesh).any():
        if not finite.any():
            raise RadioUNetError("every pixel is blank (NaN or infinite)")
        if constant.any():
            raise RadioUNetError("the pixels are constant where not blank (a robust rms of 0): no noise to measure")
        raise RadioUNetError(f"too few finite pixels (other than a fill value) to measure the noise (at most "
                             f"{counts.max()} in every {box} x {box} box; more than {_MIN_PIXELS} needed)")
    mesh = np.where(np.isfinite(mesh), mesh, np.nanmedian(mesh))
    return median_filter(mesh, size=filter_size, mode="nearest") if min(mesh.shape) >= filter_size else mesh


class NormalisedImage:
    """A read-only view ``asinh(data / rms)`` of a 2-D array, computed for the rows asked for.

    Blank pixels become 0: non-finite ones and those of the image's fill value
    (:func:`radiounet.data.normalize.fill_mask`). ``rms`` is a mesh from
    :func:`rms_mesh` (interpolated bilinearly between box centres) or a scalar.
    """

    def __init__(self, data, rms, box=None):
        self.data = data
        self.rms = rms
        self.box = box
        self.fill = fill_value(data)
        self.shape = data.shape
        self.ndim = 2
        # The mesh interpolated along its rows to every column, once: each band of rows then only interpolates
        # between two of these (bilinear between box centres, constant beyond the outer ones).
        self._along = None
        if not np.isscalar(rms):
            cols = (np.arange(self.shape[1]) + 0.5) / box - 0.5
            self._along = np.stack([np.interp(cols, np.arange(rms.shape[1]), row) for row in rms]).astype(np.float32)

    def _mesh_rows(self, start, stop):
        """For rows ``start:stop``, the rows of the interpolated mesh below and above and the weight of the one
        above."""
        mesh_rows = self.rms.shape[0]
        rows = np.clip((np.arange(start, stop) + 0.5) / self.box - 0.5, 0, mesh_rows - 1)
        below = np.floor(rows).astype(int)
        above = np.minimum(below + 1, mesh_rows - 1)
        return below, above, (rows - below).astype(np.float32)[:, None]

    def rows_on(self, start, stop, device):
        """Rows ``start:stop`` of the view as a float32 tensor on ``device``, computed there (the raw rows and the
        mesh are copied; the interpolation and ``asinh`` run on the device)."""
        data = np.ascontiguousarray(self.data[start:stop, :], dtype=np.float32)  # may be the caller's array
        if self.fill is not None and self.fill != 0:  # a fill of 0 normalises to 0 as a blank does
            data = np.where(blank_rows(self.data, start, stop, self.fill), np.float32(np.nan), data)
        data = torch.from_numpy(data).to(device)
        if np.isscalar(self.rms):
            return normalize(data, float(self.rms))
        below, above, fraction = self._mesh_rows(start, stop)
        along, fraction = torch.from_numpy(self._along).to(device), torch.from_numpy(fraction).to(device)
        below, above = torch.from_numpy(below).to(device), torch.from_numpy(above).to(device)
        return normalize(data, along[below] * (1 - fraction) + along[above] * fraction)

    def __getitem__(self, key):
        rows, cols = key
        start, stop, _ = rows.indices(self.shape[0])
        return self.rows_on(start, stop, "cpu").numpy()[:, cols]
