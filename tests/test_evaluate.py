"""Evaluation of detections against truth classes: numbers of a hand-made case, sweep, CLI outputs."""

import json

import numpy as np
import pytest
from astropy.table import QTable, Table

from radiounet.cli import main
from radiounet.evaluate.detections import binary_metrics, evaluate_detections


def _detections():
    # 4 with emission (RH, RR), 3 without (NDE), 1 uncertain (U), 1 not measured.
    return QTable({"name": ["a", "b", "c", "d", "e", "f", "g", "h", "i"],
                   "R": [0.05, 0.03, 0.025, 0.04, 0.02, 0.005, 0.001, 0.03, np.nan],
                   "detected": [True, True, False, True, True, False, False, True, False],
                   "status": ["ok"] * 8 + ["outside_images"]})


TRUTH = {"a": "RH", "b": "RH", "c": "RR", "d": "rr", "e": "NDE", "f": "NDE", "g": "NDE", "h": "U", "i": "RH"}


def test_metrics_of_a_hand_made_case():
    evaluation = evaluate_detections(_detections(), TRUTH, n_bootstrap=200)
    # positives a b c d: detected a b d -> tp 3, fn 1; negatives e f g: e detected -> fp 1, tn 2.
    m = evaluation.metrics
    assert m["n"] == 7 and evaluation.n_unmatched == 1
    assert m["accuracy"]["value"] == pytest.approx(5 / 7)
    assert m["precision"]["value"] == pytest.approx(3 / 4)
    assert m["recall"]["value"] == pytest.approx(3 / 4)
    assert m["false_negative_rate"]["value"] == pytest.approx(1 / 4)
    low, high = m["accuracy"]["ci95"]
    assert low <= 5 / 7 <= high and 0 <= low < high <= 1
    table = {row["class"]: row for row in evaluation.per_class}
    assert table["RH"]["percent_correct"] == pytest.approx(100) and table["RR"]["percent_correct"] == pytest.approx(50)
    assert table["NDE"]["percent_correct"] == pytest.approx(200 / 3) and table["U"]["kind"] == "uncertain"


def test_threshold_sweep_finds_the_separating_threshold():
    evaluation = evaluate_detections(_detections(), TRUTH, n_bootstrap=10)
    # R > 0.02 keeps every positive (>= 0.025) and no negative (<= 0.02): the only perfect threshold,
    # although the detector's own threshold missed c.
    assert evaluation.best_threshold == pytest.approx(0.02)
    best = evaluation.sweep[evaluation.sweep["threshold"] == evaluation.best_threshold][0]
    assert best["accuracy"] == pytest.approx(1.0)
    assert binary_metrics([True, False], [True, False])["youden"] == pytest.approx(1.0)


def test_evaluate_command_writes_tables_curves_and_prints_intervals(tmp_path, capsys):
    _detections().write(tmp_path / "detections.ecsv")
    Table({"name": list(TRUTH), "class": list(TRUTH.values())}).write(tmp_path / "truth.csv")
    assert main(["evaluate", "--detections", str(tmp_path / "detections.ecsv"), "--truth",
                 str(tmp_path / "truth.csv"), "--truth-column", "class", "--bootstrap", "100"]) == 0
    out = capsys.readouterr().out
    assert "accuracy: 0.714 (95% interval" in out
    for name in ("confusion.ecsv", "threshold_sweep.ecsv", "evaluation.json", "roc.png", "precision_recall.png"):
        assert (tmp_path / name).is_file()
    assert json.loads((tmp_path / "evaluation.json").read_text())["best_threshold"] == pytest.approx(0.02)
    assert main(["evaluate", "--detections", str(tmp_path / "detections.ecsv"), "--truth",
                 str(tmp_path / "truth.csv"), "--truth-column", "missing"]) == 2
