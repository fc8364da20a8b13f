"""Drawing primitives for sky models in Jy/pixel.

Angles here are pixel-frame angles, counter-clockwise from the +x axis.
Sky position angles (east of north, RA increasing to the left as in every
survey image) convert with :func:`pa_to_pixel_angle`.
"""

import numpy as np

__all__ = ["pa_to_pixel_angle", "add_gaussian", "add_point_sources", "rotated_coordinates"]


def pa_to_pixel_angle(pa_rad):
    """Pixel-frame angle of a direction with position angle ``pa_rad`` east of north."""
    return np.pi / 2 + pa_rad


def rotated_coordinates(shape, x0, y0, angle, y_slice=slice(None), x_slice=slice(None)):
    """Coordinates along and across ``angle`` about ``(x0, y0)`` for every pixel of a (sub)grid.

    Returns
    -------
    along, across : numpy.ndarray
        float32 arrays of the sub-grid's shape.
    """
    ny, nx = shape
    y = np.arange(ny, dtype=np.float32)[y_slice, None] - np.float32(y0)
    x = np.arange(nx, dtype=np.float32)[None, x_slice] - np.float32(x0)
    cos, sin = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    return x * cos + y * sin, -x * sin + y * cos


def add_gaussian(sky, x, y, flux, sigma_major, sigma_minor=None, angle=0.0, truncate=4.0):
    """Add an elliptical Gaussian of integrated flux ``flux`` to ``sky`` in place.

    The stamp is normalised on the pixel grid, so the integrated flux is exact
    even for a Gaussian narrower than a pixel (as long as it lies in the image).

    Parameters
    ----------
    sky : numpy.ndarray
        2-D sky model (Jy/pixel), modified in place.
    x, y : float
        Centre in pixels (0-based).
    flux : float
        Integrated flux density (Jy).
    sigma_major, sigma_minor : float
        Standard deviations in pixels; ``sigma_minor`` defaults to ``sigma_major``.
    angle : float
        Direction of the major axis (radians, pixel frame).
    truncate : float
        Stamp half-size in units of ``sigma_major``.
    """
    sigma_minor = sigma_major if sigma_minor is None else sigma_minor
    sigma_major = max(sigma_major, 0.3)
    sigma_minor = max(sigma_minor, 0.3)
    half = int(np.ceil(truncate * sigma_major)) + 1
    ny, nx = sky.shape
    ix, iy = int(round(x)), int(round(y))
    x_lo, x_hi = max(ix - half, 0), min(ix + half + 1, nx)
    y_lo, y_hi = max(iy - half, 0), min(iy + half + 1, ny)
    if x_lo >= x_hi or y_lo >= y_hi:
        return
    full_lo_x, full_lo_y = ix - half, iy - half
    size = 2 * half + 1
    along, across = rotated_coordinates((size, size), x - full_lo_x, y - full_lo_y, angle)
    stamp = np.exp(-0.5 * ((along / sigma_major) ** 2 + (across / sigma_minor) ** 2))
    stamp *= flux / stamp.sum()
    sky[y_lo:y_hi, x_lo:x_hi] += stamp[
        y_lo - full_lo_y : y_hi - full_lo_y, x_lo - full_lo_x : x_hi - full_lo_x
    ]


def add_point_sources(sky, x, y, flux):
    """Add unresolved sources, each split bilinearly over its four nearest pixels.

    Sources whose position lies outside the image are dropped.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    flux = np.asarray(flux, dtype=float)
    ny, nx = sky.shape
    x0 = np.floor(x).astype(int)
    y0 = np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for dy, dx, weight in (
        (0, 0, (1 - fx) * (1 - fy)),
        (0, 1, fx * (1 - fy)),
        (1, 0, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        xi, yi = x0 + dx, y0 + dy
        inside = (xi >= 0) & (xi < nx) & (yi >= 0) & (yi < ny)
        np.add.at(sky, (yi[inside], xi[inside]), (flux * weight)[inside])
