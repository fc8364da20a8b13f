"""radio-unet predict: outputs, WCS, blanks, resampling, resume, bad inputs in a batch, ranks."""

import os
import subprocess
import sys
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.table import QTable, vstack
from astropy.wcs import WCS

from radiounet.cli import main
from radiounet.detect import diffuse_sources
from radiounet.inference import Predictor
from radiounet.io.image import read_radio_image
from radiounet.models import UNet, UNetConfig, save_model

DATA = Path(__file__).parent / "data"
LOTSS = DATA / "lotss_dr1_P218+55_200px.fits"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, tiny_card):
    torch.manual_seed(0)
    net = UNet(UNetConfig(depth=2, width=4, norm="none", dropout=0.0))
    return save_model(tmp_path_factory.mktemp("model") / "tiny.safetensors", net, tiny_card())


def _outputs(out, stem):
    return {s: out / f"{stem}.{s}" for s in ("prob.fits", "mask.fits", "sources.ecsv", "reg", "png")}


def test_predict_writes_every_output_on_the_input_grid(tmp_path, tiny_model):
    out = tmp_path / "out"
    assert main(["predict", str(LOTSS), "--out", str(out), "--model", str(tiny_model), "--device", "cpu",
                 "--no-progress", "--redshift", "0.2"]) == 0
    files = _outputs(out, LOTSS.stem)
    assert all(p.is_file() for p in files.values())
    with fits.open(files["prob.fits"]) as hdul:
        probability, header = hdul[0].data, hdul[0].header
    with fits.open(LOTSS) as hdul:
        original = WCS(hdul[0].header).celestial
    assert probability.shape == (200, 200) and np.all((probability >= 0) & (probability <= 1))
    assert WCS(header).celestial.wcs.compare(original.wcs, tolerance=1e-10)
    assert header["RUMODEL"].endswith("tiny.safetensors") and "RUVERS" in header
    mask = fits.getdata(files["mask.fits"])
    assert np.array_equal(mask.astype(bool), probability >= 0.5)
    sources = QTable.read(files["sources.ecsv"])
    assert {"ra", "dec", "area", "flux", "flux_err", "peak_probability", "mean_probability", "las",
            "las_kpc"} <= set(sources.colnames)


def test_blank_pixels_stay_blank_and_do_not_spread(tmp_path, tiny_model):
    with fits.open(LOTSS) as hdul:
        data, header = hdul[0].data.astype(np.float32), hdul[0].header
    blanked = data.copy()
    blanked[:, :50] = np.nan
    fits.PrimaryHDU(blanked, header).writeto(tmp_path / "blank.fits")
    # Pixels blanked as 0 or another constant, as some imagers write outside the primary beam.
    for fill in (0.0, -1.0):
        filled = data.copy()
        filled[:, :50] = fill
        fits.PrimaryHDU(filled, header).writeto(tmp_path / f"fill{fill:g}.fits")
    predictor = Predictor(tiny_model, "cpu")
    with read_radio_image(tmp_path / "blank.fits") as image:
        reference = predictor.predict(image)
    assert np.all(np.isnan(reference.probability[:, :50]))
    assert np.all(np.isfinite(reference.probability[:, 50:]))
    for fill in (0.0, -1.0):
        with read_radio_image(tmp_path / f"fill{fill:g}.fits") as image:
            prediction = predictor.predict(image)
        # Blank in the maps, left out of the noise and zero signal to the network, as NaN pixels are.
        assert np.array_equal(np.isnan(prediction.probability), np.isnan(reference.probability)), fill
        np.testing.assert_allclose(prediction.probability[:, 50:], reference.probability[:, 50:], atol=1e-5)


