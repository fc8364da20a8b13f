"""The detection ratio of a cluster: mean probability of diffuse emission in a circle around it.

``R = (sum of probability) / (number of pixels)`` over the pixels whose
centres lie within ``factor x R500`` of the cluster centre (the reference work
used 2.2 R500), and always the pixel holding the centre (a circle under a
pixel would hold no pixel centre). Blank (NaN) pixels and pixels outside the
image do not count; the coverage is the fraction of the circle's pixels that do.
"""

from dataclasses import dataclass

import astropy.units as u
import numpy as np

__all__ = ["ApertureResult", "aperture_ratio"]


@dataclass(frozen=True)
class ApertureResult:
    """Detection ratio ``R``, pixels used, pixels the full circle has, and their ratio (coverage)."""

    ratio: float
    n_pixels: int
    n_expected: int
    coverage: float


def _circle_pixels(x, y, radius, rows, cols):
    return (cols[None, :] - x) ** 2 + (rows[:, None] - y) ** 2 <= radius**2


def _pixels(value, name):
    """``value`` in pixels as a finite float: a number, or a Quantity in ``u.pix``."""
    if isinstance(value, u.Quantity):
        if value.unit not in (u.pix, u.dimensionless_unscaled):
            raise TypeError(f"{name} is in pixels: give a number or a Quantity in u.pix, not one in {value.unit} "
                            "(convert angles with the image's pixel size)")
        value = value.value
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value}")
    return value


def aperture_ratio(probability, x, y, radius):
    """R within ``radius`` pixels of the pixel position ``(x, y)`` (0-based).

    Parameters
    ----------
    probability : numpy.ndarray
        2-D probability map (NaN where blank).
    x, y : float or Quantity
        Centre in pixels (numbers, or Quantities in ``u.pix``).
    radius : float or Quantity
        Radius in pixels, at least 0.

    Returns
    -------
    ApertureResult
        ``ratio`` is NaN when no valid pixel lies in the circle.

    Examples
    --------
    >>> import numpy as np
    >>> aperture_ratio(np.ones((11, 11)), 5, 5, 1).n_pixels   # the centre and its 4 neighbours
    5
    """
    x, y, radius = _pixels(x, "x"), _pixels(y, "y"), _pixels(radius, "radius")
    if radius < 0:
        raise ValueError(f"radius must be at least 0 pixels, not {radius}")
    ny, nx = probability.shape
    r = int(np.ceil(radius))
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    rows = np.arange(y0 - r, y0 + r + 2)
    cols = np.arange(x0 - r, x0 + r + 2)
    inside = _circle_pixels(x, y, radius, rows, cols)
    inside[int(np.floor(y + 0.5)) - rows[0], int(np.floor(x + 0.5)) - cols[0]] = True
    n_expected = int(inside.sum())
    in_image = ((rows >= 0) & (rows < ny))[:, None] & ((cols >= 0) & (cols < nx))[None, :]
    keep = inside & in_image
    rr, cc = np.nonzero(keep)
    values = np.asarray(probability[rows[rr], cols[cc]], dtype=np.float64)
    values = values[np.isfinite(values)]
    n = len(values)
    ratio = float(values.sum() / n) if n else float("nan")
    return ApertureResult(ratio=ratio, n_pixels=n, n_expected=n_expected,
                          coverage=n / n_expected if n_expected else 0.0)
