"""radio-unet detect: one row per cluster, R in the aperture, per-row status, CSV copy and report."""

import json
import os

import astropy.units as u
import numpy as np
import pytest
from astropy.table import QTable, Table

from radiounet.cli import main
from radiounet.detect.report import write_report
from radiounet.sky.cosmology import kpc_per_arcsec


def test_detect_on_simulated_fields_with_unusable_rows(tmp_path, capsys):
    sim = tmp_path / "sim"
    assert main(["simulate", "--out", str(sim), "--n-fields", "2", "--size", "384", "--seed", "3",
                 "--redshift-range", "0.3", "0.5", "--fraction-diffuse", "1", "--fraction-radio-galaxies", "0",
                 "--no-png", "--no-progress"]) == 0
    truth = QTable.read(sim / "truth.ecsv")
    catalog = Table({"cluster": list(truth["field"]) + ["far away", "no z"],
                     "ra": list(truth["ra"].value) + [10.0, truth["ra"][0].value],
                     "dec": list(truth["dec"].value) + [-10.0, truth["dec"][0].value],
                     "z": list(truth["z"]) + [0.2, -1.0],
                     "r500": list(truth["r500_kpc"].value) + [1000.0, 1000.0]})
    catalog.write(tmp_path / "clusters.csv")
    out = tmp_path / "detect"
    assert main(["detect", "--catalog", str(tmp_path / "clusters.csv"), "--images", str(sim / "field_00000.fits"),
                 str(sim / "field_00001.fits"), "--out", str(out), "--name-column", "cluster", "--ra-column", "ra",
                 "--dec-column", "dec", "--redshift-column", "z", "--r500-column", "r500", "--r500-unit", "kpc",
                 "--no-progress"]) == 0
    assert "(not measured: 1 outside_images, 1 no_redshift)" in capsys.readouterr().out
    detections = QTable.read(out / "detections.ecsv")
    assert list(detections["name"]) == ["field_00000", "field_00001", "far away", "no z"]
    assert {"name", "ra", "dec", "z", "r500_kpc", "r500_arcsec", "R", "detected", "status"} <= set(detections.colnames)
    measured = detections[:2]
    assert all(s in ("ok", "partial_coverage") for s in measured["status"])
    assert np.all((measured["R"] >= 0) & (measured["R"] <= 1)) and np.all(measured["coverage"] > 0.3)
    threshold = detections.meta["ratio_threshold"]
    assert list(measured["detected"]) == list(measured["R"] > threshold)
    assert list(measured["image"]) == [str(sim / "field_00000.fits"), str(sim / "field_00001.fits")]
    assert list(detections["status"][2:]) == ["outside_images", "no_redshift"]
    assert np.isnan(detections["R"][2]) and not detections["detected"][3]
    assert np.all(np.isnan(detections["source_flux"][2:])) and np.all(np.isfinite(measured["source_flux"]))
    # The 6" beam at each cluster's redshift (LoTSS-DR2 6" by default), by the catalogue's own scale.
    scale = kpc_per_arcsec(np.asarray(measured["z"])).to_value(u.kpc / u.arcsec)
    assert np.allclose(measured["beam_kpc"].to_value(u.kpc), 6.0 * scale, rtol=1e-3)
    assert np.all(np.isnan(detections["beam_kpc"][2:]))
    assert len(Table.read(out / "detections.csv", format="ascii.csv")) == 4
    page = (out / "report.html").read_text()
    assert "field_00000" in page and "data:image/jpeg;base64," in page and "<script>" in page  # pictures embedded
    assert ">P halo</th>" in page  # the default is a class model
    binary = detections.copy()
    binary["R_halo"] = np.nan
    write_report(tmp_path / "binary.html", binary)
    assert ">P halo</th>" not in (tmp_path / "binary.html").read_text()  # class columns only for a class model
    assert (out / "thumbnails" / "field_00000.png").is_file()


def test_unreadable_catalogue_exits_2(tmp_path, capsys):
    (tmp_path / "broken.csv").write_text("\x00\x01 not a table")
    assert main(["detect", "--catalog", str(tmp_path / "broken.csv"), "--images", str(tmp_path),
                 "--out", str(tmp_path / "o")]) == 2
    assert "broken.csv" in capsys.readouterr().err


def test_thumbnails_and_injection_sites_share_one_portable_file_name():
    from radiounet.detect.views import thumbnail_filename
    from radiounet.io.names import safe_filename

    assert safe_filename("PSZ2 G107.10+65.32 / A1132") == "PSZ2_G107.10+65.32___A1132"
    # Non-ASCII letters are replaced too, so that the report opens the same on every file system.
    assert thumbnail_filename("Abell 2255 ñ") == "Abell_2255__.png"