def test_a_fill_is_blank_in_a_scaled_integer_image_and_when_regridding(tmp_path, tiny_model):
    with fits.open(LOTSS) as hdul:
        data, header = hdul[0].data.astype(np.float32), hdul[0].header.copy()
    # A scaled-integer image (read as native float32, the array predict works on) blanked as its lowest level.
    scale = float(np.nanstd(data)) / 20
    levels = np.clip(np.round(data / scale), -32767, 32767).astype(np.int16)
    levels[:, :50] = -32768
    hdu = fits.PrimaryHDU(levels, header)
    hdu.header["BSCALE"], hdu.header["BZERO"] = scale, 0.0
    hdu.writeto(tmp_path / "scaled.fits")
    with read_radio_image(tmp_path / "scaled.fits") as image:
        before = np.array(image.data)
        prediction = Predictor(tiny_model, "cpu").predict(image)
        np.testing.assert_array_equal(image.data, before)  # the caller's pixels are not touched
    assert np.isnan(prediction.probability[:, :50]).all() and np.isfinite(prediction.probability[:, 50:]).all()
    # Regridded, a fill of -1 gives the map of NaN blanks: it is blanked before it can blend into its neighbours.
    header["BMAJ"] = header["BMIN"] = 12 / 3600  # 8 pixels per beam: twice the model's sampling
    maps = []
    for name, fill in (("nan", np.nan), ("fill", -1.0)):
        blanked = data.copy()
        blanked[:, :51] = fill  # its edge within a pixel of the model's grid
        fits.PrimaryHDU(blanked, header).writeto(tmp_path / f"coarse-{name}.fits")
        with read_radio_image(tmp_path / f"coarse-{name}.fits") as image:
            maps.append(Predictor(tiny_model, "cpu").predict(image).probability)
    np.testing.assert_array_equal(maps[0], maps[1])


def test_other_sampling_is_regridded_and_mapped_back(tmp_path, tiny_model):
    with fits.open(LOTSS) as hdul:
        header = hdul[0].header.copy()
        data = hdul[0].data
    header["BMAJ"] = header["BMIN"] = 12 / 3600  # 8 pixels per beam: twice the model's sampling
    fits.PrimaryHDU(data, header).writeto(tmp_path / "coarse.fits")
    with read_radio_image(tmp_path / "coarse.fits") as image:
        result = Predictor(tiny_model, "cpu").predict(image)
    assert result.resampled and result.probability.shape == (200, 200)
    assert np.isfinite(result.probability[5:-5, 5:-5]).all()


def test_test_time_augmentation_writes_a_spread_map(tmp_path, tiny_model):
    out = tmp_path / "out"
    assert main(["predict", str(LOTSS), "--out", str(out), "--model", str(tiny_model), "--tta", "--no-progress",
                 "--blend", "gaussian"]) == 0
    spread = fits.getdata(out / f"{LOTSS.stem}.spread.fits")
    assert spread.shape == (200, 200) and np.nanmin(spread) >= 0 and np.nanmax(spread) > 0


def test_rerun_skips_finished_images_and_overwrite_redoes_them(tmp_path, tiny_model, capsys):
    out = tmp_path / "out"
    args = ["predict", str(LOTSS), "--out", str(out), "--model", str(tiny_model), "--no-progress"]
    assert main(args) == 0
    prob = out / f"{LOTSS.stem}.prob.fits"
    stamp = prob.stat().st_mtime_ns
    assert main(args) == 0
    assert "1 skipped" in capsys.readouterr().out and prob.stat().st_mtime_ns == stamp
    assert main(args + ["--overwrite"]) == 0
    assert prob.stat().st_mtime_ns != stamp


@pytest.mark.parametrize("native", [True, False])
def test_bfloat16_on_a_cpu_that_only_emulates_it_is_said_to_be_slow(tmp_path, tiny_model, capsys, monkeypatch,
                                                                     native):
    from radiounet.inference import predictor

    monkeypatch.setattr(predictor, "native_bfloat16", lambda device: native)
    assert main(["predict", str(LOTSS), "--out", str(tmp_path / "out"), "--model", str(tiny_model), "--device", "cpu",
                 "--precision", "bfloat16", "--no-png", "--no-progress"]) == 0
    warned = "no bfloat16 instructions" in capsys.readouterr().err
    assert warned is not native


