"""FITS images with a celestial WCS, the beam, the brightness unit and the frequency."""

import astropy.units as u
import numpy as np
from astropy.io import fits

from radiounet import __version__
from radiounet.io.atomic import atomic_path

__all__ = ["image_header", "write_image"]

def image_header(wcs, survey=None, bunit=None):
    """A FITS header for an image on ``wcs``.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        Celestial WCS of the image.
    survey : radiounet.sky.Survey, optional
        Adds BMAJ/BMIN/BPA (degrees), FREQ and RESTFRQ (Hz) and TELESCOP.
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
    header["ORIGIN"] = f"radiounet {__version__}"
    return header

def write_image(path, data, header, extra_cards=()):
    """Write ``data`` as the primary HDU of a FITS file, atomically.

    Boolean arrays are stored as uint8. ``extra_cards`` is an iterable of
    ``(keyword, value, comment)`` added to the header.
    """
    data = np.asarray(data)
    if data.dtype == bool:
        data = data.astype(np.uint8)
    header = header.copy()
    for keyword, value, comment in extra_cards:
        header[keyword] = (value, comment)
    with atomic_path(path) as tmp:
        fits.PrimaryHDU(data=data, header=header).writeto(tmp, overwrite=True)

