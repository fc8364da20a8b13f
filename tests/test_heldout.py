"""The held-out sky generator: each component's shape, position and brightness, its noise, and that training
never sees it."""

import ast
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage

from radiounet.errors import InvalidParameterError
from radiounet.sky import field_rng, get_survey
from radiounet.sky.heldout import (HALO_SUBTYPES, RADIO_GALAXY_SUBTYPES, RELIC_SUBTYPES, HeldOutConfig,
                                   _anisotropic_noise, _sidelobes, render_heldout_sky,
                                   simulate_heldout_field)
from radiounet.sky.labels import CLASS_LAYERS, CLASS_NAMES
from radiounet.sky.observe import convolve_with_beam

SOURCE = Path(__file__).resolve().parents[1] / "src" / "radiounet"


@pytest.fixture(scope="module")
def config():
    """LoTSS 20" fields of 256 pixels, nearby clusters so that components are resolved, no radio galaxies."""
    return HeldOutConfig(get_survey("lotss-dr2-20"), shape=(256, 256), redshift=(0.1, 0.2), radio_galaxies_mean=0.0)


def _moments_axis_ratio(weights):
    rows, cols = np.indices(weights.shape)
    total = weights.sum()
    my, mx = (weights * rows).sum() / total, (weights * cols).sum() / total
    cov = np.cov(np.stack([(cols - mx).ravel(), (rows - my).ravel()]), aweights=weights.ravel())
    low, high = np.linalg.eigvalsh(cov)
    return np.sqrt(high / low), (mx, my)


def _layer(layers, kind):
    return layers[CLASS_LAYERS.index(kind)]


@pytest.mark.parametrize("subtype", HALO_SUBTYPES)
def test_halos_sit_on_the_cluster_at_their_drawn_brightness(config, subtype):
    halo_only = replace(config, halo_subtypes=(subtype,), diffuse_mix=(1, 0, 0))
    for index in range(3):
        cluster, layers, components, _ = render_heldout_sky(halo_only, field_rng(4, index))
        (halo,) = components
        assert halo.kind == "halo" and halo.subtype == subtype
        convolved = convolve_with_beam(layers, halo_only.survey)
        peak = _layer(convolved, "halo").max() / halo_only.survey.rms_jy
        assert peak == pytest.approx(halo.surface_brightness_snr, rel=1e-3)
        offset_kpc = np.hypot(halo.x - cluster.x, halo.y - cluster.y) * cluster.kpc_per_pixel
        assert offset_kpc <= 0.2 * np.sqrt(2) * cluster.r500.to_value("kpc") + 1
        ratio, _ = _moments_axis_ratio(_layer(layers, "halo"))
        if subtype == "merger":
            assert ratio > 1.4
        else:
            assert ratio < 1.8
        assert _layer(layers, "relic").max() == 0 and _layer(layers, "radio_galaxy").max() == 0
        if subtype == "mini-halo":
            # The bright central galaxy is a compact source on the halo's centre, at least 50 times the rms.
            compact = _layer(convolved, "compact")
            assert compact[round(halo.y), round(halo.x)] >= 45 * halo_only.survey.rms_jy
            assert halo.params["scale_kpc"] <= 80


def test_beta_halos_have_wider_wings_than_exponential_ones(config):
    def spread(subtype):
        """Median over fields of the number of pixels holding 90% of the light over those holding 50%."""
        ratios = []
        for index in range(6):
            _, layers, _, _ = render_heldout_sky(replace(config, halo_subtypes=(subtype,), diffuse_mix=(1, 0, 0)),
                                                 field_rng(9, index))
            light = np.sort(_layer(layers, "halo").ravel())[::-1].cumsum()
            ratios.append(np.searchsorted(light, 0.9 * light[-1]) / np.searchsorted(light, 0.5 * light[-1]))
        return np.median(ratios)

    assert spread("beta") > 1.2 * spread("mini-halo")