def test_no_png_writes_the_maps_and_catalogue_alone_and_a_rerun_skips_them(tmp_path, tiny_model, capsys):
    out = tmp_path / "out"
    args = ["predict", str(LOTSS), "--out", str(out), "--model", str(tiny_model), "--no-progress", "--no-png"]
    assert main(args) == 0
    files = _outputs(out, LOTSS.stem)
    assert not files.pop("png").exists() and all(p.is_file() for p in files.values())
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in files.values())
    assert main(args) == 0 and "1 skipped" in capsys.readouterr().out
    assert main(args[:-1]) == 0 and (out / f"{LOTSS.stem}.png").is_file()  # asked for later: drawn then


def test_bad_files_in_a_batch_are_reported_and_the_others_done(tmp_path, tiny_model, capsys):
    with fits.open(LOTSS) as hdul:
        header = hdul[0].header
    fits.PrimaryHDU(np.full((100, 100), np.nan, np.float32), header).writeto(tmp_path / "allnan.fits")
    (tmp_path / "broken.fits").write_bytes(LOTSS.read_bytes()[:5000])
    out = tmp_path / "out"
    status = main(["predict", str(tmp_path / "allnan.fits"), str(LOTSS), str(tmp_path / "broken.fits"),
                   "--out", str(out), "--model", str(tiny_model), "--no-progress"])
    captured = capsys.readouterr()
    assert status == 2
    errors = [line for line in captured.err.splitlines() if line.startswith("radio-unet: error:")]
    assert len(errors) == 2
    assert any("allnan.fits" in e and "blank" in e for e in errors)
    assert any("broken.fits" in e for e in errors)
    assert "1 image(s) segmented" in captured.out and "2 failed" in captured.out
    assert (out / f"{LOTSS.stem}.png").is_file() and not (out / "allnan.prob.fits").exists()
    assert not list(out.glob(".*.tmp"))


@pytest.mark.parametrize("writers", [1, 3])
def test_a_batch_gives_each_image_the_outputs_it_gets_alone(tmp_path, tiny_model, writers):
    # The next image is read and its noise measured while this one is segmented, and several images are written
    # at once: none of it may mix images up or change a map.
    with fits.open(LOTSS) as hdul:
        data, header = hdul[0].data.astype(np.float32), hdul[0].header
    images = []
    for i, variant in enumerate([data, data[::-1], 3 * data.T, data[:150, :180]]):
        images.append(tmp_path / f"img{i}.fits")
        fits.PrimaryHDU(np.ascontiguousarray(variant), header).writeto(images[-1])
    (tmp_path / "broken.fits").write_bytes(LOTSS.read_bytes()[:5000])
    batch = images[:2] + [tmp_path / "broken.fits"] + images[2:]
    common = ["--model", str(tiny_model), "--device", "cpu", "--no-progress"]
    assert main(["predict", *map(str, batch), "--out", str(tmp_path / "batch"), "--writers", str(writers),
                 *common]) == 2
    for image in images:
        assert main(["predict", str(image), "--out", str(tmp_path / "alone" / image.stem), *common]) == 0
        alone, together = tmp_path / "alone" / image.stem, tmp_path / "batch"
        assert np.array_equal(fits.getdata(alone / f"{image.stem}.prob.fits"),
                              fits.getdata(together / f"{image.stem}.prob.fits"), equal_nan=True)
        assert ((alone / f"{image.stem}.sources.ecsv").read_text()
                == (together / f"{image.stem}.sources.ecsv").read_text())


def test_unwritable_output_and_bad_model_exit_2(tmp_path, tiny_model, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["predict", str(LOTSS), "--out", str(blocker / "x"), "--model", str(tiny_model)]) == 2
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(tiny_model.read_bytes()[:-10])
    assert main(["predict", str(LOTSS), "--out", str(tmp_path / "o"), "--model", str(bad)]) == 2
    assert "bad.safetensors" in capsys.readouterr().err


