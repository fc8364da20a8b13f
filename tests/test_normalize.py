import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation

from radiounet.data.normalize import blank_fill, blank_rows, estimate_rms, fill_mask, fill_value, normalize
from radiounet.errors import RadioUNetError


def test_normalisation_does_not_depend_on_the_flux_scale():
    rng = np.random.default_rng(0)
    image = rng.normal(0, 1e-4, (64, 64)).astype(np.float32)
    image[10, 10] = 0.5
    a = normalize(image, 1e-4)
    b = normalize(image * 1000, 1e-1)
    assert np.allclose(a, b, atol=1e-5)
    assert a[10, 10] == pytest.approx(np.arcsinh(5000), rel=1e-5)


def test_near_noise_range_is_almost_linear_and_bright_sources_are_compressed():
    assert normalize(np.array([0.5e-4]), 1e-4)[0] == pytest.approx(0.5, rel=0.05)
    assert normalize(np.array([1.0]), 1e-4)[0] < 10


def test_nan_and_inf_pixels_become_zero_and_do_not_spread():
    image = np.ones((4, 4), np.float32)
    image[1, 2] = np.nan
    image[0, 0] = np.inf
    out = normalize(image, 1.0)
    assert out[1, 2] == 0 and out[0, 0] == 0 and out[3, 3] == pytest.approx(np.arcsinh(1))
    tensor = normalize(torch.from_numpy(image), 1.0)
    assert torch.isfinite(tensor).all() and np.allclose(tensor.numpy(), out)


def test_rms_estimate_ignores_sources_and_blanks():
    rng = np.random.default_rng(1)
    image = rng.normal(0, 2e-4, (256, 256))
    image[100:120, 100:120] += 0.05  # a bright source
    image[:, :30] = np.nan  # a blanked mosaic edge
    assert estimate_rms(image) == pytest.approx(2e-4, rel=0.05)


@pytest.mark.parametrize("fill", [0.0, 3.2e-7, -1.0])
def test_pixels_blanked_as_a_constant_are_left_out_of_the_noise(fill):
    from radiounet.inference.noise import rms_mesh

    rng = np.random.default_rng(2)
    image = rng.normal(0, 2e-4, (512, 512)).astype(np.float32)
    image[:, :330] = fill  # outside the primary beam, written as a constant instead of NaN
    assert fill_value(image) == pytest.approx(fill, rel=1e-6)
    assert estimate_rms(image) == pytest.approx(2e-4, rel=0.05)
    # Every box holding noise measures it, however much of it is fill; boxes of fill only take the others'.
    np.testing.assert_allclose(rms_mesh(image, 128), 2e-4, rtol=0.1)
    np.testing.assert_allclose(rms_mesh(image[:, ::-1], 128), 2e-4, rtol=0.1)


def test_noise_and_quantised_noise_have_no_fill_value():
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 1e-4, (300, 300)).astype(np.float32)
    assert fill_value(noise) is None
    # A scaled-integer image repeats its levels, the central ones about equally often.
    assert fill_value(np.round(noise / 2e-5) * 2e-5) is None
    noise[:3, :3] = 0.0  # a few zeros are no fill
    assert fill_value(noise) is None


def test_noise_pixels_that_equal_the_fill_value_still_count():
    from radiounet.inference.noise import rms_mesh

    # A scaled-integer image (steps of 0.4 sigma) blanked as 0 over half of it: 0 is also its commonest noise
    # level, and those pixels are noise, not fill.
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 1e-4, (512, 512)).astype(np.float32)
    image = np.round(noise / 4e-5).astype(np.float32) * np.float32(4e-5)
    truth = estimate_rms(image[:, 256:])
    image[:, :256] = 0.0
    assert fill_value(image) == 0.0
    assert estimate_rms(image) == pytest.approx(truth, rel=0.02)
    np.testing.assert_allclose(rms_mesh(image, 128)[:, 2:], truth, rtol=0.05)


def test_the_fill_mask_covers_the_blanked_area_and_not_the_noise():
    rng = np.random.default_rng(6)
    image = np.round(rng.normal(0, 1e-4, (120, 90)) / 4e-5).astype(np.float32) * np.float32(4e-5)
    blanked = np.zeros(image.shape, dtype=bool)
    blanked[:, :30] = True  # along the image's edge
    blanked[50:70, 60:75] = True  # a blanked patch inside
    image[blanked] = 0.0
    mask = fill_mask(image, 0.0)
    assert mask[blanked].all()
    # Beside it only noise pixels of 0 that complete a 3x3 patch of 0 with the area (none can tell them apart);
    # none of the thousands of other 0s of the noise.
    extra = mask & ~blanked
    assert (image[extra] == 0).all() and binary_dilation(blanked, np.ones((3, 3), bool))[extra].all()
    assert (image[~blanked] == 0).sum() > 1000
    assert not fill_mask(image, None).any()
    # Read band by band, as a mosaic is, the same mask for any band height; NaN is blank too.
    image[100:, 80:] = np.nan
    whole = mask | np.isnan(image)
    for band in range(1, 26):
        bands = np.concatenate([blank_rows(image, start, start + band, 0.0) for start in range(0, 120, band)])
        np.testing.assert_array_equal(bands, whole, err_msg=f"bands of {band} rows")
    # In memory, the fill becomes NaN in a copy.
    blanked = blank_fill(image)
    np.testing.assert_array_equal(np.isnan(blanked), whole)
    assert not np.isnan(image[mask]).any()


def test_rms_of_blank_or_constant_images_is_an_error():
    with pytest.raises(RadioUNetError, match="no finite pixels"):
        estimate_rms(np.full((8, 8), np.nan))
    with pytest.raises(RadioUNetError, match="constant"):
        estimate_rms(np.zeros((8, 8)))
    from radiounet.inference.noise import rms_mesh

    with pytest.raises(RadioUNetError, match="constant"):
        rms_mesh(np.full((300, 300), 3.0, np.float32), 128)
    with pytest.raises(RadioUNetError, match="blank"):
        rms_mesh(np.full((300, 300), np.nan, np.float32), 128)


def test_the_normalised_view_interpolates_the_noise_mesh_bilinearly_between_box_centres():
    from scipy.ndimage import map_coordinates

    from radiounet.inference.noise import NormalisedImage, rms_mesh

    image = np.random.default_rng(3).normal(0, 1e-4, (300, 500)).astype(np.float32)
    image[10:20, 30:40] = np.nan
    image *= np.linspace(0.5, 2, 500, dtype=np.float32)  # noise rising across the image: the mesh varies
    mesh = rms_mesh(image, 96)
    view = NormalisedImage(image, mesh, 96)
    # Reference: scipy's bilinear interpolation of the mesh at every pixel, box centres at (k + 0.5) * 96.
    rows, cols = np.meshgrid((np.arange(40, 250) + 0.5) / 96 - 0.5, (np.arange(500) + 0.5) / 96 - 0.5, indexing="ij")
    rms = map_coordinates(mesh, [rows, cols], order=1, mode="nearest")
    np.testing.assert_allclose(view.rows_on(40, 250, "cpu").numpy(), normalize(image[40:250], rms), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_array_equal(view[40:250, 7:90], view.rows_on(40, 250, "cpu").numpy()[:, 7:90])
    scalar = NormalisedImage(image, 1e-4)
    np.testing.assert_allclose(scalar[0:300, :], normalize(image, 1e-4), rtol=1e-6, atol=1e-6)
