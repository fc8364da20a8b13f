"""Injection test: the mock halo's flux, completeness numbers of a hand-made case, the inject command."""

import astropy.units as u
import numpy as np
import pytest
from astropy.table import QTable
from radio_beam import Beam

from radiounet.cli import main
from radiounet.evaluate.injection import completeness, flux_at_completeness, halo_image


def test_halo_image_carries_its_flux_and_is_centred():
    beam = Beam(major=6 * u.arcsec, minor=6 * u.arcsec, pa=0 * u.deg)
    image = halo_image((301, 301), 150.0, 140.0, 0.05, 20.0, beam, 1.5)
    beam_area_pixels = beam.sr.to_value(u.arcsec**2) / 1.5**2
    # Jy/beam summed over pixels and divided by the beam area is Jy; the profile stops at 6 r_e.
    assert image.sum() / beam_area_pixels == pytest.approx(0.05, rel=1e-3)
    assert np.unravel_index(np.argmax(image), image.shape) == (140, 150)


def _injections():
    # 3 sites x 3 fluxes; site c is detected without a halo and must be left out.
    return QTable({"site": list("aaabbbccc"),
                   "flux": [1, 10, 100] * 3 * u.mJy,
                   "i0_snr": [0.1, 1.0, 10.0, 0.2, 2.0, 20.0, 0.1, 1.0, 10.0],
                   "detected": [False, False, True, False, True, True, True, True, True],
                   "detected_baseline": [False] * 6 + [True] * 3})


def test_completeness_per_flux_and_flux_at_a_level():
    curve = completeness(_injections(), "flux")
    assert list(curve["flux"].to_value(u.mJy)) == [1, 10, 100]
    assert list(curve["n"]) == [2, 2, 2] and list(curve["completeness"]) == [0.0, 0.5, 1.0]
    # Wilson 68% interval of 0 of 2: (0, 1/3)
    assert curve["completeness_low"][0] == pytest.approx(0) and curve["completeness_high"][0] == pytest.approx(1 / 3)
    assert flux_at_completeness(curve, 0.5) == pytest.approx(10)
    assert flux_at_completeness(curve, 0.75) == pytest.approx(np.sqrt(10 * 100))
    assert np.isnan(flux_at_completeness(curve[:2], 0.9))


def test_completeness_per_brightness_bin():
    curve = completeness(_injections(), "i0_snr", bins=[0.05, 0.5, 5, 50])
    assert list(curve["n"]) == [2, 2, 2] and list(curve["n_detected"]) == [0, 1, 2]


def test_inject_command_detects_bright_halos_and_resumes(tmp_path, capsys):
    sim = tmp_path / "sim"
    assert main(["simulate", "--out", str(sim), "--n-fields", "1", "--size", "320", "--seed", "5",
                 "--fraction-diffuse", "0", "--fraction-radio-galaxies", "0", "--no-png", "--no-progress"]) == 0
    out = tmp_path / "inject"
    args = ["inject", "--images", str(sim / "field_00000.fits"), "--out", str(out), "--sites", "2",
            "--flux-range", "0.01,3000", "--n-flux", "2", "--redshift", "0.2", "--r500", "300 kpc", "--re", "100",
            "--no-progress"]
    assert main(args) == 0
    injections = QTable.read(out / "injections.ecsv")
    assert len(injections) == 4 and set(injections["site"]) == {"field_00000_000", "field_00000_001"}
    faint, bright = injections[injections["flux"].value < 1], injections[injections["flux"].value > 1]
    assert np.all(bright["detected"]) and np.all(bright["R"] > 10 * bright["R_baseline"])
    assert np.allclose(faint["R"], faint["R_baseline"], atol=1e-3)
    assert np.all(bright["i0_snr"] > 1e4 * faint["i0_snr"] * 0.99)
    curve = QTable.read(out / "completeness.ecsv")
    assert curve["completeness"][-1] == 1.0
    assert (out / "completeness.png").stat().st_size > 0 and (out / "completeness_snr.ecsv").is_file()
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "sites").iterdir()}
    assert main(args) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "sites").iterdir()} == stamps
    assert "completeness 50% at" in capsys.readouterr().out
    assert main(args + ["--n-flux", "3", "--re", "60"]) == 0  # other settings: the sites are measured again
    injections = QTable.read(out / "injections.ecsv")
    assert len(injections) == 6 and injections.meta["re_kpc"] == 60
    assert all(t.meta["settings"]["re_kpc"] == 60 for t in map(QTable.read, (out / "sites").iterdir()))


def test_sites_all_detected_without_a_halo_give_empty_curves_and_a_plain_message(tmp_path, capsys):
    injections = _injections()
    injections["detected_baseline"] = True
    by_flux, by_snr = completeness(injections, "flux"), completeness(injections, "i0_snr")
    assert len(by_flux) == len(by_snr) == 0 and by_flux["flux"].unit == u.mJy
    assert {"n", "n_detected", "completeness", "completeness_low"} <= set(by_snr.colnames)
    assert np.isnan(flux_at_completeness(by_flux, 0.5))
    sim = tmp_path / "sim"
    assert main(["simulate", "--out", str(sim), "--n-fields", "1", "--size", "320", "--seed", "5",
                 "--fraction-diffuse", "0", "--fraction-radio-galaxies", "0", "--no-png", "--no-progress"]) == 0
    out = tmp_path / "inject"
    assert main(["inject", "--images", str(sim / "field_00000.fits"), "--out", str(out), "--sites", "2",
                 "--n-flux", "2", "--redshift", "0.2", "--r500", "300 kpc", "--ratio-threshold", "0",
                 "--no-progress"]) == 0
    assert "all 2 sites are detected without a halo" in capsys.readouterr().out
    assert len(QTable.read(out / "completeness.ecsv")) == 0 and (out / "completeness.png").stat().st_size > 0


def test_inject_rejects_a_bad_flux_range(tmp_path, capsys):
    assert main(["inject", "--images", str(tmp_path), "--out", str(tmp_path / "o"), "--flux-range", "5"]) == 2
    assert "flux-range" in capsys.readouterr().err


def test_catalog_sites_are_the_usable_clusters_inside_the_images(tmp_path):
    from astropy.table import Table

    from radiounet.detect.catalog import read_cluster_catalog
    from radiounet.evaluate.injection import catalog_sites

    sim = tmp_path / "sim"
    assert main(["simulate", "--out", str(sim), "--n-fields", "1", "--size", "256", "--seed", "2", "--no-png",
                 "--no-progress"]) == 0
    truth = QTable.read(sim / "truth.ecsv")
    ra, dec = truth["ra"][0].value, truth["dec"][0].value
    Table({"NAME": ["inside", "outside", "no z"], "RA": [ra, ra + 5, ra], "DEC": [dec, dec, dec],
           "REDSHIFT": [0.2, 0.2, -1.0], "MSZ": [4.0, 4.0, 4.0]}).write(tmp_path / "psz.fits")
    sites = catalog_sites(read_cluster_catalog(tmp_path / "psz.fits"), [sim / "field_00000.fits"])
    assert [site.name for site in sites] == ["inside"]
    assert sites[0].z == 0.2 and sites[0].image == str(sim / "field_00000.fits") and sites[0].r500_kpc > 500