def test_two_ranks_share_the_files(tmp_path, tiny_model):
    inputs = []
    for i in range(3):
        target = tmp_path / f"img{i}.fits"
        target.write_bytes(LOTSS.read_bytes())
        inputs.append(str(target))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29531",
               "-m", "radiounet.cli", "predict", *inputs, "--out", str(out), "--model", str(tiny_model),
               "--device", "cpu", "--no-progress"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in out.glob("*.png")) == ["img0.png", "img1.png", "img2.png"]
    assert result.stdout.count("image(s) segmented") == 2  # one summary per rank


def test_source_catalogue_of_a_hand_made_map():
    probability = np.zeros((60, 80), np.float32)
    probability[10:20, 10:30] = 0.9  # 200 pixels
    probability[40:50, 50:55] = 0.7  # 50 pixels
    probability[0, 79] = 0.99  # a single pixel: below one beam area, dropped
    image = np.full(probability.shape, 2e-3, np.float32)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.cdelt = [-1.5 / 3600, 1.5 / 3600]
    beam_area = 18.13
    table = diffuse_sources(probability, 0.5, image, 1e-4, wcs, beam_area, 1.5, redshift=0.1)
    assert len(table) == 2
    big = table[np.argmax(table["n_pixels"])]
    assert big["n_pixels"] == 200
    assert big["area"].to_value(u.arcmin**2) == pytest.approx(200 * 2.25 / 3600)
    assert big["flux"].to_value(u.Jy) == pytest.approx(200 * 2e-3 / beam_area, rel=1e-5)
    assert big["flux_err"].to_value(u.Jy) == pytest.approx(1e-4 * np.sqrt(200 / beam_area), rel=1e-5)
    assert big["x"] == pytest.approx(19.5) and big["y"] == pytest.approx(14.5)
    assert big["peak_probability"] == pytest.approx(0.9) and big["mean_probability"] == pytest.approx(0.9)
    assert big["las"].to_value(u.arcsec) == pytest.approx((np.hypot(19, 9) + 1) * 1.5)
    assert big["las_kpc"].to_value(u.kpc) == pytest.approx(big["las"].to_value(u.arcsec) * 1.844, rel=0.01)
    # An image without diffuse emission gives an empty table of the same columns, types and units: a survey's
    # tables stack.
    empty = diffuse_sources(np.zeros_like(probability), 0.5, image, 1e-4, wcs, beam_area, 1.5, redshift=0.1)
    stacked = vstack([table, empty])
    assert len(stacked) == 2 and stacked["class"].dtype.kind == "U" and stacked["flux"].unit == u.Jy


def test_an_image_in_galactic_coordinates_gets_its_catalogue_in_icrs_and_its_regions(tmp_path):
    from astropy.coordinates import SkyCoord

    from radiounet.inference.outputs import _regions

    probability = np.zeros((60, 80), np.float32)
    probability[10:20, 10:30] = 0.9
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["GLON-SIN", "GLAT-SIN"]
    wcs.wcs.crval = [120.0, 40.0]
    wcs.wcs.cdelt = [-1.5 / 3600, 1.5 / 3600]
    table = diffuse_sources(probability, 0.5, np.full(probability.shape, 2e-3, np.float32), 1e-4, wcs, 18.13, 1.5)
    expected = SkyCoord(l=wcs.pixel_to_world(19.5, 14.5).l, b=wcs.pixel_to_world(19.5, 14.5).b,
                        frame="galactic").icrs
    assert table["ra"][0].to_value(u.deg) == pytest.approx(expected.ra.deg, abs=1e-9)
    assert table["dec"][0].to_value(u.deg) == pytest.approx(expected.dec.deg, abs=1e-9)
    regions = _regions(table, wcs, 1.5)
    regions.write(str(tmp_path / "galactic.reg"), format="ds9")
    text = (tmp_path / "galactic.reg").read_text()
    assert "galactic" in text and "ellipse" in text


