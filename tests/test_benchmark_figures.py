"""The benchmark's figures from per-image counts, and their bootstrap intervals."""

import numpy as np
import pytest
from astropy.table import Table, vstack

from radiounet.evaluate.benchmark_figures import IMAGE_COLUMNS, INTERVAL_FIGURES, paired_differences, setup_figures


def _image(kind, *, tp=0, fp=0, fn=0, halo=0, halo_found=0, relic=0, relic_found=0, relic_as_galaxy=0,
           called_fraction=0.0, ratio=0.0):
    return dict(family="simulator", setup="lotss-dr2-6", kind=kind, index=0, z=0.1, components="", mask_pixels=tp + fn,
                tp=tp, fp=fp, fn=fn, halo=halo, halo_found=halo_found, halo_as_galaxy=0, relic=relic,
                relic_found=relic_found, relic_as_galaxy=relic_as_galaxy, relic_hesitant=0,
                called_fraction=called_fraction, ratio=ratio)


def _table(rows):
    return Table(rows=rows, names=IMAGE_COLUMNS)


def test_the_figures_pool_the_pixels_and_count_each_cluster_once():
    images = _table([
        _image("diffuse", tp=90, fp=10, fn=10, halo=100, halo_found=90, ratio=0.5),
        _image("diffuse", tp=0, fp=0, fn=100, relic=100, relic_as_galaxy=40, ratio=0.0),
        _image("diffuse", ratio=0.9),  # diffuse emission under the mask threshold: counts neither way in R
        _image("radio_galaxies", fp=5, called_fraction=0.01, ratio=0.2),
        _image("radio_galaxies", called_fraction=0.03, ratio=0.05),
    ])
    figures = setup_figures(images, ratio_threshold=0.1, resamples=0)
    assert figures["dice"] == pytest.approx(2 * 90 / (2 * 90 + 10 + 110))
    assert figures["halo_found"] == 0.9 and figures["relic_found"] == 0 and figures["halo_found_median"] == 0.9
    assert figures["relic_labelled_radio_galaxy"] == 0.4 and figures["n_halo_pixels"] == 100
    assert figures["radio_galaxy_called_mean"] == pytest.approx(0.02)
    # Detected: the first cluster (right), not the second (wrong), the first radio-galaxy image (wrong).
    assert figures["r_recall"] == 0.5 and figures["r_false_positive"] == 0.5 and figures["r_accuracy"] == 0.5
    assert all(np.isnan(figures[f"{name}_lo"]) for name in INTERVAL_FIGURES)
    binary = setup_figures(images, ratio_threshold=0.1, labels=False, resamples=0)
    assert np.isnan(binary["relic_labelled_radio_galaxy"]) and binary["dice"] == figures["dice"]


def _varied(n, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        truth = int(rng.integers(50, 500))
        found = int(rng.integers(0, truth))
        relic = int(rng.integers(0, 300))
        rows.append(_image("diffuse", tp=found, fp=int(rng.integers(0, 100)), fn=truth - found, halo=truth,
                           halo_found=found, relic=relic, relic_found=int(rng.integers(0, relic + 1)),
                           relic_as_galaxy=int(rng.integers(0, relic // 2 + 1)), ratio=float(rng.uniform(0, 0.2))))
        rows.append(_image("radio_galaxies", called_fraction=float(rng.uniform(0, 0.02)),
                           ratio=float(rng.uniform(0, 0.2))))
    return _table(rows)


def test_the_interval_holds_the_figure_narrows_with_more_images_and_is_reproducible():
    images = _varied(16, seed=1)
    figures = setup_figures(images, ratio_threshold=0.1)
    for name in INTERVAL_FIGURES:
        if np.isfinite(figures[name]):
            assert figures[f"{name}_lo"] < figures[name] < figures[f"{name}_hi"], name
    np.testing.assert_equal(setup_figures(images, ratio_threshold=0.1), figures)
    # The same images four times over: the same figures, an interval about half as wide (1 / sqrt(4)).
    many = setup_figures(vstack([images] * 4), ratio_threshold=0.1)
    assert many["dice"] == pytest.approx(figures["dice"])
    width, narrower = (f["dice_hi"] - f["dice_lo"] for f in (figures, many))
    assert 0.35 < narrower / width < 0.65


def test_identical_images_leave_no_room():
    images = _table([_image("diffuse", tp=80, fn=20, halo=100, halo_found=80, ratio=0.5)] * 6
                    + [_image("radio_galaxies", called_fraction=0.01)] * 5)
    figures = setup_figures(images, ratio_threshold=0.1)
    assert figures["dice_lo"] == figures["dice_hi"] == pytest.approx(figures["dice"])
    assert figures["radio_galaxy_called_mean_lo"] == pytest.approx(0.01)


def test_a_model_against_itself_differs_by_nothing():
    images = _varied(12, seed=2)
    differences = paired_differences(images, images, (0.1, 0.1))
    for name in INTERVAL_FIGURES:
        assert differences[name] == differences[f"{name}_lo"] == differences[f"{name}_hi"] == 0
        assert not differences[f"{name}_sure"]


def test_paired_draws_tell_apart_what_separate_intervals_cannot():
    first = _varied(16, seed=3)
    second = first.copy()
    diffuse = second["kind"] == "diffuse"
    # The second model finds 5% more of each image's halo: a small gain beside the spread between images.
    gain = (0.05 * second["halo"][diffuse]).astype(int)
    gain = np.minimum(gain, second["fn"][diffuse])
    for name, sign in (("tp", 1), ("fn", -1), ("halo_found", 1)):
        second[name][diffuse] += sign * gain
    alone = [setup_figures(table, ratio_threshold=0.1) for table in (first, second)]
    assert alone[1]["halo_found"] - alone[0]["halo_found"] < alone[0]["halo_found_hi"] - alone[0]["halo_found_lo"]
    differences = paired_differences(first, second, (0.1, 0.1))
    assert differences["halo_found"] == pytest.approx(alone[1]["halo_found"] - alone[0]["halo_found"])
    assert 0 < differences["halo_found_lo"] <= differences["halo_found"] <= differences["halo_found_hi"]
    assert differences["halo_found_sure"] and differences["dice_sure"]
    assert differences["radio_galaxy_called_mean"] == 0 and not differences["radio_galaxy_called_mean_sure"]


def test_tables_of_other_images_are_refused():
    with pytest.raises(ValueError, match="other images"):
        paired_differences(_varied(4, seed=1), _varied(4, seed=2), (0.1, 0.1))


def test_a_figure_counted_on_a_few_images_gets_no_interval_and_is_never_sure():
    # One image of 16 holds a relic: every draw that holds it gives the same share, so no spread is known.
    first = _varied(16, seed=4)
    first["relic"], first["relic_found"], first["relic_as_galaxy"] = 0, 0, 0
    first["relic"][0], first["relic_found"][0] = 100, 50
    second = first.copy()
    second["relic_found"][0] = 90
    figures = setup_figures(first, ratio_threshold=0.1)
    assert figures["relic_found"] == 0.5 and np.isnan(figures["relic_found_lo"]) and np.isfinite(figures["dice_lo"])
    differences = paired_differences(first, second, (0.1, 0.1))
    assert differences["relic_found"] == pytest.approx(0.4) and not differences["relic_found_sure"]
    assert np.isnan(differences["relic_found_lo"])
