"""Radio images as read from FITS: the celestial plane, its WCS, beam and brightness unit.

Real survey images differ: LOFAR images are often 4-D (RA, Dec, FREQ,
STOKES) with degenerate extra axes, the unit is written ``JY/BEAM``,
``Jy/beam``, ``mJy/beam`` or ``Jy beam-1``, and the beam is in BMAJ/BMIN/BPA,
only in the AIPS history cards, or in a CASA ``BEAMS`` table.
:func:`read_radio_image` accepts all of these and gives a clear error, naming
the file, for anything else.
"""

import numbers
import os
import warnings
import zlib
from dataclasses import dataclass, field

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning
from astropy.utils.exceptions import AstropyUserWarning
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import proj_plane_pixel_scales
from radio_beam import Beam, Beams

from radiounet.errors import InvalidParameterError, MissingFileError, RadioUNetError, RadioUNetWarning

__all__ = ["RadioImage", "read_radio_image", "read_cutout", "parse_beam", "as_beam", "as_paths", "pixel_arcsec",
           "require_beams_across", "MIN_BEAMS_ACROSS", "RESAMPLE_TOLERANCE", "first_image_hdu"]

_BRIGHTNESS_UNITS = {"jy/beam": 1.0, "mjy/beam": 1e-3, "ujy/beam": 1e-6, "µjy/beam": 1e-6, "jy/bm": 1.0}
# Cards copied to the 2-D header (the beam's come from the parsed beam).
_KEPT_CARDS = ("FREQ", "RESTFRQ", "TELESCOP", "OBJECT", "ORIGIN")
_BEAM_HINT = "give --beam BMAJ[,BMIN,BPA] in arcsec, arcsec, degrees (in Python: beam='BMAJ,BMIN,BPA')"
#: Images already said to have no BUNIT: once per file and process (a batch reads an image more than once, and
#: Python's own once-per-place rule forgets at every change of the warning filters, which reading an image makes).
_WARNED_WITHOUT_BUNIT = set()
#: An image must be at least this many beam major axes across (shorter side) to be segmented.
MIN_BEAMS_ACROSS = 4
#: An image whose beam spans a model's pixels per beam within this relative difference is not regridded.
RESAMPLE_TOLERANCE = 0.1


@dataclass
class RadioImage:
    """The celestial plane of a FITS image.

    Attributes
    ----------
    path : str
    data : numpy.ndarray
        2-D array in the file's unit (a memory map for uncompressed files:
        read it in pieces for large mosaics).
    jy_per_unit : float
        Multiply ``data`` by this to get Jy/beam.
    wcs : astropy.wcs.WCS
        2-D celestial WCS.
    beam : radio_beam.Beam
    header : astropy.io.fits.Header
        A 2-D header: the celestial WCS and the beam, unit, frequency cards of the input.
    """

    path: str
    data: np.ndarray
    jy_per_unit: float
    wcs: WCS
    beam: Beam
    header: fits.Header
    _hdul: fits.HDUList = field(default=None, repr=False)

    def close(self):
        """Release the file (the memory-mapped ``data`` becomes invalid)."""
        if self._hdul is not None:
            self._hdul.close()
            self._hdul = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def shape(self):
        return self.data.shape

    @property
    def pixel_arcsec(self):
        """Pixel size in arcsec (geometric mean of the two axes)."""
        return pixel_arcsec(self.wcs)

    @property
    def beam_area_pixels(self):
        """Beam solid angle in pixels."""
        return float(self.beam.sr.to_value(u.arcsec**2)) / self.pixel_arcsec**2

    @property
    def beam_fwhm_pixels(self):
        """Beam FWHM in pixels (geometric mean of the major and minor axes)."""
        fwhm = np.sqrt(self.beam.major.to_value(u.arcsec) * self.beam.minor.to_value(u.arcsec))
        return fwhm / self.pixel_arcsec


def pixel_arcsec(wcs):
    """Pixel size of a celestial WCS in arcsec (geometric mean of the two axes)."""
    scales = np.abs(proj_plane_pixel_scales(wcs)) * 3600.0
    return float(np.sqrt(scales[0] * scales[1]))


def _beam_value(text, unit):
    """A number in ``unit``, or a quantity (``"7 arcsec"``, ``"0.002 deg"``) converted to it."""
    try:
        return float(text)
    except ValueError:
        return float(u.Quantity(text).to_value(unit))


