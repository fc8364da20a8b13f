"""Reading real and odd FITS images: axes, units, beams, and clear errors."""

from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from radiounet.errors import RadioUNetError
from radiounet.io.image import parse_beam, read_radio_image

DATA = Path(__file__).parent / "data"


def _wcs_header(ny=64, nx=64, naxis=2):
    wcs = WCS(naxis=naxis)
    ctype = ["RA---SIN", "DEC--SIN", "FREQ", "STOKES"][:naxis]
    wcs.wcs.ctype = ctype
    wcs.wcs.crval = [150.0, 30.0, 1.44e8, 1.0][:naxis]
    wcs.wcs.crpix = [nx / 2, ny / 2, 1, 1][:naxis]
    wcs.wcs.cdelt = [-1.5 / 3600, 1.5 / 3600, 1e6, 1][:naxis]
    return wcs.to_header()


def _write(path, data, header, **cards):
    header = header.copy()
    for key, value in cards.items():
        header[key] = value
    fits.PrimaryHDU(data=data, header=header).writeto(path)
    return path


def test_real_lotss_image(tmp_path):
    with read_radio_image(DATA / "lotss_dr1_P218+55_200px.fits") as image:
        assert image.shape == (200, 200)
        assert image.pixel_arcsec == pytest.approx(1.5)
        assert image.beam.major.to_value(u.arcsec) == pytest.approx(6.0)
        assert image.beam_fwhm_pixels == pytest.approx(4.0)
        assert image.beam_area_pixels == pytest.approx(1.1331 * 16, rel=1e-3)


def test_real_header_with_the_beam_only_in_aips_history_and_4d_axes():
    with read_radio_image(DATA / "vla_fornax_a_no_bmaj.fits") as image:
        assert image.shape == (512, 512) and image.wcs.naxis == 2
        assert image.beam.major.to_value(u.arcsec) == pytest.approx(14.0, rel=1e-3)
        assert np.isfinite(np.asarray(image.data)).mean() > 0.9


def test_lofar_4d_image_in_mjy_per_beam(tmp_path):
    data = np.ones((1, 1, 32, 40), np.float32)
    path = _write(tmp_path / "cube.fits", data, _wcs_header(32, 40, naxis=4), BUNIT="mJy/beam",
                  BMAJ=6 / 3600, BMIN=5 / 3600, BPA=20.0)
    with read_radio_image(path) as image:
        assert image.shape == (32, 40) and image.jy_per_unit == pytest.approx(1e-3)
        assert image.beam.minor.to_value(u.arcsec) == pytest.approx(5.0)
        assert image.header["BUNIT"] == "Jy/beam" and WCS(image.header).naxis == 2


def test_beam_option_replaces_a_missing_beam(tmp_path):
    path = _write(tmp_path / "nobeam.fits", np.zeros((16, 16), np.float32), _wcs_header(16, 16))
    with pytest.raises(RadioUNetError, match="nobeam.fits.*--beam"):
        read_radio_image(path)
    with read_radio_image(path, parse_beam("20,15,30")) as image:
        assert image.beam.major.to_value(u.arcsec) == pytest.approx(20)
        assert image.beam.pa.to_value(u.deg) == pytest.approx(30)
    assert parse_beam("6").minor.to_value(u.arcsec) == pytest.approx(6)
    quantities = parse_beam("0.005 deg,15 arcsec,0.5 rad")  # quantities, as other options take them
    assert quantities.major.to_value(u.arcsec) == pytest.approx(18) and quantities.pa.to_value(u.rad) == 0.5
    for bad in ("", "a,b", "6,7", "-1", "6,5", "7 km"):
        with pytest.raises(RadioUNetError, match="--beam"):
            parse_beam(bad)


def test_bad_files_are_named_with_their_problem(tmp_path):
    beam = dict(BMAJ=6 / 3600, BMIN=6 / 3600)
    no_wcs = tmp_path / "nowcs.fits"
    fits.PrimaryHDU(np.zeros((8, 8), np.float32)).writeto(no_wcs)
    table = tmp_path / "table.fits"
    Table({"a": [1, 2]}).write(table)
    truncated = tmp_path / "truncated.fits"
    good = _write(tmp_path / "good.fits", np.zeros((64, 64), np.float32), _wcs_header(), **beam)
    truncated.write_bytes(good.read_bytes()[:4000])
    odd_unit = _write(tmp_path / "kelvin.fits", np.zeros((8, 8), np.float32), _wcs_header(8, 8), BUNIT="K", **beam)
    cube = _write(tmp_path / "cube.fits", np.zeros((3, 8, 8), np.float32), _wcs_header(8, 8), **beam)
    not_fits = tmp_path / "notes.fits"
    not_fits.write_text("hello")
    cases = {no_wcs: "no celestial WCS", table: "no image", truncated: "truncated|cannot read",
             odd_unit: "unknown brightness unit", cube: "2-D celestial plane", not_fits: "not a readable FITS"}
    for path, message in cases.items():
        with pytest.raises(RadioUNetError, match=message) as info:
            read_radio_image(path)
        assert path.name in str(info.value) and "\n" not in str(info.value)
