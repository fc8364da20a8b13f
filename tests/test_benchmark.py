"""radio-unet benchmark: its figures on predictors whose answer is known, its outputs end to end, real images."""

from pathlib import Path

import astropy.units as u
import matplotlib.image
import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.table import QTable

from radiounet.cli import main
from radiounet.errors import RadioUNetError
from radiounet.evaluate.benchmark import (BENCHMARK_FAMILIES, BENCHMARK_SEED, BENCHMARK_SETUPS, IMAGE_COLUMNS,
                                          BenchmarkPlan, benchmark_fields, score_setup, setup_seed)
from radiounet.evaluate.benchmark_figures import INTERVAL_FIGURES
from radiounet.evaluate.real_skies import bundled_real_images, real_sky_table
from radiounet.inference.noise import rms_mesh
from radiounet.inference.predictor import Prediction
from radiounet.models import UNet, UNetConfig, save_model
from radiounet.sky import FieldConfig, SkyConfig, field_rng, get_survey, simulate_field
from radiounet.sky.labels import CLASS_NAMES

PLAN = BenchmarkPlan("test", size=96, n_diffuse=3, n_radio_galaxy=2)


class ConstantPredictor:
    """Calls every pixel diffuse (``value`` 1) or none (0); as a class model it labels every pixel radio galaxy."""

    threshold = 0.5
    model_name = "constant"
    card = {}
    tile = 64

    def __init__(self, value, classes=False):
        self.value = value
        self.class_names = CLASS_NAMES if classes else ()

    def prepare(self, image):
        return None

    def predict(self, image, prepared=None, orientation=None):
        probability = np.full(image.shape, self.value, dtype=np.float32)
        classes = None
        if self.class_names:
            classes = np.zeros((len(CLASS_NAMES),) + image.shape, dtype=np.float32)
            classes[CLASS_NAMES.index("radio_galaxy")] = 1
        return Prediction(probability=probability, mask=probability >= self.threshold, spread=None,
                          rms=np.ones((1, 1)), rms_box=64, threshold=self.threshold, resampled=False,
                          class_probability=classes, class_names=self.class_names)


def _with_emission(family, setup):
    """How many of the plan's diffuse images have pixels in their diffuse mask."""
    seed = setup_seed(BENCHMARK_SEED, family, get_survey(setup), True)
    return sum(bool(sky.mask.any()) for sky in benchmark_fields(family, get_survey(setup), PLAN, True, seed))


@pytest.mark.parametrize("family", BENCHMARK_FAMILIES)
def test_a_model_calling_everything_diffuse_finds_all_and_is_always_wrong_on_radio_galaxies(family):
    row, images, examples = score_setup(ConstantPredictor(1.0, classes=True), family, "lotss-dr2-20", PLAN,
                                        ratio_threshold=0.5)
    assert row["recall"] == 1 and row["n_halo_pixels"] + row["n_relic_pixels"] > 0
    for kind in ("halo", "relic"):
        for name in (f"{kind}_found", f"{kind}_labelled_radio_galaxy"):
            assert row[name] == 1 or (np.isnan(row[name]) and row[f"n_{kind}_pixels"] == 0)
    assert row["radio_galaxy_called_mean"] == 1 and row["radio_galaxy_called_p90"] == 1
    # Images whose diffuse emission stays under the mask threshold count neither way, as in the R calibration.
    n_positive = _with_emission(family, "lotss-dr2-20")
    assert 0 < n_positive <= 3
    assert row["r_recall"] == 1 and row["r_false_positive"] == 1
    assert row["r_accuracy"] == pytest.approx(n_positive / (n_positive + 2))
    assert 0 < row["precision"] < 1 and row["dice"] == pytest.approx(2 * row["precision"] / (row["precision"] + 1))
    assert set(examples) == {"diffuse", "radio_galaxies"} and examples["diffuse"].truth.any()
    assert list(images["kind"]) == ["diffuse"] * 3 + ["radio_galaxies"] * 2
    assert images["halo"].sum() == row["n_halo_pixels"] and np.all(images["called_fraction"] == 1)