def parse_beam(text):
    """A beam from ``"BMAJ[,BMIN,BPA]"`` (arcsec, arcsec, degrees, or quantities such as ``"0.002 deg"``), as given
    on the command line."""
    parts = text.split(",")
    try:
        values = [_beam_value(v, u.deg if k == 2 else u.arcsec) for k, v in enumerate(parts)]
    except (ValueError, TypeError, u.UnitsError):
        values = []
    if len(values) not in (1, 3) or not all(np.isfinite(values)) or min(values[:2]) <= 0:
        raise RadioUNetError(f"--beam {text!r}: give BMAJ or BMAJ,BMIN,BPA (arcsec, arcsec, deg, or quantities), "
                             "e.g. 6 or 20,15,30 or '0.002 deg'")
    bmaj, bmin, bpa = (values[0], values[0], 0.0) if len(values) == 1 else values
    if bmin > bmaj:
        raise RadioUNetError(f"--beam {text!r}: BMIN must not exceed BMAJ")
    return Beam(major=bmaj * u.arcsec, minor=bmin * u.arcsec, pa=bpa * u.deg)


def as_beam(beam):
    """A :class:`radio_beam.Beam` from what a caller may give for one: a Beam, an angle (a circular beam of that
    FWHM), a string as ``--beam`` takes it (:func:`parse_beam`), or None (the header's).

    Raises
    ------
    TypeError
        For anything else.
    RadioUNetError
        For a string or angle that is not a beam.
    """
    if beam is None or isinstance(beam, Beam):
        return beam
    if isinstance(beam, str):
        return parse_beam(beam)
    if isinstance(beam, u.Quantity) and beam.unit.physical_type == "angle" and beam.isscalar:
        fwhm = float(beam.to_value(u.arcsec))
        if not (np.isfinite(fwhm) and fwhm > 0):
            raise InvalidParameterError("beam", beam, "must be a positive angle (the FWHM of a circular beam)")
        return Beam(major=fwhm * u.arcsec, minor=fwhm * u.arcsec, pa=0 * u.deg)
    raise TypeError(f"beam must be a radio_beam.Beam, an angle (e.g. 6 * u.arcsec) or 'BMAJ[,BMIN,BPA]' in arcsec, "
                    f"arcsec, deg, not {type(beam).__name__} {beam!r}")


def as_paths(paths):
    """A list of paths from one path (str or path-like) or a sequence of them, so that a caller giving one file
    does not get each character taken for a file."""
    return [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)


def _jy_per_beam(unit_text):
    """Jy/beam per unit of ``unit_text`` (``JY/BEAM``, ``mJy/beam``, ``Jy beam-1``, ...); None if it is no
    brightness per beam."""
    scale = _BRIGHTNESS_UNITS.get(unit_text.lower().replace(" ", ""))
    if scale is not None:
        return scale
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", u.UnitsWarning)
            return float(u.Unit(unit_text, parse_strict="silent").to(u.Jy / u.beam))
    except (ValueError, TypeError, u.UnitsError):
        return None


def _beam_card(header, key, path):
    """A beam card's value in degrees; a one-line error for text, NaN or an unparsable card."""
    try:
        value = header[key]
    except fits.VerifyError:  # e.g. "BMAJ = NaN", which astropy cannot parse
        value = None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        shown = "an unparsable card" if value is None else repr(value)
        raise RadioUNetError(f"{path}: beam {key} in the header is not a number ({shown}); fix the header or "
                             f"{_BEAM_HINT}")
    return float(value)


def _beam(major, minor, pa, path, source):
    """A :class:`Beam` from axes in degrees, refusing axes that are not positive."""
    for key, value in (("BMAJ", major), ("BMIN", minor)):
        if not value > 0:
            raise RadioUNetError(f"{path}: beam {key}={value * 3600:g} arcsec ({source}) is not positive; fix the "
                                 f"header or {_BEAM_HINT}")
    if minor > major:  # the same ellipse with its axes named the other way round
        major, minor, pa = minor, major, pa + 90.0
    return Beam(major=major * u.deg, minor=minor * u.deg, pa=pa * u.deg)


def _beam_from_header(header, path):
    if "BMAJ" in header and "BMIN" in header:
        axes = [_beam_card(header, key, path) for key in ("BMAJ", "BMIN")]
        pa = _beam_card(header, "BPA", path) if "BPA" in header else 0.0
        return _beam(*axes, pa, path, "BMAJ/BMIN in the header")
    for card in reversed(header.get("HISTORY", [])):
        # AIPS writes: "AIPS   CLEAN BMAJ=  1.6667E-03 BMIN=  1.6667E-03 BPA=   0.00"
        if "BMAJ=" in card and "BMIN=" in card:
            try:
                fields = card.replace("=", " = ").split()
                value = {fields[i - 1]: float(fields[i + 1]) for i, f in enumerate(fields) if f == "="}
                axes = value["BMAJ"], value["BMIN"], value.get("BPA", 0.0)
            except (KeyError, ValueError, IndexError):
                continue
            return _beam(*axes, path, "AIPS HISTORY card")
    return None


