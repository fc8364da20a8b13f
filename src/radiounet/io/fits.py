"""FITS images with a celestial WCS, the beam, the brightness unit and the frequency."""

import astropy.units as u
import numpy as np
from astropy.io import fits

from radiounet import __version__
from radiounet.io.atomic import atomic_path
from radiounet.io.memmap import release_pages

__all__ = ["image_header", "write_image"]

def image_header(wcs, survey=None, bunit=None):
    """A FITS header for an image on ``wcs``.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        Celestial WCS of the image.
    survey : radiounet.sky.Survey, optional
        Adds BMAJ/BMIN/BPA (degrees), FREQ and RESTFRQ (Hz), TELESCOP and, for a compact-source-subtracted
        image, SUBTRACT (Jy).
    bunit : str, optional
        Brightness unit, e.g. ``"Jy/beam"``.
    """
    header = wcs.to_header()
    if bunit is not None:
        header["BUNIT"] = bunit
    if survey is not None:
        header.update(survey.beam.to_header_keywords())
        frequency = survey.frequency.to_value(u.Hz)
        header["FREQ"] = (frequency, "[Hz] observing frequency")
        header["RESTFRQ"] = (frequency, "[Hz] observing frequency")
        header["TELESCOP"] = (survey.name, "survey preset of the simulation")
        if survey.compact_subtracted_above is not None:
            header["SUBTRACT"] = (survey.subtraction_limit_jy, "[Jy] compact sources above it subtracted")
    header["ORIGIN"] = f"radiounet {__version__}"
    return header

def write_image(path, data, header, extra_cards=()):
    """Write ``data`` as the primary HDU of a FITS file, atomically.

    Boolean arrays are stored as uint8. ``extra_cards`` is an iterable of
    ``(keyword, value, comment)`` added to the header.
    """
    header = header.copy()
    for keyword, value, comment in extra_cards:
        header[keyword] = (value, comment)
    if isinstance(data, np.memmap):
        with atomic_path(path) as tmp:
            _write_in_bands(tmp, data, header)
        return
    data = np.asarray(data)
    if data.dtype == bool:
        data = data.astype(np.uint8)
    with atomic_path(path) as tmp:
        fits.PrimaryHDU(data=data, header=header).writeto(tmp, overwrite=True)


def _write_in_bands(path, data, header, band=1024):
    """Write a memory-mapped image (or cube) a band of rows at a time, dropping each band's pages once
    written, so that the resident memory stays at a band."""
    dtype = np.uint8 if data.dtype == bool else data.dtype
    hdu_header = fits.PrimaryHDU(data=np.zeros((1,) * data.ndim, dtype=dtype), header=header).header
    for axis, length in enumerate(reversed(data.shape), start=1):
        hdu_header[f"NAXIS{axis}"] = length
    stream = fits.StreamingHDU(path, hdu_header)
    try:
        planes = data.reshape((-1,) + data.shape[-2:])
        for plane in planes:
            for start in range(0, plane.shape[0], band):
                stream.write(np.asarray(plane[start:start + band], dtype=dtype))
                release_pages(data)
    finally:
        stream.close()
