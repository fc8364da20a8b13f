"""Reading real and odd FITS images: axes, units, beams, and clear errors."""

import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from radiounet.cli import main
from radiounet.errors import RadioUNetError, RadioUNetWarning
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
    """A FITS image in Jy/beam unless ``cards`` say otherwise (``BUNIT=None``: no BUNIT card)."""
    header = header.copy()
    header["BUNIT"] = "Jy/beam"
    for key, value in cards.items():
        if value is None:
            header.remove(key, ignore_missing=True)
        else:
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


def test_a_missing_input_is_a_file_not_found_error_naming_it(tmp_path):
    """From Python, ``except FileNotFoundError`` (or ``OSError``) catches a missing image, table or model file."""
    from radiounet.detect import read_cluster_catalog
    from radiounet.detect.clusters import usable_images
    from radiounet.inference import Predictor
    from radiounet.train.config import load_config

    for call, name in ((read_radio_image, "gone.fits"), (read_cluster_catalog, "gone.ecsv"),
                       (Predictor, "gone.safetensors"), (load_config, "gone.toml"),
                       (lambda path: usable_images([path, path], None), "gone.fits")):
        with pytest.raises(FileNotFoundError, match="no such") as info:
            call(str(tmp_path / name))
        assert isinstance(info.value, RadioUNetError) and name in str(info.value) and "\n" not in str(info.value)


def test_an_image_without_bunit_is_read_as_jy_per_beam_with_a_warning_naming_it(tmp_path, capsys):
    beam = dict(BMAJ=6 / 3600, BMIN=6 / 3600)
    silent = _write(tmp_path / "silent.fits", np.zeros((64, 64), np.float32), _wcs_header(), BUNIT=None, **beam)
    with pytest.warns(RadioUNetWarning, match="silent.fits: no BUNIT in the header: the image is read as Jy/beam"):
        with read_radio_image(silent) as image:
            assert image.jy_per_unit == 1.0
    stated = _write(tmp_path / "stated.fits", np.zeros((64, 64), np.float32), _wcs_header(), **beam)
    with read_radio_image(stated), read_radio_image(silent, pixels_only=True):  # no warning: filterwarnings=error
        pass
    # The command line says it as its other warnings: one line, once per image and process.
    assert main(["presets"]) == 0 and "warning" not in capsys.readouterr().err
    from radiounet.cli import _one_line_warnings

    other = _write(tmp_path / "other.fits", np.zeros((64, 64), np.float32), _wcs_header(), BUNIT=None, **beam)
    with warnings.catch_warnings(), _one_line_warnings():
        warnings.simplefilter("default", RadioUNetWarning)  # as outside the tests, whose warnings are errors
        for path in (other, other, silent):
            read_radio_image(path).close()
    err = capsys.readouterr().err.splitlines()
    assert err == [f"radio-unet: warning: {other}: no BUNIT in the header: the image is read as Jy/beam (fluxes and "
                   "the noise are off by 1000 if it is in mJy/beam)"]
    # Made an error, as docs/errors.md says one can, it is raised at every read, not once.
    third = _write(tmp_path / "third.fits", np.zeros((64, 64), np.float32), _wcs_header(), BUNIT=None, **beam)
    for _ in range(2):
        with pytest.raises(RadioUNetWarning):
            read_radio_image(third)


def test_a_beam_is_given_from_python_as_a_beam_an_angle_or_the_option_text(tmp_path):
    path = _write(tmp_path / "nobeam.fits", np.zeros((16, 16), np.float32), _wcs_header(16, 16))
    for beam in (6 * u.arcsec, "6", parse_beam("6")):
        with read_radio_image(path, beam) as image:
            assert image.beam.major.to_value(u.arcsec) == pytest.approx(6)
    with pytest.raises(TypeError, match="beam must be a radio_beam.Beam, an angle"):
        read_radio_image(path, 6)
    with pytest.raises(RadioUNetError, match="nobeam.fits: no beam.*in Python: beam="):
        read_radio_image(path)
