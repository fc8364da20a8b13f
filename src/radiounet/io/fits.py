"""FITS images with a celestial WCS, the beam, the brightness unit and the frequency."""

import warnings

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from radiounet import __version__
from radiounet.errors import RadioUNetError
from radiounet.io.atomic import atomic_path

__all__ = ["image_header", "read_image", "write_image"]

_BRIGHTNESS_UNITS = {"jy/beam": 1.0, "mjy/beam": 1e-3, "ujy/beam": 1e-6, "µjy/beam": 1e-6}
_KEPT_CARDS = ("BMAJ", "BMIN", "BPA", "FREQ", "RESTFRQ", "TELESCOP", "OBJECT", "ORIGIN")


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


def read_image(path):
    """Read the 2-D celestial plane of a FITS image, in Jy/beam.

    Degenerate axes (FREQ, STOKES of LOFAR images) are dropped; ``mJy/beam``
    and ``uJy/beam`` are converted; a missing BUNIT is taken as Jy/beam.

    Returns
    -------
    data : numpy.ndarray
        float32 2-D array.
    header : astropy.io.fits.Header
        The header with a 2-D celestial WCS.

    Raises
    ------
    RadioUNetError
        Naming the file: unreadable or truncated FITS, no image, not 2-D after
        dropping degenerate axes, or an unknown brightness unit.
    """
    try:
        with fits.open(path, memmap=False) as hdul:
            hdu = next((h for h in hdul if h.is_image and h.data is not None and h.data.ndim >= 2), None)
            if hdu is None:
                raise RadioUNetError(f"{path}: no image in this FITS file")
            data = np.asarray(hdu.data, dtype=np.float32)
            header = hdu.header.copy()
    except (OSError, TypeError, ValueError) as exc:
        raise RadioUNetError(f"{path}: not a readable FITS image ({exc})") from None
    while data.ndim > 2 and data.shape[0] == 1:
        data = data[0]
    if data.ndim != 2:
        raise RadioUNetError(f"{path}: image has shape {data.shape}; expected a 2-D plane "
                             "(with only degenerate extra axes)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header).celestial
    if wcs.naxis != 2:
        raise RadioUNetError(f"{path}: no celestial WCS (RA/Dec axes) in the header")
    unit_text = str(header.get("BUNIT", "Jy/beam")).strip()
    scale = _BRIGHTNESS_UNITS.get(unit_text.lower().replace(" ", ""))
    if scale is None:
        raise RadioUNetError(f"{path}: unknown brightness unit BUNIT={unit_text!r}; expected Jy/beam or mJy/beam")
    celestial_header = wcs.to_header()
    for key in _KEPT_CARDS:
        if key in header:
            celestial_header[key] = header[key]
    celestial_header["BUNIT"] = "Jy/beam"
    return data * np.float32(scale), celestial_header
