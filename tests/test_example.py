"""The README's main command: the shipped model segments the bundled example field."""

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import QTable

from radiounet.cli import main

EXAMPLES = Path(__file__).parents[1] / "examples"


def test_shipped_model_finds_the_relic_of_the_bundled_example(tmp_path):
    out = tmp_path / "example_output"
    assert main(["predict", str(EXAMPLES / "simulated_cluster.fits"), "--out", str(out), "--no-progress"]) == 0
    predicted = fits.getdata(out / "simulated_cluster.mask.fits").astype(bool)
    truth = fits.getdata(EXAMPLES / "simulated_cluster.mask.fits").astype(bool)
    dice = 2 * (predicted & truth).sum() / (predicted.sum() + truth.sum())
    assert dice > 0.5
    components = QTable.read(EXAMPLES / "simulated_cluster.truth.ecsv")
    relic = components[components["kind"] == "relic"][0]
    assert predicted[int(round(relic["y"])), int(round(relic["x"]))]
    assert len(QTable.read(out / "simulated_cluster.sources.ecsv")) >= 1
    assert np.isfinite(fits.getdata(out / "simulated_cluster.prob.fits")).all()
