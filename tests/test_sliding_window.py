"""Sliding-window inference: exact reassembly, border cropping, padding, batching, memory maps."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from radiounet.errors import InvalidParameterError
from radiounet.inference import sliding_window_inference
from radiounet.inference.sliding_window import aligned_tile_starts


def identity(batch):
    return batch


@settings(max_examples=60, deadline=None)
@given(ny=st.integers(1, 150), nx=st.integers(1, 150), tile=st.sampled_from([16, 32, 48]),
       crop_fraction=st.floats(0, 0.45), batch_size=st.integers(1, 7), blend=st.sampled_from(["crop", "gaussian"]))
def test_identity_model_returns_the_image_for_any_shape_and_overlap(ny, nx, tile, crop_fraction, batch_size, blend):
    image = np.random.default_rng(ny * 1000 + nx).normal(size=(ny, nx)).astype(np.float32)
    crop = int(crop_fraction * tile)
    out = sliding_window_inference(image, identity, tile=tile, crop=crop, batch_size=batch_size, blend=blend)
    assert out.shape == (1, ny, nx)
    if blend == "crop":
        np.testing.assert_array_equal(out[0], image)
    else:
        np.testing.assert_allclose(out[0], image, rtol=1e-5, atol=1e-6)


@settings(max_examples=80, deadline=None)
@given(length=st.integers(1, 3000), tile=st.sampled_from([64, 192, 304, 1072]), crop_fraction=st.floats(0, 0.4),
       align=st.sampled_from([1, 8, 16, 32]))
def test_aligned_tile_starts_are_multiples_whose_kept_parts_cover_the_axis(length, tile, crop_fraction, align):
    crop = int(crop_fraction * tile)
    stride = tile - 2 * crop
    starts = aligned_tile_starts(length, tile, stride, align)
    assert starts[0] == 0 and np.all(starts % align == 0)
    assert starts[-1] + tile >= length and starts[-1] + tile - length < align + max(tile - length, 0)
    assert np.all(np.diff(starts) <= max(stride // align, 1) * align) and np.all(np.diff(starts) > 0)


@settings(max_examples=40, deadline=None)
@given(ny=st.integers(1, 150), nx=st.integers(1, 150), align=st.sampled_from([2, 8, 16]), crop=st.integers(0, 8))
def test_aligned_tiles_still_return_the_image(ny, nx, align, crop):
    image = np.random.default_rng(ny * 1000 + nx).normal(size=(ny, nx)).astype(np.float32)
    out = sliding_window_inference(image, identity, tile=48, crop=crop, batch_size=3, align=align)
    np.testing.assert_array_equal(out[0], image)


def test_tile_borders_are_cropped_except_on_the_image_edge():
    crop, tile = 12, 64

    def border_artefact(batch):
        out = torch.zeros_like(batch)
        out[..., :crop, :] = out[..., -crop:, :] = 100.0
        out[..., :, :crop] = out[..., :, -crop:] = 100.0
        return out

    out = sliding_window_inference(np.zeros((300, 250), np.float32), border_artefact, tile=tile, crop=crop)[0]
    assert np.all(out[crop:-crop, crop:-crop] == 0)  # no seam inside the image
    assert np.all(out[:crop, crop:-crop] == 100) and np.all(out[crop:-crop, -crop:] == 100)  # edges kept


def test_several_output_channels_and_a_memory_mapped_output(tmp_path):
    image = np.random.default_rng(1).normal(size=(130, 90)).astype(np.float32)
    out = np.lib.format.open_memmap(tmp_path / "out.npy", mode="w+", dtype=np.float32, shape=(2, 130, 90))
    sliding_window_inference(image, lambda b: torch.cat([b, -b], dim=1), tile=32, crop=8, channels=2, out=out)
    out.flush()
    again = np.load(tmp_path / "out.npy")
    np.testing.assert_array_equal(again[0], image)
    np.testing.assert_array_equal(again[1], -image)


def test_the_predictor_sees_batches_of_full_tiles():
    shapes = []

    def record(batch):
        shapes.append(tuple(batch.shape))
        return batch

    sliding_window_inference(np.zeros((100, 100), np.float32), record, tile=32, crop=8, batch_size=4)
    assert all(s[1:] == (1, 32, 32) and s[0] <= 4 for s in shapes)
    assert sum(s[0] for s in shapes) == 36  # starts 0, 14, ..., 68 on each axis: 6 x 6 tiles


@pytest.mark.parametrize("kwargs", [dict(crop=16, tile=32), dict(crop=-1), dict(blend="median"),
                                    dict(batch_size=0)])
def test_bad_settings_are_named(kwargs):
    with pytest.raises(InvalidParameterError):
        sliding_window_inference(np.zeros((40, 40), np.float32), identity, **kwargs)


def test_the_progress_bar_counts_megapixels_of_the_image(capsys):
    image = np.zeros((1000, 1200), np.float32)
    sliding_window_inference(image, identity, tile=256, crop=8, progress=True)
    err = capsys.readouterr().err
    assert "1.20M/1.20M" in err and "Mpix/s" in err
