"""The radio-unet command line: simulate, dataset, presets, and its errors."""

import os
import signal
import subprocess
import sys
import time

import pytest
from astropy.io import fits
from astropy.table import QTable

from radiounet import cli
from radiounet.cli import main


def test_simulate_writes_fields_and_truth(tmp_path, capsys):
    out = tmp_path / "sim"
    status = main(["simulate", "--out", str(out), "--n-fields", "3", "--size", "128x160", "--seed", "4",
                   "--preset", "lotss-dr2-20", "--no-progress"])
    assert status == 0
    truth = QTable.read(out / "truth.ecsv")
    assert len(truth) == 3
    header = fits.getheader(out / "field_00000.fits")
    assert header["NAXIS1"] == 160 and header["NAXIS2"] == 128
    assert header["BMAJ"] * 3600 == pytest.approx(20.0) and header["CDELT2"] * 3600 == pytest.approx(4.5)
    assert "3 fields" in capsys.readouterr().out


def test_custom_survey_from_options(tmp_path):
    out = tmp_path / "sim"
    assert main(["simulate", "--out", str(out), "--size", "96", "--bmaj", "15", "--bmin", "10", "--bpa", "30",
                 "--pixel-scale", "3", "--rms", "0.1 mJy/beam", "--frequency", "1400", "--no-png",
                 "--no-progress"]) == 0
    header = fits.getheader(out / "field_00000.fits")
    assert header["BMAJ"] * 3600 == pytest.approx(15) and header["BMIN"] * 3600 == pytest.approx(10)
    assert header["BPA"] == pytest.approx(30) and header["FREQ"] == pytest.approx(1.4e9)
    assert header["TELESCOP"] == "custom"  # its own beam and frequency: nothing left of the default preset
    assert not (out / "field_00000.png").exists()


def test_simulate_records_a_compact_source_subtraction_in_the_header(tmp_path):
    for options, expected in ((["--preset", "lotss-dr2-60"], 4.15e-4),
                              (["--preset", "lotss-dr2-60", "--compact-subtracted-above", "none"], None),
                              (["--preset", "lotss-dr2-20", "--compact-subtracted-above", "0.5"], 5e-4)):
        out = tmp_path / "_".join(options)
        assert main(["simulate", "--out", str(out), "--size", "96", *options, "--no-png", "--no-progress"]) == 0
        assert fits.getheader(out / "field_00000.fits").get("SUBTRACT") == pytest.approx(expected)


def test_simulate_label_rule_is_recorded_and_keeps_the_mask(tmp_path):
    import json

    from radiounet.sky.labels import LABEL_RULES

    runs = {}
    for rule in LABEL_RULES:
        out = tmp_path / rule
        assert main(["simulate", "--out", str(out), "--size", "128", "--seed", "3", "--fraction-diffuse", "1",
                     "--fraction-radio-galaxies", "0", "--label-rule", rule, "--no-png", "--no-progress"]) == 0
        provenance = json.loads((out / "simulation.json").read_text())
        assert provenance["config"]["label_rule"] == rule
        runs[rule] = {kind: fits.getdata(out / f"field_00000.{kind}.fits") for kind in ("mask", "labels")}
    assert (runs["mask"]["mask"] == runs["brightest"]["mask"]).all()


@pytest.mark.parametrize(
    "options, named",
    [
        (["--rms", "-5"], "rms"),
        (["--bmaj", "1"], "beam"),
        (["--size", "10"], "size"),
        (["--size", "big"], "size"),
        (["--preset", "vlass"], "preset"),
        (["--frequency", "5 arcsec"], "frequency"),
        (["--fraction-diffuse", "0.9", "--fraction-radio-galaxies", "0.5"], "fraction"),
        (["--n-fields", "0"], "n_fields"),
        (["--workers", "0"], "workers"),
        (["--correlated-noise", "1.2"], "correlated_noise"),
    ],
)
def test_bad_input_gives_one_line_exit_2_and_writes_nothing(tmp_path, capsys, options, named):
    out = tmp_path / "never"
    # A later --size replaces the valid default one.
    status = main(["simulate", "--out", str(out), "--size", "64", "--no-progress"] + options)
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("radio-unet: error:") and named in err and "\n" not in err
    assert not out.exists()


def test_simulate_help_gives_the_simulators_correlated_noise_scale(capsys):
    from radiounet.sky.observe import CORRELATED_NOISE_SCALE

    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    assert f"(default: {CORRELATED_NOISE_SCALE:g}, as the R-threshold calibration)" in " ".join(
        capsys.readouterr().out.split())


def test_unwritable_output_directory(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["simulate", "--out", str(blocker / "sub"), "--size", "64", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cannot write to output directory" in err and str(blocker) in err


def test_dataset_command_writes_shards(tmp_path):
    out = tmp_path / "tiles"
    assert main(["dataset", "--out", str(out), "--n-fields", "3", "--size", "128", "--tile-size", "64",
                 "--fields-per-shard", "2", "--no-progress"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["shard_00000.h5", "shard_00001.h5"]


def test_installed_console_script_runs(tmp_path):
    env = dict(os.environ, PYTHONWARNINGS="error")
    script = os.path.join(os.path.dirname(sys.executable), "radio-unet")
    result = subprocess.run([script, "presets"], capture_output=True, text=True, env=env)
    assert result.returncode == 0
    assert "lotss-dr2-6" in result.stdout and "lotss-dr2-20" in result.stdout
    result = subprocess.run([script, "simulate", "--out", str(tmp_path), "--preset", "nope"], capture_output=True,
                            text=True)
    assert result.returncode == 2 and "unknown survey preset" in result.stderr


def test_sigterm_stops_a_command_as_ctrl_c_does_and_says_how_to_resume(monkeypatch, capsys):
    def terminated_midway(args):  # what a batch system's time limit does to a running command
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr(cli, "_cmd_presets", terminated_midway)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["presets"]) == 143
    assert capsys.readouterr().err == "radio-unet: terminated; rerun the same command to resume\n"
    assert signal.getsignal(signal.SIGTERM) is before


def test_output_whose_reader_is_gone_ends_quietly():
    child = subprocess.Popen([sys.executable, "-m", "radiounet.cli", "models"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    child.stdout.close()  # as `radio-unet models | head -1` once head has its line
    with child.stderr:
        assert child.wait(timeout=120) == 141
        assert "Error" not in child.stderr.read()  # neither a traceback nor "Exception ignored ... BrokenPipeError"