def _beam_from_beams_table(hdul, path):
    """The beam of a CASA image whose header has none but a ``BEAMS`` table (per-plane beams): the first row's,
    the plane that is read."""
    table = next((hdu for hdu in hdul if isinstance(hdu, fits.BinTableHDU) and hdu.name == "BEAMS"), None)
    if table is None or table.data is None or not len(table.data):
        return None
    try:
        beam = Beams.from_fits_bintable(table)[0]
    except Exception as exc:  # radio_beam and astropy raise many kinds for a malformed table
        raise RadioUNetError(f"{path}: cannot read the beam from its BEAMS table ({exc}); {_BEAM_HINT}") from None
    return _beam(float(beam.major.to_value(u.deg)), float(beam.minor.to_value(u.deg)), float(beam.pa.to_value(u.deg)),
                 path, "CASA BEAMS table")


def _require_pixel_scale(header, wcs, path):
    """Refuse a celestial WCS without CDELT or CD cards: WCS would silently take 1 degree per pixel."""
    axes = (wcs.wcs.lng + 1, wcs.wcs.lat + 1)
    if not (all(f"CDELT{i}" in header for i in axes) or any(f"CD{i}_{j}" in header for i in axes for j in axes)):
        raise RadioUNetError(f"{path}: no pixel size in the header (CDELT{axes[0]}/CDELT{axes[1]} or a CD matrix)")


def _require_beam_over_a_pixel(beam, wcs, path):
    fwhm = float(np.sqrt(beam.major.to_value(u.arcsec) * beam.minor.to_value(u.arcsec)))
    pixel = pixel_arcsec(wcs)
    if not fwhm >= pixel:
        raise RadioUNetError(f"{path}: the beam ({fwhm:.3g} arcsec) is smaller than a pixel ({pixel:.3g} arcsec); "
                             "check BMAJ/BMIN (degrees) and CDELT, or give --beam in arcsec")


def require_beams_across(image, beams=MIN_BEAMS_ACROSS):
    """Raise :class:`RadioUNetError` unless ``image`` (a :class:`RadioImage`) is at least ``beams`` beam major
    axes across on its shorter side: a larger beam is nearly always a header in the wrong unit."""
    major = float(image.beam.major.to_value(u.arcsec))
    ny, nx = image.shape
    side = min(ny, nx) * image.pixel_arcsec
    if major * beams > side:
        part = "the image" if major > side else f"1/{beams} of the image"
        raise RadioUNetError(
            f"{image.path}: the beam ({major:.4g} arcsec) is larger than {part} ({ny} x {nx} pixels, "
            f"{ny * image.pixel_arcsec:.4g} x {nx * image.pixel_arcsec:.4g} arcsec): too few beams across to "
            "segment; check BMAJ/BMIN (degrees) and CDELT, or give --beam in arcsec")


def first_image_hdu(hdul):
    """The first HDU of ``hdul`` (an open FITS file) that holds an image of two axes or more, or None."""
    return next((hdu for hdu in hdul if hdu.is_image and hdu.header.get("NAXIS", 0) >= 2), None)


def _read_plane(path):
    """Header, data (memory-mapped where the file allows) and the data's full shape."""
    if not os.path.exists(path):
        raise MissingFileError(f"{path}: no such file")
    for memmap in (True, False):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", AstropyUserWarning)
                hdul = fits.open(path, memmap=memmap)
        except (OSError, ValueError, TypeError, EOFError, zlib.error) as exc:  # the last two: broken gzip
            raise RadioUNetError(f"{path}: not a readable FITS file ({exc})") from None
        truncated = [w for w in caught if "truncated" in str(w.message)]
        if truncated:
            hdul.close()
            raise RadioUNetError(f"{path}: the file is truncated ({truncated[0].message})")
        hdu = first_image_hdu(hdul)
        if hdu is None:
            kinds = ", ".join(type(h).__name__ for h in hdul)
            hdul.close()
            raise RadioUNetError(f"{path}: no image in this FITS file (it holds {kinds})")
        try:
            data = hdu.data
        except ValueError as exc:
            if memmap and "memory-mapped" in str(exc):  # scaled integers (BZERO/BSCALE) cannot be mapped
                hdul.close()
                continue
            hdul.close()
            raise RadioUNetError(f"{path}: cannot read the image data ({exc})") from None
        except (OSError, TypeError, EOFError, zlib.error) as exc:
            hdul.close()
            raise RadioUNetError(f"{path}: cannot read the image data, the file may be truncated ({exc})") from None
        return hdul, hdu.header, data, None if data is None else data.shape
    raise AssertionError("unreachable")