@pytest.mark.parametrize("model", ["tiny binary", "lotss-gated-v1"])
def test_large_images_go_through_memory_mapped_outputs_with_the_same_result(tmp_path, tiny_model, monkeypatch, model):
    from radiounet.inference import batch

    model = str(tiny_model) if model == "tiny binary" else model
    assert main(["predict", str(LOTSS), "--out", str(tmp_path / "memory"), "--model", model, "--no-progress"]) == 0
    monkeypatch.setattr(batch, "LARGE_IMAGE_PIXELS", 100)
    assert main(["predict", str(LOTSS), "--out", str(tmp_path / "mapped"), "--model", model, "--no-progress"]) == 0
    written = sorted(p.name for p in (tmp_path / "memory").glob("*.fits"))
    assert written == sorted(p.name for p in (tmp_path / "mapped").glob("*.fits"))
    assert len(written) == (3 if model == "lotss-gated-v1" else 2)
    for name in written:
        with fits.open(tmp_path / "memory" / name) as a, fits.open(tmp_path / "mapped" / name) as b:
            np.testing.assert_array_equal(a[0].data, b[0].data)
            assert a[0].header == b[0].header
    assert not list((tmp_path / "mapped").glob(".*"))


def test_released_pages_of_a_memory_mapped_output_keep_their_data(tmp_path):
    from radiounet.io.memmap import release_pages

    out = np.lib.format.open_memmap(tmp_path / "out.npy", mode="w+", dtype=np.float32, shape=(2, 300, 200))
    out[:, :100] = 1.0
    release_pages(out[0])  # a view releases the whole mapping
    out[:, 100:] = 2.0
    release_pages(out)
    assert out[:, :100].sum() == 2 * 100 * 200 and out[:, 100:].sum() == 2 * 2 * 200 * 200
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), out)
    release_pages(np.ones(3))  # an array in memory: nothing to do


def test_a_folder_stands_for_its_images_not_for_masks_labels_maps_or_tables(tmp_path, capsys):
    from astropy.io import fits
    from astropy.table import Table

    from radiounet.inference.batch import expand_inputs

    for name in ("a.fits", "a.mask.fits", "a.labels.fits", "b.FITS", "b.prob.fits", "b.classes.fits", "c.txt"):
        (tmp_path / name).write_bytes(b"")  # unreadable: left to the reader, which names the problem
    Table({"ra": [1.0], "dec": [2.0]}).write(tmp_path / "catalogue.srl.fits")  # a source list beside the mosaics
    fits.PrimaryHDU(np.zeros((4, 4), np.float32)).writeto(tmp_path / "d.fits")
    assert [p.name for p in expand_inputs([tmp_path])] == ["a.fits", "b.FITS", "d.fits"]
    assert capsys.readouterr().err == (f"radio-unet: warning: skipping {tmp_path / 'catalogue.srl.fits'}: no image in "
                                       "this FITS file (a table?)\n")
    assert [p.name for p in expand_inputs([tmp_path / "a.mask.fits"])] == ["a.mask.fits"]
    assert [p.name for p in expand_inputs([tmp_path / "catalogue.srl.fits"])] == ["catalogue.srl.fits"]  # as given


def test_inference_tiles_cover_an_image_with_few_large_tiles(tiny_model):
    predictor = Predictor(tiny_model, "cpu")
    assert predictor.tile_for((2000, 2000)) == 1064  # 2 x 2 tiles, 1.13 times the pixels through the network
    assert predictor.tile_for((640, 640)) == 640  # one tile
    assert predictor.tile_for((300, 2000)) == 300  # no taller than the image needs
    assert predictor.tile_for((20, 20)) == 64  # the training tile, padded
    assert Predictor(tiny_model, "cpu", tile=128).tile_for((2000, 2000)) == 128


@pytest.mark.parametrize("option, value", [("--tile", "30"), ("--tile", "0"), ("--crop", "600"),
                                           ("--batch-size", "0"), ("--writers", "0")])
def test_bad_tile_options_are_one_line_errors(tmp_path, tiny_model, capsys, option, value):
    assert main(["predict", str(LOTSS), "--out", str(tmp_path / "out"), "--model", str(tiny_model), option, value,
                 "--no-progress"]) == 2
    assert option.lstrip("-").replace("-", "_") in capsys.readouterr().err


