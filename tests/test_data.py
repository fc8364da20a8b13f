"""Training tiles: tiling geometry, HDF5 shards and the PyTorch datasets."""

import os
import signal
import time
import weakref

import h5py
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from radiounet._parallel import run_jobs
from radiounet.data.datasets import SyntheticFieldDataset, TileShardDataset
from radiounet.data.shards import write_tile_shards
from radiounet.data.tiles import cut_tiles, tile_starts
from radiounet.errors import InvalidParameterError, RadioUNetError
from radiounet.sky import FieldConfig, SkyConfig, get_survey
from radiounet.sky.field import field_rng, simulate_field
from radiounet.sky.labels import CLASS_NAMES


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 64).flatmap(lambda tile: st.tuples(
    st.just(tile), st.integers(tile, 400), st.integers(1, tile))))
def test_tile_starts_cover_every_pixel_and_end_on_the_edge(args):
    tile, length, stride = args
    starts = tile_starts(length, tile, stride)
    assert starts[0] == 0 and starts[-1] + tile == length
    assert np.all(np.diff(starts) <= stride) and np.all(np.diff(starts) > 0)
    covered = np.zeros(length, bool)
    for s in starts:
        covered[s:s + tile] = True
    assert covered.all()


def test_cut_tiles_returns_the_array_pieces():
    array = np.arange(50 * 70).reshape(50, 70)
    tiles, origins = cut_tiles(array, 32, 32)
    assert tiles.shape == (6, 32, 32)  # rows start at 0, 18; columns at 0, 19, 38
    for tile, (r, c) in zip(tiles, origins):
        assert np.array_equal(tile, array[r:r + 32, c:c + 32])
    with pytest.raises(InvalidParameterError, match="tile_size"):
        cut_tiles(array, 64, 32)


@pytest.fixture(scope="module")
def shards(tmp_path_factory, small_config):
    directory = tmp_path_factory.mktemp("shards")
    paths = write_tile_shards(directory, small_config, 5, seed=3, tile_size=128, fields_per_shard=2,
                              workers=2, progress=False)
    return directory, paths


def test_shards_hold_whole_fields_and_their_tiles(shards, small_config):
    directory, paths = shards
    assert [p.name for p in paths] == ["shard_00000.h5", "shard_00001.h5", "shard_00002.h5"]
    with h5py.File(paths[1], "r") as h5:
        assert h5["image"].shape == (8, 128, 128)
        assert sorted(set(h5["field_index"][:].tolist())) == [2, 3]
        assert list(h5["labels"].attrs["class_names"]) == ["background", "halo", "relic", "radio_galaxy",
                                                            "compact"]
        assert h5.attrs["rms_jy_per_beam"] == pytest.approx(small_config.survey.rms_jy)


def test_shards_are_deterministic_and_resumable(shards, small_config, tmp_path):
    _, paths = shards
    again = write_tile_shards(tmp_path, small_config, 5, seed=3, tile_size=128, fields_per_shard=2, progress=False)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]
    again[1].unlink()
    mtime = again[0].stat().st_mtime_ns
    write_tile_shards(tmp_path, small_config, 5, seed=3, tile_size=128, fields_per_shard=2, progress=False)
    assert again[1].read_bytes() == paths[1].read_bytes()
    assert again[0].stat().st_mtime_ns == mtime
    with pytest.raises(RadioUNetError, match="another run"):
        write_tile_shards(tmp_path, small_config, 5, seed=4, tile_size=128, fields_per_shard=2, progress=False)
    for tiles in (dict(tile_size=64), dict(tile_size=128, stride=64)):
        with pytest.raises(RadioUNetError, match="tile size or stride"):
            write_tile_shards(tmp_path, small_config, 5, seed=3, fields_per_shard=2, progress=False, **tiles)