@pytest.mark.parametrize("subtype", RELIC_SUBTYPES)
def test_relics_are_elongated_outskirts_ridges_at_their_drawn_brightness(config, subtype):
    relic_only = replace(config, relic_subtypes=(subtype,), diffuse_mix=(0, 1, 0))
    beam = relic_only.survey.beam_fwhm_pixels
    for index in range(3):
        cluster, layers, components, _ = render_heldout_sky(relic_only, field_rng(5, index))
        assert {c.kind for c in components} == {"relic"}
        assert len(components) == (2 if subtype == "double" else 1)
        convolved = _layer(convolve_with_beam(layers, relic_only.survey), "relic") / relic_only.survey.rms_jy
        assert convolved.max() == pytest.approx(max(c.surface_brightness_snr for c in components), rel=0.05)
        for relic in components:
            distance = np.hypot(relic.x - cluster.x, relic.y - cluster.y)
            assert distance >= 2 * beam - 1e-6
            assert distance * cluster.kpc_per_pixel <= 3000 + 1
            assert relic.params["distance_kpc"] == pytest.approx(distance * cluster.kpc_per_pixel)
        if subtype != "double":
            (relic,) = components
            ratio, (mx, my) = _moments_axis_ratio(_layer(layers, "relic"))
            assert ratio > 2.0
            assert np.hypot(mx - relic.x, my - relic.y) < 0.3 * relic.params["length_pix"] + 1
        if subtype == "thin":
            assert all(0.7 * beam <= c.params["width_pix"] <= 1.5 * beam for c in components)
        if subtype == "double":
            first, second = components
            angles = [np.arctan2(c.y - cluster.y, c.x - cluster.x) for c in components]
            assert abs(np.cos(angles[0] - angles[1]) + 1) < 0.6  # on opposite sides
            assert first.params["pair"] and second.params["pair"]


def test_relics_reach_a_hundred_times_the_noise():
    bright = HeldOutConfig(get_survey("lotss-dr2-6"), shape=(128, 128), relic_snr=(100.0, 100.0),
                           diffuse_mix=(0, 1, 0), radio_galaxies_mean=0.0)
    field = simulate_heldout_field(bright, field_rng(2, 0))
    assert field.mask.any() and (field.labels == CLASS_NAMES.index("relic")).sum() == field.mask.sum()


@pytest.mark.parametrize("subtype", RADIO_GALAXY_SUBTYPES)
def test_radio_galaxies_are_labelled_radio_galaxy_never_diffuse(config, subtype):
    galaxies = replace(config, radio_galaxy_subtypes=(subtype,))
    for index in range(3):
        field = simulate_heldout_field(galaxies, field_rng(6, index), "radio_galaxies")
        assert not field.mask.any()
        assert {c.subtype for c in field.components} == {subtype}
        assert (field.labels == CLASS_NAMES.index("radio_galaxy")).any()
        _, layers, components, _ = render_heldout_sky(galaxies, field_rng(6, index), "radio_galaxies")
        if subtype == "relaxed-lobes":
            # No hot spot: the brightest pixel of the lobes is barely brighter than their mean over the top half.
            sky = _layer(layers, "radio_galaxy")
            lobes = sky[sky > 0.5 * sky.max()]
            if components[0].params["core_snr"] == 0:
                assert sky.max() < 1.6 * lobes.mean()


def test_noise_has_the_survey_rms_and_an_elongated_correlation():
    survey = get_survey("lotss-dr2-6")
    quiet = HeldOutConfig(survey, shape=(384, 384), diffuse_mix=(1, 0, 0), halo_snr=(0.01, 0.01),
                          radio_galaxies_mean=0.0)
    field = simulate_heldout_field(quiet, field_rng(8, 1))
    patch = field.image[np.abs(field.image) < 5 * survey.rms_jy]
    # The survey's rms, plus stripes of at most half of it.
    assert 0.95 < patch.std() / survey.rms_jy < 1.2
    noise = _anisotropic_noise(np.random.default_rng(3), survey, (384, 384))
    assert noise.std() == pytest.approx(survey.rms_jy, rel=1e-3)
    # Beyond the beam's scale the elongated correlation leaves more power across it than along it.
    spectrum = np.abs(np.fft.fft2(noise)) ** 2
    ky, kx = np.meshgrid(np.fft.fftfreq(384), np.fft.fftfreq(384), indexing="ij")
    ring = (np.hypot(kx, ky) > 0.1) & (np.hypot(kx, ky) < 0.2)
    angle, power = np.arctan2(ky, kx)[ring], spectrum[ring]
    by_direction = [power[np.abs(np.angle(np.exp(2j * (angle - a)))) < np.pi / 8].mean()
                    for a in np.linspace(0, np.pi, 8, endpoint=False)]
    assert max(by_direction) / min(by_direction) > 1.5


