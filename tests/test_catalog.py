"""Cluster catalogues: PSZ2 as it is, other columns, R500, per-row status."""

from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.table import QTable, Table

from radiounet.detect.catalog import read_cluster_catalog
from radiounet.errors import RadioUNetError
from radiounet.sky import r500_from_m500

PSZ2 = Path(__file__).parent / "data" / "psz2_first12.fits"


def test_planck_psz2_rows_as_they_are():
    table = read_cluster_catalog(PSZ2)
    assert len(table) == 12
    first = table[0]
    assert first["name"] == "PSZ2 G000.04+45.13" and first["status"] == "ok"
    expected = r500_from_m500(3.9624107e14 * u.Msun, 0.1198).to_value(u.kpc)
    assert first["r500_kpc"].to_value(u.kpc) == pytest.approx(expected, rel=1e-5)
    # R500 = 1074.6 kpc at D_A(0.1198) -> 2.16 kpc/arcsec -> 497 arcsec.
    assert first["r500_arcsec"].to_value(u.arcsec) == pytest.approx(497.4, rel=1e-3)
    unknown = table[4]  # PSZ2 writes REDSHIFT = -1 and MSZ = 0 where unknown
    assert unknown["status"] == "no_redshift" and np.isnan(unknown["r500_arcsec"].value)
    assert set(table["status"]) == {"ok", "no_redshift"}
    # A table already read in a notebook gives the same (astropy warns of PSZ2's unit 'None' as it reads it).
    with pytest.warns(u.UnitsWarning):
        psz2 = Table.read(PSZ2)
    again = read_cluster_catalog(psz2)
    assert list(again["name"]) == list(table["name"]) and np.array_equal(again["r500_kpc"], table["r500_kpc"],
                                                                         equal_nan=True)
    with pytest.raises(RadioUNetError, match="^the catalogue table: no column MSZ"):
        read_cluster_catalog(Table({"NAME": ["a"], "RA": [1.0], "DEC": [2.0], "REDSHIFT": [0.1]}))
    # A QTable's Quantities are taken in their units: a mass in Msun is not read as 1e14 Msun units.
    masses = QTable({"NAME": ["a"], "RA": [0.2] * u.rad, "DEC": [30.0] * u.deg, "REDSHIFT": [0.1],
                     "MSZ": [6e14] * u.Msun})
    row = read_cluster_catalog(masses)[0]
    assert row["ra"].to_value(u.deg) == pytest.approx(np.degrees(0.2))
    assert row["r500_kpc"].to_value(u.kpc) == pytest.approx(r500_from_m500(6e14 * u.Msun, 0.1).to_value(u.kpc))
    with pytest.raises(RadioUNetError, match="column RA is in kpc"):
        read_cluster_catalog(QTable({"NAME": ["a"], "RA": [1.0] * u.kpc, "DEC": [2.0], "REDSHIFT": [0.1],
                                     "MSZ": [5.0]}))


def test_other_columns_duplicates_bad_values_and_angular_r500(tmp_path):
    path = tmp_path / "clusters.csv"
    Table({"cluster": ["A", "B", "A", "C", "D"], "ra_deg": [10.0, 20.0, 30.0, np.nan, 50.0],
           "dec_deg": [1.0, 2.0, 3.0, 4.0, 5.0], "zspec": ["0.1", "n/a", "0.2", "0.3", "0.2"],
           "theta500": [5.0, 4.0, 3.0, 2.0, -1.0]}).write(path)
    table = read_cluster_catalog(path, name="cluster", ra="ra_deg", dec="dec_deg", redshift="zspec",
                                 r500="theta500", r500_unit=u.arcmin)
    assert list(table["status"]) == ["ok", "ok", "duplicate_name", "no_position", "no_r500"]
    assert table["r500_arcsec"][0].to_value(u.arcsec) == pytest.approx(300.0)
    assert np.isnan(table["z"][1]) and np.isnan(table["r500_kpc"][1].value)


def test_unreadable_catalogue_or_missing_columns_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.fits"
    bad.write_text("not a table")
    with pytest.raises(RadioUNetError, match="bad.fits: not a readable table"):
        read_cluster_catalog(bad)
    with pytest.raises(RadioUNetError, match="no column REDSHIFT2"):
        read_cluster_catalog(PSZ2, redshift="REDSHIFT2")