def test_bfloat16_keeps_the_default_models_map_within_the_stated_tolerance():
    from radiounet.inference.predictor import PRECISION_TOLERANCE

    with read_radio_image(LOTSS) as image:
        full = Predictor(precision="float32").predict(image)
        reduced = Predictor(precision="bfloat16").predict(image)
    assert reduced.probability.dtype == np.float32
    difference = np.abs(reduced.probability - full.probability)
    assert 0 < np.nanmax(difference) < PRECISION_TOLERANCE
    assert np.nanmax(np.abs(reduced.class_probability - full.class_probability)) < PRECISION_TOLERANCE
    assert np.mean(reduced.mask != full.mask) < 0.01


def test_float16_on_a_cpu_is_a_one_line_error(tmp_path, tiny_model, capsys):
    assert main(["predict", str(LOTSS), "--out", str(tmp_path / "out"), "--model", str(tiny_model), "--device", "cpu",
                 "--precision", "float16", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "precision" in err and "CUDA" in err and len(err.strip().splitlines()) == 1


def test_an_orientation_turns_what_the_network_sees_and_turns_its_output_back(tiny_model):
    """On a square image of one tile and one noise box, the view (k, flip) is the image turned, segmented and
    turned back; the eight views differ (the network has a preferred direction) and average to TTA's map."""
    predictor = Predictor(tiny_model, "cpu", crop=0)
    data = np.random.default_rng(5).normal(0, 1, (64, 64)).astype(np.float32)
    data[10:30, 5:50] += 4.0
    plain, _ = predictor.predict_array(data)
    views = []
    for k in range(4):
        for flip in (False, True):
            turned = np.rot90(data, k)
            turned = np.ascontiguousarray(turned[:, ::-1] if flip else turned)
            expected, _ = predictor.predict_array(turned)
            expected = np.rot90(expected[:, :, ::-1] if flip else expected, -k, axes=(1, 2))
            view, _ = predictor.predict_array(data, orientation=(k, flip))
            np.testing.assert_allclose(view, expected, atol=1e-5)
            views.append(view[0])
    assert np.abs(views[0] - views[5]).max() > 1e-3
    np.testing.assert_array_equal(views[0], plain[0])
    augmented, _ = Predictor(tiny_model, "cpu", crop=0, tta=True).predict_array(data)
    np.testing.assert_allclose(np.mean(views, axis=0), augmented[0], atol=1e-5)


def test_the_python_api_says_what_it_takes(tmp_path, tiny_model):
    predictor = Predictor(tiny_model)
    assert predictor.device.type == ("cuda" if torch.cuda.is_available() else "cpu")  # "auto", as --device
    assert repr(predictor).startswith(f"Predictor({str(tiny_model)!r}, device=")
    with read_radio_image(LOTSS) as image:
        for wrong in (np.asarray(image.data), str(LOTSS)):
            with pytest.raises(TypeError, match="takes a RadioImage .*read_radio_image.*predict_array"):
                predictor.predict(wrong)
    with pytest.raises(ValueError, match="blend"):
        Predictor(tiny_model, blend="mean")
    from radiounet.inference.batch import predict_files

    summary = predict_files(str(LOTSS), tmp_path / "one", predictor, progress=False)  # one path, not a list
    assert len(summary.done) == 1 and (tmp_path / "one" / f"{LOTSS.stem}.prob.fits").is_file()


def test_the_sources_of_a_prediction_in_python_are_the_catalogue_of_predict(tmp_path, tiny_model):
    assert main(["predict", str(LOTSS), "--out", str(tmp_path), "--model", str(tiny_model), "--device", "cpu",
                 "--threshold", "0.3", "--no-png", "--no-progress"]) == 0
    written = QTable.read(tmp_path / f"{LOTSS.stem}.sources.ecsv")
    with read_radio_image(LOTSS) as image:
        sources = Predictor(tiny_model, "cpu", threshold=0.3).predict(image).sources(image)
    assert len(sources) == len(written) > 0
    for name in ("flux", "flux_err", "area", "ra", "dec"):
        assert np.allclose(sources[name].value, written[name].value, rtol=1e-6), name