def test_bright_sources_get_sidelobe_rings():
    survey = get_survey("lotss-dr2-6")
    quiet = HeldOutConfig(survey, shape=(256, 256), diffuse_mix=(1, 0, 0), halo_snr=(0.01, 0.01),
                          radio_galaxies_mean=0.0)
    for index in range(20):
        cluster, layers, _, _ = render_heldout_sky(quiet, field_rng(12, index))
        compact = _layer(convolve_with_beam(layers, survey), "compact")
        if compact.max() > 1000 * survey.rms_jy:
            break
    else:
        pytest.skip("no source above 1000 rms in 20 fields")
    field = simulate_heldout_field(quiet, field_rng(12, index))
    y, x = np.unravel_index(np.argmax(compact), compact.shape)
    rows, cols = np.indices(compact.shape)
    ring = (np.hypot(cols - x, rows - y) > 2 * survey.beam_fwhm_pixels) & (np.hypot(cols - x, rows - y) < 30)
    residual = field.image - compact
    # Around the bright source the image varies far more than the noise (the rings), and both signs occur.
    assert np.abs(residual[ring]).max() > 5 * survey.rms_jy


def test_bad_held_out_settings_are_refused():
    survey = get_survey("lotss-dr2-6")
    with pytest.raises(InvalidParameterError, match="relic_subtypes"):
        HeldOutConfig(survey, relic_subtypes=("arc",))
    with pytest.raises(InvalidParameterError, match="diffuse_mix"):
        HeldOutConfig(survey, diffuse_mix=(0, 0, 0))
    with pytest.raises(InvalidParameterError, match="field_type"):
        simulate_heldout_field(HeldOutConfig(survey, shape=(64, 64)), field_rng(0, 0), "empty")


def test_training_never_imports_the_held_out_generator():
    code = ("import sys, radiounet.train.loop, radiounet.train.data, radiounet.data.datasets, "
            "radiounet.data.shards, radiounet.sky.batch, radiounet.cli; "
            "sys.exit('radiounet.sky.heldout' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    importers = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name.endswith("heldout") for name in names):
                importers.add(path.relative_to(SOURCE).as_posix())
    assert importers == {"evaluate/benchmark.py"}


def test_a_halo_much_smaller_than_its_clumps_stays_finite():
    # A mini-halo at z = 0.9 seen with a 60" beam spans a few pixels; its clump scale is the beam.
    tiny = HeldOutConfig(get_survey("lotss-dr2-60"), shape=(64, 64), redshift=(0.9, 0.9), halo_subtypes=("mini-halo",),
                         diffuse_mix=(1, 0, 0), radio_galaxies_mean=0.0)
    for index in range(20):
        assert np.isfinite(simulate_heldout_field(tiny, field_rng(1, index)).image).all()


def test_sidelobes_ring_distinct_sources_once_each():
    survey = get_survey("lotss-dr2-6")
    sources = (((60, 60), 2000), ((340, 340), 1000), ((60, 340), 800), ((340, 60), 10))
    compact = np.zeros((400, 400), dtype=np.float32)
    for (y, x), snr in sources:
        compact[y, x] = snr * survey.rms_jy
    compact = scipy.ndimage.gaussian_filter(compact, 1.7) * (2 * np.pi * 1.7**2)  # a beam-wide source each
    artefacts = _sidelobes(np.random.default_rng(0), survey, compact)

    def ring(y, x):
        return np.abs(artefacts[y - 40:y + 41, x - 40:x + 41]).max()

    # Each source above 50 rms gets one pattern of 0.1-0.5% of its peak (the 1.6 is the spokes' crest);
    # the faint one none.
    for (y, x), snr in sources[:3]:
        assert 0.0005 * snr * survey.rms_jy < ring(y, x) < 0.005 * 1.6 * snr * survey.rms_jy
    assert ring(340, 60) == 0