@pytest.fixture
def ctrl_c_raises():
    """Ctrl-C as in a terminal: a process started in the background by a shell inherits SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_a_run_of_jobs_even_where_python_would_drop_the_interrupt(ctrl_c_raises):
    class Shard:
        pass

    def interrupt_in_a_weakref_callback(_):
        # h5py's objects die this way: a KeyboardInterrupt raised in such a callback is printed and dropped.
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)

    done, references = [], []

    def job(k):
        if k == 1:
            shard = Shard()
            references.append(weakref.ref(shard, interrupt_in_a_weakref_callback))  # alive, so its callback runs
            del shard
        done.append(k)

    with pytest.raises(KeyboardInterrupt):
        run_jobs(job, [(k,) for k in range(4)], 1, total=4, done=0, unit="job", desc="jobs", progress=False)
    assert done == [0, 1]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_ctrl_c_stops_the_job_in_progress(ctrl_c_raises):
    done = []

    def job(k):
        if k == 1:
            for _ in range(2):
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(50):  # Python runs signal handlers between such steps, not inside a long sleep
                    time.sleep(0.001)
        done.append(k)

    with pytest.raises(KeyboardInterrupt):
        run_jobs(job, [(k,) for k in range(3)], 1, total=3, done=0, unit="job", desc="jobs", progress=False)
    assert done == [0]


def test_shard_dataset_items_and_split_by_field(shards):
    _, paths = shards
    dataset = TileShardDataset(paths)
    assert len(dataset) == 20
    item = dataset[5]
    assert item["image"].shape == (1, 128, 128) and item["image"].dtype == torch.float32
    assert item["mask"].shape == (1, 128, 128) and item["labels"].dtype == torch.int64
    assert torch.equal(item["mask"][0].bool(), (item["labels"] == 1) | (item["labels"] == 2))
    train = TileShardDataset(paths, fields={0, 1, 2})
    validation = TileShardDataset(paths, fields={3, 4})
    assert len(train) + len(validation) == len(dataset)
    assert {train[i]["field_index"] for i in range(len(train))} == {0, 1, 2}
    loader = torch.utils.data.DataLoader(validation, batch_size=4, num_workers=2)
    batches = list(loader)
    assert sum(len(b["image"]) for b in batches) == len(validation)


def test_corrupt_or_missing_shards_are_reported(shards, tmp_path):
    _, paths = shards
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(paths[0].read_bytes()[:2000])
    with pytest.raises(RadioUNetError, match="truncated.h5"):
        TileShardDataset([truncated])
    with pytest.raises(RadioUNetError, match="no such shard file"):
        TileShardDataset([tmp_path / "missing.h5"])


def test_synthetic_dataset_is_deterministic_per_index(small_config):
    dataset = SyntheticFieldDataset(small_config, length=6, seed=5, tile_size=96)
    first, again, other = dataset[4], dataset[4], dataset[3]
    assert torch.equal(first["image"], again["image"]) and torch.equal(first["mask"], again["mask"])
    assert not torch.equal(first["image"], other["image"])
    assert first["image"].shape == (1, 96, 96) and first["rms"] == pytest.approx(small_config.survey.rms_jy)
    with pytest.raises(IndexError):
        dataset[6]
    with pytest.raises(InvalidParameterError, match="tile_size"):
        SyntheticFieldDataset(small_config, length=6, tile_size=512)


def _relic_fields(size):
    return FieldConfig(get_survey("lotss-dr2-6"), shape=(size, size),
                       sky=SkyConfig(fraction_diffuse=1.0, fraction_radio_galaxies=0.0, halo_probability=0.0,
                                     relic_probability=1.0, radio_galaxies_mean=0.0))


def test_foreground_crops_hold_the_relic_anywhere_in_the_tile():
    relic = CLASS_NAMES.index("relic")
    uniform = SyntheticFieldDataset(_relic_fields(384), length=30, seed=8, tile_size=96)
    around = SyntheticFieldDataset(_relic_fields(384), length=30, seed=8, tile_size=96, foreground_crop_fraction=1.0)
    with_relic = [(uniform[i]["labels"] == relic).any().item() for i in range(30)]
    assert np.mean(with_relic) < 0.7
    centres = []
    for i in range(30):
        rows, cols = np.nonzero((around[i]["labels"] == relic).numpy())
        assert rows.size, f"tile {i} holds no relic pixel"
        centres.append((rows.mean(), cols.mean()))
    # Anywhere: relics centred in the middle half of the tile as well as near its edges.
    distance_from_middle = np.abs(np.array(centres) - 47.5).max(axis=1)
    assert (distance_from_middle < 24).sum() >= 3 and (distance_from_middle > 30).sum() >= 3


def _halo_offsets(dataset):
    """How far the halo's pixels lie from the middle of each tile (centroid, pixels, max over the axes)."""
    halo = CLASS_NAMES.index("halo")
    offsets = []
    for i in range(len(dataset)):
        rows, cols = np.nonzero((dataset[i]["labels"] == halo).numpy())
        if rows.size:
            offsets.append(max(abs(rows.mean() - 47.5), abs(cols.mean() - 47.5)))
    return np.array(offsets)


