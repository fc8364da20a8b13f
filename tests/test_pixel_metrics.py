"""Pixel metrics of probability maps against truth masks: hand-made counts, pairing, regridding, CLI."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable
from astropy.wcs import WCS

from radiounet.cli import main
from radiounet.errors import RadioUNetError
from radiounet.evaluate.pixels import pair_predictions, pixel_counts, pixel_metrics


def _wcs(shape, crpix_shift=0.0):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [150.0, 30.0]
    wcs.wcs.cdelt = [-1.5 / 3600, 1.5 / 3600]
    wcs.wcs.crpix = [shape[1] / 2 + crpix_shift, shape[0] / 2 + crpix_shift]
    return wcs


def _write(path, data, wcs, **cards):
    header = wcs.to_header()
    header.update(cards)
    fits.PrimaryHDU(np.asarray(data), header).writeto(path, overwrite=True)


def _maps():
    # Truth: a 10x10 square (100 px). Prediction: the square shifted by 2 columns,
    # 0.9 inside, 0.3 elsewhere, and a NaN blank over 4 truth pixels outside the overlap.
    truth = np.zeros((40, 40), np.uint8)
    truth[10:20, 10:20] = 1
    probability = np.full((40, 40), 0.3, np.float32)
    probability[10:20, 12:22] = 0.9
    probability[0:2, 0:2] = np.nan
    probability[10:12, 10:12] = np.nan
    return probability, truth


def test_counts_of_a_hand_made_case():
    probability, truth = _maps()
    counts = pixel_counts(probability, truth, 0.5)
    # overlap 10 rows x 8 columns = 80; predicted 100 -> fp 20; truth 100 - 4 blank = 96 -> fn 16
    assert counts == dict(n_pixels=1600 - 8, n_truth=96, n_predicted=100, tp=80, fp=20, fn=16)
    assert pixel_counts(probability, truth, 0.2)["n_predicted"] == 1600 - 8


def test_pairing_by_stem_and_metrics_with_the_maps_threshold(tmp_path):
    probability, truth = _maps()
    wcs = _wcs(truth.shape)
    (tmp_path / "pred").mkdir()
    (tmp_path / "truth").mkdir()
    _write(tmp_path / "pred" / "field_00001.prob.fits", probability, wcs, RUTHRESH=0.5)
    _write(tmp_path / "pred" / "field_00001.mask.fits", (probability > 0.5).astype(np.uint8), wcs)
    _write(tmp_path / "pred" / "lonely.prob.fits", probability, wcs)
    _write(tmp_path / "truth" / "field_00001.mask.fits", truth, wcs)
    _write(tmp_path / "truth" / "field_00001.fits", probability, wcs)
    pairs, unmatched = pair_predictions([tmp_path / "pred"], [tmp_path / "truth"])
    assert pairs == [(tmp_path / "pred" / "field_00001.prob.fits", tmp_path / "truth" / "field_00001.mask.fits")]
    assert unmatched == [tmp_path / "pred" / "lonely.prob.fits"]
    table = pixel_metrics(pairs)
    row = table[0]
    assert (row["tp"], row["fp"], row["fn"]) == (80, 20, 16)
    assert row["dice"] == pytest.approx(160 / 196) and row["iou"] == pytest.approx(80 / 116)
    assert row["precision"] == pytest.approx(0.8) and row["recall"] == pytest.approx(80 / 96)
    # A threshold above every probability predicts nothing: recall 0, precision undefined.
    total = pixel_metrics(pairs, threshold=0.95).meta["total"]
    assert total["recall"] == 0 and np.isnan(total["precision"])


def test_a_truth_mask_on_a_larger_grid_is_regridded(tmp_path):
    probability, truth = _maps()
    big = np.zeros((60, 60), np.uint8)
    big[20:30, 20:30] = 1  # the same sky square on a grid 10 px larger on each side
    _write(tmp_path / "a.prob.fits", probability, _wcs(truth.shape), RUTHRESH=0.5)
    _write(tmp_path / "a.mask.fits", big, _wcs(big.shape))
    row = pixel_metrics([(tmp_path / "a.prob.fits", tmp_path / "a.mask.fits")])[0]
    assert (row["tp"], row["fp"], row["fn"]) == (80, 20, 16)


def test_pixels_the_truth_mask_does_not_cover_are_not_counted(tmp_path):
    probability, truth = _maps()
    small = truth[5:25, 5:25]  # the truth square with a 5-pixel margin: 400 of the 1600 pixels covered
    small_wcs = _wcs(truth.shape)
    small_wcs.wcs.crpix = [small_wcs.wcs.crpix[0] - 5, small_wcs.wcs.crpix[1] - 5]
    _write(tmp_path / "a.prob.fits", probability, _wcs(truth.shape), RUTHRESH=0.5)
    _write(tmp_path / "a.mask.fits", small, small_wcs)
    row = pixel_metrics([(tmp_path / "a.prob.fits", tmp_path / "a.mask.fits")])[0]
    assert row["n_pixels"] == 400 - 4 and (row["tp"], row["fp"], row["fn"]) == (80, 20, 16)
    far = _wcs(small.shape)
    far.wcs.crval = [160.0, 30.0]
    _write(tmp_path / "far.mask.fits", small, far)
    with pytest.raises(RadioUNetError, match="far.mask.fits: the truth mask does not overlap"):
        pixel_metrics([(tmp_path / "a.prob.fits", tmp_path / "far.mask.fits")])


def test_evaluate_command_writes_pixel_metrics(tmp_path, capsys):
    probability, truth = _maps()
    wcs = _wcs(truth.shape)
    _write(tmp_path / "x.prob.fits", probability, wcs, RUTHRESH=0.5)
    _write(tmp_path / "x.mask.fits", truth, wcs)
    out = tmp_path / "eval"
    assert main(["evaluate", "--predictions", str(tmp_path / "x.prob.fits"), "--truth-masks",
                 str(tmp_path / "x.mask.fits"), "--out", str(out)]) == 0
    assert f"Dice {160 / 196:.3f}" in capsys.readouterr().out
    table = QTable.read(out / "pixel_metrics.ecsv")
    assert list(table["tp"]) == [80] and table.meta["total"]["fn"] == 16


@pytest.mark.parametrize("args, message", [
    (["--predictions", "p.prob.fits"], "--predictions goes with --truth-masks or --truth-labels"),
    (["--detections", "d.ecsv", "--out", "o"], "--detections, --truth and --truth-column go together"),
    ([], "give --detections"),
])
def test_evaluate_needs_matching_option_pairs(tmp_path, capsys, args, message):
    assert main(["evaluate", *args]) == 2
    assert message in capsys.readouterr().err


def test_evaluating_the_mask_predict_wrote_as_truth_scores_every_pixel_at_the_threshold(tmp_path, tiny_card):
    import torch

    from radiounet.models import UNet, UNetConfig, save_model

    # All weights zero: the logit is exactly 0, so every probability is exactly the threshold, 0.5.
    net = UNet(UNetConfig(depth=2, width=4, norm="none", dropout=0.0))
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.zero_()
    model = save_model(tmp_path / "zero.safetensors", net, tiny_card())
    image = tmp_path / "image.fits"
    _write(image, np.random.default_rng(1).normal(size=(96, 96)).astype(np.float32), _wcs((96, 96)),
           BMAJ=6 / 3600, BMIN=6 / 3600, BPA=0.0, BUNIT="JY/BEAM")
    assert main(["predict", str(image), "--model", str(model), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    probability = fits.getdata(tmp_path / "out" / "image.prob.fits")
    assert np.all(probability == 0.5) and fits.getdata(tmp_path / "out" / "image.mask.fits").all()
    row = pixel_metrics([(tmp_path / "out" / "image.prob.fits", tmp_path / "out" / "image.mask.fits")])[0]
    assert (row["n_predicted"], row["tp"], row["fp"], row["fn"]) == (96 * 96, 96 * 96, 0, 0)