def read_radio_image(path, beam=None, *, pixels_only=False):
    """Read a FITS image's celestial plane with its WCS, beam and unit.

    Parameters
    ----------
    path : str or Path
    beam : radio_beam.Beam, angle or str, optional
        Overrides the header's beam (needed when the header has none): a Beam, an angle for a circular one
        (``6 * u.arcsec``) or ``"BMAJ[,BMIN,BPA]"`` as ``--beam`` takes it (:func:`as_beam`).
    pixels_only : bool
        Only the pixels and the WCS are needed (a mask, or an image whose
        scale does not matter): the brightness unit, the pixel size and the
        header's beam are not read, and the result's beam is ``beam`` (None
        if not given).

    Returns
    -------
    RadioImage

    Raises
    ------
    RadioUNetError
        Naming the file and the problem: unreadable or truncated FITS, a
        table instead of an image, extra non-degenerate axes, no celestial
        WCS, no pixel size, an unknown unit, no beam, a beam that is not a
        positive number or is smaller than a pixel. A file that does not exist is a
        :class:`~radiounet.errors.MissingFileError`, also a ``FileNotFoundError``.
    """
    path = str(path)
    beam = as_beam(beam)
    hdul, header, data, shape = _read_plane(path)
    try:
        if data is None or data.size == 0:
            raise RadioUNetError(f"{path}: the image HDU holds no data")
        while data.ndim > 2 and data.shape[0] == 1:
            data = data[0]
        if data.ndim != 2:
            raise RadioUNetError(f"{path}: image has shape {shape}; expected a 2-D celestial plane "
                                 "(extra axes such as FREQ or STOKES must have length 1)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            # Cards astropy cannot parse (e.g. "BMAJ = NaN") are read as text; the beam check names them.
            warnings.simplefilter("ignore", VerifyWarning)
            try:
                full_wcs = WCS(header)
                wcs = full_wcs.celestial
            except Exception as exc:  # astropy raises many kinds for broken WCS headers
                # wcslib's messages run over several lines.
                raise RadioUNetError(f"{path}: invalid WCS in the header ({' '.join(str(exc).split())})") from None
        if wcs.naxis != 2 or not wcs.has_celestial:
            raise RadioUNetError(f"{path}: no celestial WCS (RA/Dec axes) in the header")
        unit_text = str(header.get("BUNIT", "Jy/beam")).strip()
        if "BUNIT" not in header and not pixels_only and os.path.abspath(path) not in _WARNED_WITHOUT_BUNIT:
            warnings.warn(f"{path}: no BUNIT in the header: the image is read as Jy/beam (fluxes and the noise are "
                          "off by 1000 if it is in mJy/beam)", RadioUNetWarning, stacklevel=2)
            _WARNED_WITHOUT_BUNIT.add(os.path.abspath(path))  # after: a warning made an error is raised every time
        scale = 1.0 if pixels_only else _jy_per_beam(unit_text)
        if scale is None:
            raise RadioUNetError(f"{path}: unknown brightness unit BUNIT={unit_text!r}; expected a brightness per beam "
                                 "(Jy/beam, mJy/beam, ...)")
        if not pixels_only:
            _require_pixel_scale(header, full_wcs, path)
            if beam is None:
                beam = _beam_from_header(header, path)
            if beam is None:
                beam = _beam_from_beams_table(hdul, path)
            if beam is None:
                raise RadioUNetError(f"{path}: no beam in the header (BMAJ/BMIN/BPA or AIPS HISTORY) nor a CASA BEAMS "
                                     f"table; {_BEAM_HINT}")
            _require_beam_over_a_pixel(beam, wcs, path)
        celestial_header = wcs.to_header()
        for key in _KEPT_CARDS:
            if key in header:
                celestial_header[key] = header[key]
        if beam is not None:
            celestial_header.update(beam.to_header_keywords())
        if not pixels_only:
            celestial_header["BUNIT"] = "Jy/beam"
    except BaseException:
        hdul.close()
        raise
    return RadioImage(path=path, data=data, jy_per_unit=scale, wcs=wcs, beam=beam, header=celestial_header,
                      _hdul=hdul)


def read_cutout(path, position, size_pixels, beam=None):
    """A square :class:`RadioImage` of ``size_pixels`` centred on ``position`` (a SkyCoord), NaN outside the image.

    Only the cutout is read (``astropy.nddata.Cutout2D`` slices the
    memory-mapped data), even from a large mosaic; the result is float32 in
    memory and needs no closing.
    """
    from astropy.nddata import Cutout2D

    with read_radio_image(path, beam) as image:
        cut = Cutout2D(image.data, position, (size_pixels, size_pixels), wcs=image.wcs, mode="partial",
                       fill_value=np.nan, copy=True)
        header = image.header.copy()
        header.update(cut.wcs.to_header())
        return RadioImage(path=str(path), data=cut.data.astype(np.float32), jy_per_unit=image.jy_per_unit,
                          wcs=cut.wcs, beam=image.beam, header=header)