def test_foreground_crops_can_come_from_larger_fields_than_the_other_tiles():
    halo_fields = FieldConfig(get_survey("lotss-dr2-6"), shape=(96, 96),
                              sky=SkyConfig(fraction_diffuse=1.0, fraction_radio_galaxies=0.0, halo_probability=1.0,
                                            relic_probability=0.0, radio_galaxies_mean=0.0))
    # A 96-pixel field is the whole tile, centred on its cluster: the halo stays near the middle.
    centred = _halo_offsets(SyntheticFieldDataset(halo_fields, length=40, seed=3, tile_size=96))
    mixed = _halo_offsets(SyntheticFieldDataset(halo_fields, length=40, seed=3, tile_size=96,
                                                foreground_crop_fraction=0.5, foreground_field_size=384))
    # Crops of 384-pixel fields hold the halo anywhere, farther out than any centred field does.
    assert np.sum(mixed > centred.max() + 5) >= 4
    assert np.sum(mixed < 5) >= 10
    with pytest.raises(InvalidParameterError, match="foreground_field_size"):
        SyntheticFieldDataset(halo_fields, length=3, tile_size=96, foreground_field_size=384)
    with pytest.raises(InvalidParameterError, match="foreground_field_size"):
        SyntheticFieldDataset(halo_fields, length=3, tile_size=96, foreground_crop_fraction=0.5,
                              foreground_field_size=64)


def test_without_foreground_crops_the_tiles_are_those_of_earlier_versions(small_config):
    dataset = SyntheticFieldDataset(small_config, length=3, seed=5, tile_size=96)
    for index in range(3):
        rng = field_rng(5, index)
        field = simulate_field(small_config, rng)
        row, col = int(rng.integers(0, small_config.shape[0] - 95)), int(rng.integers(0, small_config.shape[1] - 95))
        np.testing.assert_array_equal(dataset[index]["image"][0].numpy(), field.image[row:row + 96, col:col + 96])
    with pytest.raises(InvalidParameterError, match="foreground_crop_fraction"):
        SyntheticFieldDataset(small_config, length=3, tile_size=96, foreground_crop_fraction=-0.1)


def test_finetuning_tiles_take_a_fill_as_blank(tmp_path):
    from astropy.io import fits

    from radiounet.data.fits_pairs import FitsPairTiles

    rng = np.random.default_rng(3)
    image = rng.normal(0, 1e-4, (256, 256)).astype(np.float32)
    image[:, :100] = -1.0  # outside the primary beam, written as a constant
    header = fits.Header({"CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN", "CRVAL1": 10.0, "CRVAL2": 50.0,
                          "CDELT1": -1.5 / 3600, "CDELT2": 1.5 / 3600, "CRPIX1": 128, "CRPIX2": 128})
    fits.PrimaryHDU(image, header).writeto(tmp_path / "image.fits")
    fits.PrimaryHDU(np.zeros_like(image), header).writeto(tmp_path / "mask.fits")
    tiles = FitsPairTiles([tmp_path / "image.fits"], [tmp_path / "mask.fits"], tiles_per_epoch=4, tile_size=192)
    pixels, _, rms, _ = tiles.pairs[0]
    # No signal to the network (NaN normalises to 0) and not in the noise, as NaN blanks are.
    assert np.isnan(pixels[:, :100]).all() and np.isfinite(pixels[:, 100:]).all()
    assert rms == pytest.approx(1e-4, rel=0.05)


def _job_of_a_run_stopped_by_ctrl_c(k, folder, presses):
    """A job of a worker process. The second job presses Ctrl-C ``presses`` times once the first has started, as a
    terminal does: to the parent and to every worker; the jobs in progress go on until then."""
    (folder / f"pid{k}").write_text(str(os.getpid()))
    if k == 1:
        while not (folder / "pid0").exists():
            time.sleep(0.01)
        for _ in range(presses):
            for pid in (os.getppid(), int((folder / "pid0").read_text()), os.getpid()):  # this one's may raise
                os.kill(pid, signal.SIGINT)
            for _ in range(25):  # Python runs signal handlers between such steps
                time.sleep(0.002)
        (folder / "pressed").touch()
    while not (folder / "pressed").exists():
        time.sleep(0.01)
    (folder / f"job{k}").touch()


@pytest.mark.parametrize("presses, finished", [(1, {0, 1}), (2, set())])
def test_ctrl_c_stops_a_run_of_workers_after_the_jobs_in_progress_and_twice_at_once(presses, finished,
                                                                                    ctrl_c_raises, tmp_path, capsys):
    jobs = [(k, tmp_path, presses) for k in range(8)]
    with pytest.raises(KeyboardInterrupt):
        run_jobs(_job_of_a_run_stopped_by_ctrl_c, jobs, 2, total=8, done=0, unit="job", desc="jobs", progress=False)
    assert {int(p.name[3:]) for p in tmp_path.glob("job*")} == finished  # and no job started after the press
    assert not list(tmp_path.glob("pid[2-7]"))
    assert "stopping after the jobs in progress" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