def test_a_model_calling_nothing_diffuse_finds_nothing_and_never_errs_on_radio_galaxies():
    row, _, _ = score_setup(ConstantPredictor(0.0), "simulator", "lotss-dr2-6", PLAN, ratio_threshold=0.5)
    assert row["dice"] == 0 and row["recall"] == 0 and row["radio_galaxy_called_mean"] == 0
    assert np.isnan(row["halo_labelled_radio_galaxy"])  # a binary model gives no labels
    assert row["r_recall"] == 0 and row["r_false_positive"] == 0
    assert row["r_accuracy"] == pytest.approx(2 / (_with_emission("simulator", "lotss-dr2-6") + 2))


def test_the_setups_are_presets_of_the_stated_beams():
    beams = {name: get_survey(name).beam.major.to_value(u.arcsec) for name in BENCHMARK_SETUPS}
    assert beams == {"lotss-dr2-6": 6, "lotss-dr2-20": 20, "lotss-dr2-60": 60, "meerkat-mgcls": 7.5}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, tiny_card):
    torch.manual_seed(0)
    net = UNet(UNetConfig(depth=2, width=4, norm="none", dropout=0.0))
    return save_model(tmp_path_factory.mktemp("model") / "tiny.safetensors", net,
                      tiny_card(detection_ratio_threshold=0.3))


def test_quick_benchmark_writes_its_tables_page_and_panels(tmp_path, tiny_model, capsys):
    out = tmp_path / "bench"
    assert main(["benchmark", str(tiny_model), "--quick", "--out", str(out), "--device", "cpu",
                 "--no-progress"]) == 0
    table = QTable.read(out / "benchmark.ecsv")
    images = QTable.read(out / "images.ecsv")
    assert len(images) == len(table) * 4 and set(images["kind"]) == {"diffuse", "radio_galaxies"}
    assert [(row["family"], row["setup"]) for row in table] == [(f, s) for f in BENCHMARK_FAMILIES
                                                                for s in BENCHMARK_SETUPS]
    for name in ("dice", "recall", "radio_galaxy_called_mean", "r_accuracy"):
        assert np.all((table[name] >= 0) & (table[name] <= 1))
    assert table.meta["ratio_threshold"] == 0.3 and table.meta["plan"] == "quick"
    assert table.meta["ratio_threshold_calibrated"] is True
    injection = QTable.read(out / "injection.ecsv")
    assert len(injection) == 1 and injection["re_kpc"][0] == 100
    real = QTable.read(out / "real_skies.ecsv")
    # In a checkout the bundled real test images are measured; the labelled folder was not given.
    assert {"lotss-dr1", "vla-fornax-a", "mwa-fornax-a"} <= set(real["name"][real["status"] == "ok"])
    assert list(real["status"]).count("absent") == 1
    page = (out / "benchmark.md").read_text()
    assert "| heldout | lotss-dr2-60 | 60\" |" in page and "--real-data" in page and "bootstrap draws" in page
    assert f"radio-unet benchmark {tiny_model} --quick" in page and "R threshold 0.3 (the model's own)." in page
    assert "No intervals: this plan draws too few images per setup" in page  # --quick: said, not left to guess
    for name in ("benchmark.png", "benchmark_real.png"):
        assert matplotlib.image.imread(out / name).shape[2] in (3, 4)
    assert "Simulated skies" in capsys.readouterr().out


def test_a_model_against_its_own_benchmark_differs_by_nothing(tmp_path, tiny_model, capsys):
    out = tmp_path / "bench"
    command = ["benchmark", str(tiny_model), "--quick", "--out", str(out), "--device", "cpu", "--no-progress"]
    assert main(command) == 0
    assert main(command + ["--against", str(out)]) == 0
    comparison = QTable.read(out / "comparison.ecsv")
    assert len(comparison) == len(BENCHMARK_FAMILIES) * len(BENCHMARK_SETUPS)
    assert np.all(comparison["dice"] == 0) and not np.any(comparison["dice_sure"])
    assert np.all(comparison["dice_first"] == comparison["dice_second"])
    real = QTable.read(out / "comparison_real.ecsv")
    assert len(real) >= 3 and np.all(real["called_diffuse_first"] == real["called_diffuse_second"])
    page = (out / "comparison.md").read_text()
    assert "paired bootstrap" in page and "| simulator | lotss-dr2-6 | +0.000" in page
    assert "No intervals: this plan draws too few images" in page
    assert "against" in capsys.readouterr().out