def test_a_stopped_detect_run_resumes_without_measuring_finished_clusters(tmp_path, monkeypatch):
    from radiounet.inference.predictor import Predictor

    sim = tmp_path / "sim"
    assert main(["simulate", "--out", str(sim), "--n-fields", "3", "--size", "256", "--seed", "5", "--no-png",
                 "--no-progress"]) == 0
    truth = QTable.read(sim / "truth.ecsv")
    Table({"NAME": list(truth["field"]), "RA": truth["ra"].value, "DEC": truth["dec"].value, "REDSHIFT": truth["z"],
           "R500": truth["r500_kpc"].value}).write(tmp_path / "clusters.csv")
    out = tmp_path / "detect"
    argv = ["detect", "--catalog", str(tmp_path / "clusters.csv"), "--images", str(sim), "--out", str(out),
            "--r500-column", "R500", "--no-progress"]
    assert main(argv) == 0
    first = QTable.read(out / "detections.ecsv")
    calls = []
    original = Predictor.predict
    monkeypatch.setattr(Predictor, "predict", lambda self, image, **kw: calls.append(1) or original(self, image, **kw))
    # A run killed while it wrote its third cluster: two rows whole, the third cut short.
    journal = (out / "detect.journal.jsonl").read_text().splitlines()
    assert len(journal) == 4
    (out / "detect.journal.jsonl").write_text("\n".join(journal[:3]) + "\n" + journal[3][:40])
    assert main(argv) == 0
    assert len(calls) == 1
    again = QTable.read(out / "detections.ecsv")
    np.testing.assert_allclose(again["R"], first["R"], rtol=1e-6)
    assert list(again["class"]) == list(first["class"]) and list(again["status"]) == list(first["status"])
    assert main(argv) == 0 and len(calls) == 1  # all done: nothing measured
    assert main(argv + ["--factor", "1.5"]) == 0 and len(calls) == 4  # other settings: measured again
    assert main(argv + ["--factor", "1.5", "--overwrite"]) == 0 and len(calls) == 7
    changed = sim / "field_00001.fits"
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    assert main(argv + ["--factor", "1.5"]) == 0 and len(calls) == 8  # only the cluster whose image changed
    assert main(argv + ["--factor", "1.5", "--precision", "bfloat16"]) == 0 and len(calls) == 11  # other arithmetic
    # A row journaled by an earlier version, without a column of today's table, is measured again.
    lines = (out / "detect.journal.jsonl").read_text().splitlines()
    old_row = json.loads(lines[1])
    del old_row["beam_kpc"]
    (out / "detect.journal.jsonl").write_text("\n".join([lines[0], json.dumps(old_row), *lines[2:]]) + "\n")
    assert main(argv + ["--factor", "1.5", "--precision", "bfloat16"]) == 0 and len(calls) == 12
    assert np.all(np.isfinite(QTable.read(out / "detections.ecsv")["beam_kpc"]))


def test_a_journaled_cluster_is_reused_only_for_the_same_position_redshift_and_r500(tmp_path):
    from radiounet.detect.journal import DetectionJournal

    image = tmp_path / "mosaic.fits"
    image.write_bytes(b"data")
    row = dict(name="PSZ2 G1", ra=150.0, dec=2.0, z=0.2, r500_kpc=1000.0, r500_arcsec=303.0, R=0.02,
               image=str(image))
    journal = DetectionJournal(tmp_path / "detect.journal.jsonl", dict(model="m", factor=2.2))
    journal.start()
    journal.add(row)
    journal = DetectionJournal(tmp_path / "detect.journal.jsonl", dict(model="m", factor=2.2))
    assert journal.get(dict(row, R=float("nan")), image)["R"] == 0.02
    # R500 given in arcsec and a corrected redshift: the same aperture, other sizes in kpc.
    assert journal.get(dict(row, z=0.3, r500_kpc=1400.0), image) is None
    assert journal.get(dict(row, ra=150.1), image) is None


def test_detect_from_python_takes_one_image_a_table_already_read_and_says_what_it_needs(tmp_path):
    from radiounet.detect import detect_clusters, read_cluster_catalog
    from radiounet.inference import Predictor

    sim = tmp_path / "sim"
    assert main(["simulate", "--out", str(sim), "--n-fields", "1", "--size", "256", "--seed", "4",
                 "--redshift-range", "0.3", "0.4", "--no-png", "--no-progress"]) == 0
    truth = QTable.read(sim / "truth.ecsv")
    catalog = read_cluster_catalog(Table({"NAME": list(truth["field"]), "RA": truth["ra"].value,
                                          "DEC": truth["dec"].value, "REDSHIFT": list(truth["z"]),
                                          "R500": truth["r500_kpc"].value}), r500="R500")
    predictor = Predictor()
    table = detect_clusters(catalog, sim / "field_00000.fits", predictor, progress=False)  # one path
    assert list(table["status"]) in (["ok"], ["partial_coverage"]) and np.isfinite(table["R"][0])
    with pytest.raises(TypeError, match="predictor must be a radiounet.inference.Predictor"):
        detect_clusters(catalog, [sim / "field_00000.fits"], "multisurvey-v1", progress=False)
