"""Writing many fields: files, FITS headers, truth tables, determinism across workers, resume."""

import hashlib

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable
from astropy.wcs import WCS

from radiounet.errors import OutputError, RadioUNetError
from radiounet.sky import FieldConfig, SkyConfig
from radiounet.sky.batch import simulate_to_directory


def _digests(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def run(tmp_path_factory, lotss):
    config = FieldConfig(lotss, shape=(200, 240), sky=SkyConfig(fraction_diffuse=0.7, fraction_radio_galaxies=0.3,
                                                                 redshift=(0.1, 0.3)))
    directory = tmp_path_factory.mktemp("run")
    truth = simulate_to_directory(directory, config, 4, seed=9, workers=2, progress=False)
    return config, directory, truth


def test_every_field_has_its_files(run):
    _, directory, truth = run
    for name in truth["field"]:
        for suffix in (".fits", ".mask.fits", ".labels.fits", ".png", ".truth.ecsv"):
            assert (directory / f"{name}{suffix}").is_file()
    assert (directory / "truth.ecsv").is_file() and (directory / "components.ecsv").is_file()
    assert not list(directory.glob(".*tmp"))


def test_fits_image_has_unit_beam_frequency_and_wcs(run):
    config, directory, truth = run
    with fits.open(directory / f"{truth['field'][0]}.fits") as hdul:
        header, data = hdul[0].header, hdul[0].data
    assert data.shape == (200, 240) and data.dtype == np.dtype(">f4")
    assert u.Unit(header["BUNIT"]) == u.Jy / u.beam
    assert header["BMAJ"] * 3600 == pytest.approx(6.0) and header["BMIN"] * 3600 == pytest.approx(6.0)
    assert header["FREQ"] == pytest.approx(144e6)
    wcs = WCS(header)
    assert wcs.has_celestial and wcs.naxis == 2
    with fits.open(directory / f"{truth['field'][0]}.mask.fits") as hdul:
        assert hdul[0].data.dtype == np.uint8 and set(np.unique(hdul[0].data)) <= {0, 1}


def test_truth_positions_match_the_fits_coordinates(run):
    _, directory, truth = run
    components = QTable.read(directory / "components.ecsv")
    assert set(components["kind"]) <= {"halo", "relic", "radio_galaxy"}
    for row in components:
        wcs = WCS(fits.getheader(directory / f"{row['field']}.fits"))
        ra, dec = wcs.all_pix2world(row["x"], row["y"], 0)
        assert ra == pytest.approx(row["ra"].to_value(u.deg)) and dec == pytest.approx(row["dec"].to_value(u.deg))
    for row in truth:
        wcs = WCS(fits.getheader(directory / f"{row['field']}.fits"))
        ra, dec = wcs.all_pix2world(row["x"], row["y"], 0)
        assert ra == pytest.approx(row["ra"].to_value(u.deg))
        assert row["r500_arcsec"].unit == u.arcsec and row["r500_kpc"].unit == u.kpc
        n = (components["field"] == row["field"])
        assert n.sum() == row["n_halos"] + row["n_relics"] + row["n_radio_galaxies"]
        mask = fits.getdata(directory / f"{row['field']}.mask.fits")
        assert mask.sum() == row["mask_pixels"]
        assert (row["mask_pixels"] > 0) <= (row["has_halo"] or row["has_relic"])


def test_same_seed_gives_the_same_bytes_whatever_the_workers(run, tmp_path):
    config, directory, _ = run
    simulate_to_directory(tmp_path, config, 4, seed=9, workers=1, progress=False)
    assert _digests(tmp_path) == _digests(directory)


def test_interrupted_run_resumes_to_the_same_bytes(run, tmp_path):
    config, directory, _ = run
    simulate_to_directory(tmp_path, config, 4, seed=9, progress=False)
    # An interrupted run: a field without its truth file (the last written) and no tables.
    for name in ("field_00002.truth.ecsv", "field_00002.png", "truth.ecsv", "components.ecsv"):
        (tmp_path / name).unlink()
    (tmp_path / "field_00002.fits").write_bytes(b"half written")
    simulate_to_directory(tmp_path, config, 4, seed=9, progress=False)
    assert _digests(tmp_path) == _digests(directory)


def test_a_directory_of_another_run_is_refused(run):
    config, directory, _ = run
    with pytest.raises(RadioUNetError, match="another configuration or seed"):
        simulate_to_directory(directory, config, 4, seed=10, progress=False)


def test_fewer_fields_than_the_directory_holds_or_a_damaged_truth_file_are_refused(run, tmp_path):
    config, directory, _ = run
    with pytest.raises(RadioUNetError, match="holds 2 more fields than --n-fields 2 .*at least --n-fields 4"):
        simulate_to_directory(directory, config, 2, seed=9, progress=False)
    simulate_to_directory(tmp_path, config, 2, seed=9, progress=False)
    (tmp_path / "field_00001.truth.ecsv").write_text("# %ECSV 1.0\nnot a table")
    with pytest.raises(RadioUNetError, match="field_00001.truth.ecsv: not a readable truth table"):
        simulate_to_directory(tmp_path, config, 2, seed=9, progress=False)


def test_unwritable_output_directory_is_reported(tmp_path, small_config):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="a_file"):
        simulate_to_directory(blocker / "out", small_config, 1, progress=False)


def test_single_field_writer_creates_its_directory_and_readable_files(tmp_path, small_config):
    import os
    import stat

    from radiounet.sky import field_rng, simulate_field
    from radiounet.sky.batch import write_field

    field = simulate_field(small_config, field_rng(0, 0))
    write_field(field, tmp_path / "new" / "dir", "one", quicklook=False)
    path = tmp_path / "new" / "dir" / "one.fits"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