def test_a_benchmark_to_compare_with_must_be_one_of_the_same_images(tmp_path, tiny_model, capsys):
    out = tmp_path / "bench"
    command = ["benchmark", str(tiny_model), "--quick", "--out", str(out), "--no-progress"]
    assert main(command[:-3] + ["--against", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(command + ["--against", str(tmp_path / "empty")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "benchmark.ecsv: no such file" in error
    folder = tmp_path / "default"
    folder.mkdir()
    QTable({"family": ["simulator"]}, meta={"plan": "default"}).write(folder / "benchmark.ecsv")
    QTable({name: [] for name in IMAGE_COLUMNS}).write(folder / "images.ecsv")
    assert main(command + ["--against", str(folder)]) == 2
    assert "benchmark.ecsv: not a benchmark table of this version (no column setup)" in capsys.readouterr().err
    setups = QTable({name: [0.5] for name in INTERVAL_FIGURES},
                    meta=dict(model="other", plan="default", seed=BENCHMARK_SEED, ratio_threshold=0.01))
    setups["family"], setups["setup"] = ["simulator"], ["lotss-dr2-6"]
    setups.write(folder / "benchmark.ecsv", overwrite=True)
    assert main(command + ["--against", str(folder)]) == 2
    assert "plan default, not quick" in capsys.readouterr().err and not out.exists()


def _write_halo_image(folder, lotss):
    sky = SkyConfig(fraction_diffuse=1.0, fraction_radio_galaxies=0.0, halo_probability=1.0, relic_probability=0.0,
                    redshift=(0.2, 0.2), halo_snr=(20.0, 20.0), radio_galaxies_mean=0.0)
    field = simulate_field(FieldConfig(lotss, shape=(160, 160), sky=sky), field_rng(3, 0))
    header = field.wcs.to_header()
    header.update(BMAJ=6 / 3600, BMIN=6 / 3600, BPA=0.0, BUNIT="JY/BEAM")
    fits.PrimaryHDU(field.image, header).writeto(folder / "halo.fits")
    (halo,) = field.components
    centre = field.wcs.pixel_to_world(halo.x, halo.y)
    return centre, field


def test_a_real_halo_is_measured_in_its_disc(tmp_path, lotss):
    centre, _ = _write_halo_image(tmp_path, lotss)
    (tmp_path / "labels.csv").write_text("file,kind,ra_deg,dec_deg,radius_arcmin,telescope\n"
                                         f"halo.fits,halo,{centre.ra.deg},{centre.dec.deg},0.5,LOFAR\n")
    table, examples, notes = real_sky_table(ConstantPredictor(1.0, classes=True), tmp_path, {}, [])
    (row,) = table[table["status"] == "ok"]
    assert row["name"] == "halo.fits" and row["region"] == "halo disc" and row["telescope"] == "LOFAR"
    assert row["called_diffuse"] == 1 and row["labelled_halo"] == 0 and row["labelled_radio_galaxy"] == 1
    assert row["called_diffuse_min"] == row["called_diffuse_max"] == 1
    disc = examples["halo.fits"].truth
    # 0.5 arcmin at 1.5 arcsec per pixel: a disc of radius 20 pixels.
    assert disc.sum() == pytest.approx(np.pi * 20**2, rel=0.05)
    assert any("bundled" in note for note in notes)


class LeftHalfPredictor(ConstantPredictor):
    """Calls diffuse the left half of what its network sees: a model with a preferred direction, turned back."""

    def predict(self, image, prepared=None, orientation=(0, False)):
        turns, mirrored = orientation or (0, False)
        seen = np.zeros(image.shape[::-1] if turns % 2 else image.shape, dtype=bool)
        seen[:, :seen.shape[1] // 2] = True
        called = np.rot90(seen[:, ::-1] if mirrored else seen, -turns)
        prediction = super().predict(image)
        prediction.mask[...] = called
        prediction.probability[...] = called
        return prediction


def test_a_real_image_is_also_measured_in_the_other_seven_views(tmp_path, lotss):
    """One orientation of a real image is one draw: the lowest and highest share over the eight views of the
    network are kept beside the share of the image as it is."""
    _, field = _write_halo_image(tmp_path, lotss)
    centre = field.wcs.pixel_to_world(70, 80)  # a disc of radius 20 pixels across the middle column, 80
    (tmp_path / "labels.csv").write_text("file,kind,ra_deg,dec_deg,radius_arcmin\n"
                                         f"halo.fits,halo,{centre.ra.deg},{centre.dec.deg},0.5\n")
    table, examples, _ = real_sky_table(LeftHalfPredictor(1.0), tmp_path, {}, [])
    (row,) = table[table["status"] == "ok"]
    disc = examples["halo.fits"].truth
    ny, nx = disc.shape
    # The views call diffuse the left, right, top or bottom half of the image.
    halves = [disc[:, :nx // 2], disc[:, nx - nx // 2:], disc[:ny // 2], disc[ny - ny // 2:]]
    shares = [half.sum() / disc.sum() for half in halves]
    assert max(shares) - min(shares) > 0.3
    assert row["called_diffuse"] == pytest.approx(shares[0])
    assert row["called_diffuse_min"] == pytest.approx(min(shares))
    assert row["called_diffuse_max"] == pytest.approx(max(shares))


def test_a_broken_labels_file_is_a_one_line_error(tmp_path, lotss, capsys, tiny_model):
    _write_halo_image(tmp_path, lotss)
    (tmp_path / "labels.csv").write_text("file,kind\nhalo.fits,blob\n")
    assert main(["benchmark", str(tiny_model), "--quick", "--real-data", str(tmp_path), "--out",
                 str(tmp_path / "out"), "--no-progress"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "labels.csv" in error and "blob" in error
    assert main(["benchmark", str(tiny_model), "--real-data", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err


def test_without_the_bundled_images_the_real_part_says_so(tmp_path):
    table, examples, notes = real_sky_table(ConstantPredictor(0.0), None, {}, [])
    assert set(table["status"]) == {"absent"} and not examples
    assert any("--real-data" in note for note in notes) and sum("bundled" in note for note in notes) == 3
    assert set(bundled_real_images()) == {"lotss-dr1", "vla-fornax-a", "mwa-fornax-a"}


def test_the_noise_of_a_small_image_padded_with_blanks_is_measured_on_its_pixels():
    # A 200-pixel image in the middle of a 700-pixel cutout (as at a survey's edge): no 384-pixel box is a
    # quarter full, but the image's own pixels give its rms.
    rng = np.random.default_rng(0)
    cutout = np.full((700, 700), np.nan, dtype=np.float32)
    cutout[250:450, 250:450] = rng.normal(0, 2e-4, (200, 200))
    mesh = rms_mesh(cutout, 384)
    assert np.allclose(mesh, 2e-4, rtol=0.1)


def test_an_interrupted_benchmark_resumes_from_its_finished_parts(tmp_path, monkeypatch):
    from radiounet.evaluate import benchmark

    first = benchmark.run_benchmark(ConstantPredictor(1.0, classes=True), quick=True, work_dir=tmp_path,
                                    progress=False)
    assert len(list((tmp_path / "setups").glob("*.ecsv"))) == len(BENCHMARK_FAMILIES) * len(BENCHMARK_SETUPS)
    assert repr(first).startswith("<BenchmarkResult of 'constant', plan 'quick': 8 setups, 32 images")  # a notebook

    def fail(*args, **kwargs):
        raise AssertionError("a finished part was measured again")

    monkeypatch.setattr(benchmark, "score_setup", fail)
    again = benchmark.run_benchmark(ConstantPredictor(1.0, classes=True), quick=True, work_dir=tmp_path,
                                    progress=False)
    assert list(again.setups["dice"]) == list(first.setups["dice"])
    # Another R threshold scores the same images again, without segmenting them again.
    rescored = benchmark.run_benchmark(ConstantPredictor(1.0, classes=True), quick=True, work_dir=tmp_path,
                                       ratio_threshold=1.0, progress=False)
    assert list(rescored.setups["dice"]) == list(first.setups["dice"])
    assert np.all(rescored.setups["r_recall"] == 0) and not np.all(first.setups["r_recall"] == 0)
    example = again.examples[("heldout", "lotss-dr2-20")]["diffuse"]
    assert np.array_equal(example.truth, first.examples[("heldout", "lotss-dr2-20")]["diffuse"].truth)
    # Another model (here: another threshold) measures everything again.
    other = ConstantPredictor(1.0, classes=True)
    other.threshold = 0.4
    with pytest.raises(AssertionError, match="measured again"):
        benchmark.run_benchmark(other, quick=True, work_dir=tmp_path, progress=False)


VLA_LIKE = ["--bmaj", "15", "--pixel-scale", "3", "--rms", "20", "--frequency", "1400"]


def test_a_survey_of_ones_own_is_benchmarked_on_the_same_images_beside_or_instead_of_the_presets(
        tmp_path, tiny_model, capsys):
    """A user training for a VLA-like survey selects models on it: its images are the same whatever presets the run
    also measures, so that two benchmarks of it compare image by image."""
    command = ["benchmark", str(tiny_model), "--quick", "--device", "cpu", "--no-progress"]
    assert main(command + ["--out", str(tmp_path / "own"), "--setups", *VLA_LIKE]) == 0
    own = QTable.read(tmp_path / "own" / "benchmark.ecsv")
    assert list(own["setup"]) == ["custom", "custom"] and list(own["family"]) == list(BENCHMARK_FAMILIES)
    assert np.all(own["beam_arcsec"] == 15) and np.all(own["pixel_arcsec"] == 3)
    assert own["survey"][0] == 'custom: beam 15"x15" PA 0 deg, 3"/px, rms 20 uJy/beam, 1400 MHz'
    assert "Surveys of one's own, beside the presets: custom: beam 15\"x15\"" in capsys.readouterr().out
    # The R threshold calibrate finds for such a survey (or for a model without one) is given to the benchmark.
    assert main(command + ["--out", str(tmp_path / "both"), "--setups", "lotss-dr2-20", *VLA_LIKE,
                           "--ratio-threshold", "0.2"]) == 0
    assert "R threshold 0.2 (given with --ratio-threshold)." in capsys.readouterr().out
    assert QTable.read(tmp_path / "both" / "benchmark.ecsv").meta["ratio_threshold"] == 0.2
    sites = list((tmp_path / "both" / "parts" / "injection").glob("*/re_*/sites/*.ecsv"))
    assert sites and all(QTable.read(site).meta["ratio_threshold"] == 0.2 for site in sites)  # the real-noise test too
    both = QTable.read(tmp_path / "both" / "images.ecsv")
    assert [str(s) for s in dict.fromkeys(both["setup"])] == ["lotss-dr2-20", "custom"]
    alone = QTable.read(tmp_path / "own" / "images.ecsv")
    for name in ("z", "components", "mask_pixels"):
        assert list(both[both["setup"] == "custom"][name]) == list(alone[name])
    # Its images are its own: not those of the preset it was made from, nor of another survey of that name.
    preset = QTable.read(tmp_path / "both" / "images.ecsv")
    assert list(preset[preset["setup"] == "lotss-dr2-20"]["z"]) != list(alone["z"])
    assert main(command + ["--out", str(tmp_path / "own"), "--setups", *VLA_LIKE[:-1], "3000"]) == 0
    assert list(QTable.read(tmp_path / "own" / "images.ecsv")["z"]) != list(alone["z"])


def test_benchmarks_of_other_setups_compare_on_those_they_share(tmp_path, tiny_model, capsys):
    command = ["benchmark", str(tiny_model), "--quick", "--device", "cpu", "--no-progress"]
    assert main(command + ["--out", str(tmp_path / "first"), "--setups", "lotss-dr2-20", *VLA_LIKE]) == 0
    assert main(command + ["--out", str(tmp_path / "second"), "--setups", "lotss-dr2-20", "lotss-dr2-60",
                           "--against", str(tmp_path / "first")]) == 0
    comparison = QTable.read(tmp_path / "second" / "comparison.ecsv")
    assert list(comparison["setup"]) == ["lotss-dr2-20", "lotss-dr2-20"]
    page = (tmp_path / "second" / "comparison.md").read_text()
    # Both benchmarks are of the same model here: the page names whose benchmark measured a setup alone.
    assert f"Not compared, measured by one benchmark only: simulator custom (`{tiny_model}`'s only)" in page
    assert f"simulator lotss-dr2-60 (`{tiny_model}`'s only)" in page
    # The same name for another survey is not paired either; nothing in common is an error, said before the run.
    assert main(command + ["--out", str(tmp_path / "third"), "--setups", *VLA_LIKE[:-1], "3000",
                           "--against", str(tmp_path / "first")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "no simulated setup in common with this run's (custom)" in error
    assert not (tmp_path / "third").exists()


def test_benchmark_setups_that_cannot_be_are_one_line_errors(tmp_path, tiny_model, capsys):
    command = ["benchmark", str(tiny_model), "--quick", "--out", str(tmp_path / "b"), "--no-progress"]
    assert main(command + ["--setups", "lotss-dr2-2"]) == 2
    assert "--setups lotss-dr2-2: unknown survey preset; choose one of lotss-dr2-20, " in capsys.readouterr().err
    assert main(command + ["--setups"]) == 2
    assert "--setups without a preset needs a survey of your own" in capsys.readouterr().err
    assert main(command + ["--bmaj", "-3"]) == 2
    assert "bmaj" in capsys.readouterr().err and not (tmp_path / "b").exists()
    # The presets measured by default are the benchmark's four (the option's default is written out in the CLI).
    from radiounet.cli import build_parser

    assert build_parser().parse_args(["benchmark", "m"]).setups == list(BENCHMARK_SETUPS)


def test_a_model_without_a_calibrated_r_threshold_is_said_so_on_both_pages(tmp_path):
    """Its R columns use the reference work's threshold: the benchmark and the comparison pages say so."""
    from radiounet.evaluate import benchmark
    from radiounet.evaluate.benchmark_compare import compare_benchmarks, comparison_markdown, read_benchmark
    from radiounet.evaluate.benchmark_report import markdown_report, write_benchmark

    result = benchmark.run_benchmark(ConstantPredictor(1.0, classes=True), quick=True, work_dir=tmp_path / "parts",
                                     progress=False)
    assert result.meta["ratio_threshold_calibrated"] is False
    assert "R threshold 0.015 (the reference work's: the model's card holds no calibrated one" in markdown_report(
        result)
    write_benchmark(result, tmp_path)
    folder = read_benchmark(tmp_path)
    page = comparison_markdown(*compare_benchmarks(folder, folder))
    assert page.count("`constant` has no calibrated R threshold") == 1


def test_models_lists_the_benchmark_of_the_shipped_models(capsys):
    from radiounet.models import benchmark_headlines
    from radiounet.models.store import DEFAULT_MODEL

    table = benchmark_headlines()
    assert list(table["name"][:2]) == [DEFAULT_MODEL, DEFAULT_MODEL]
    assert list(table["family"][:2]) == list(BENCHMARK_FAMILIES)
    assert set(BENCHMARK_SETUPS) <= set(table.colnames)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "radio-unet benchmark" in out and "meerkat-mgcls" in out


def test_relic_pixels_lost_because_the_class_head_hesitates_are_counted():
    """A relic pixel split between relic (0.3) and radio galaxy (0.3) is lost to the diffuse mask at 0.5 through
    hesitation; one at relic 0.1 and radio galaxy 0.2 is simply missed; one at relic 0.6 is found."""
    from types import SimpleNamespace

    from radiounet.evaluate.synthetic import DIFFUSE_COUNTS, add_diffuse_counts

    relic, galaxy = CLASS_NAMES.index("relic"), CLASS_NAMES.index("radio_galaxy")
    labels = np.full((1, 4), relic, dtype=np.uint8)
    classes = np.zeros((len(CLASS_NAMES), 1, 4), dtype=np.float32)
    classes[relic] = [0.3, 0.1, 0.6, 0.3]
    classes[galaxy] = [0.3, 0.2, 0.1, 0.1]
    classes[0] = 1 - classes.sum(axis=0)
    probability = classes[relic]
    prediction = SimpleNamespace(probability=probability, mask=probability >= 0.5, class_probability=classes,
                                 class_names=CLASS_NAMES)
    counts = dict.fromkeys(DIFFUSE_COUNTS, 0)
    add_diffuse_counts(counts, prediction, SimpleNamespace(labels=labels, mask=labels > 0), 0.5)
    assert (counts["relic"], counts["relic_found"], counts["relic_hesitant"]) == (4, 1, 1)


def test_completeness_bins_each_halo_or_relic_by_its_brightness_and_its_size_in_beams():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("completeness",
                                                  Path(__file__).parents[1] / "benchmarks" / "completeness.py")
    completeness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(completeness)
    survey = get_survey("lotss-dr2-20")
    for kind in ("halo", "relic"):
        for value in (1.0, 0.0):
            rows = completeness.found(ConstantPredictor(value), survey, kind, (3.0, 10.0), n_fields=3, size=96,
                                      seed=5)
            assert rows and all(3 <= brightness < 10 and size > 0 and pixels > 0 and share == value
                                for brightness, size, pixels, share in rows)
    table = completeness.completeness_table([(2.0, 0.3, 10, 0.9), (2.5, 0.4, 10, 0.2), (50.0, 2.0, 100, 0.6)])
    assert list(table["I0 / rms"]) == ["1-3", "30-100"] and list(table["r_e / beam"]) == ["0-0.5", "1.5-5"]
    assert list(table["n"]) == [2, 1] and list(table["found (> half)"]) == [1, 1]
    assert list(table["median found"]) == pytest.approx([0.55, 0.6])


def test_each_run_benchmarks_into_a_folder_of_its_own():
    from radiounet.cli import default_benchmark_folder

    assert default_benchmark_folder("multisurvey-v1") == Path("benchmark/multisurvey-v1")
    assert default_benchmark_folder("runs/a/model.safetensors") == Path("benchmark/a")
    assert default_benchmark_folder("runs/b/model.safetensors") == Path("benchmark/b")
    assert default_benchmark_folder("mine.safetensors") == Path("benchmark/mine")
    assert default_benchmark_folder("runs/a/epochs/epoch_004.safetensors") == Path("benchmark/a-epoch_004")


def test_detectability_splits_the_benchmarks_found_pixels_by_the_snr_of_the_emission(tmp_path, tiny_model):
    import importlib.util

    spec = importlib.util.spec_from_file_location("detectability",
                                                  Path(__file__).parents[1] / "benchmarks" / "detectability.py")
    detectability = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(detectability)
    out = tmp_path / "bench"
    assert main(["benchmark", str(tiny_model), "--quick", "--setups", "lotss-dr2-6", "--out", str(out),
                 "--device", "cpu", "--no-progress"]) == 0
    measured = QTable.read(out / "benchmark.ecsv")
    everything = detectability.main(["--benchmark", str(out), "--min-snr", "0"])
    nothing = detectability.main(["--benchmark", str(out), "--min-snr", "1e9"])
    for family in BENCHMARK_FAMILIES:
        pooled = measured[measured["family"] == family]["halo_found"][0]
        row = everything[(everything["family"] == family) & (everything["setup"] == "lotss-dr2-6")][0]
        assert row["halo_detectable"] == 1 and row["halo_found_detectable"] == pytest.approx(pooled)
        row = nothing[(nothing["family"] == family) & (nothing["setup"] == "lotss-dr2-6")][0]
        assert row["halo_detectable"] == 0 and row["halo_found_rest"] == pytest.approx(pooled)
    # Only the setups the benchmark measured are drawn again.
    assert set(everything["setup"]) == {"lotss-dr2-6"} and len(everything) == len(BENCHMARK_FAMILIES)
    images = QTable.read(out / "images.ecsv")
    images["halo"][images["kind"] == "diffuse"] += 1
    images.write(out / "images.ecsv", overwrite=True)
    with pytest.raises(RadioUNetError, match="is not the image drawn here"):
        detectability.main(["--benchmark", str(out)])
