"""Each sky component: where it is, its shape, its brightness and its flux bookkeeping."""

import astropy.units as u
import numpy as np
import pytest

from radiounet.sky import Cluster, SkyConfig
from radiounet.sky.compact import draw_compact_sources, render_compact_sources
from radiounet.sky.halo import draw_halo, render_halo
from radiounet.sky.radio_galaxy import RADIO_GALAXY_SUBTYPES, draw_radio_galaxy, render_radio_galaxy
from radiounet.sky.relic import draw_relics, render_relic

SHAPE = (512, 512)


@pytest.fixture
def cluster(lotss):
    return Cluster(z=0.2, m500=6e14 * u.Msun, x=255.5, y=255.5, pixel_arcsec=lotss.pixel_arcsec)


def _moments(image):
    yy, xx = np.indices(image.shape)
    total = image.sum()
    x0, y0 = (image * xx).sum() / total, (image * yy).sum() / total
    cov = np.cov(np.vstack([(xx - x0).ravel(), (yy - y0).ravel()]), aweights=image.ravel())
    evals, evecs = np.linalg.eigh(cov)
    return x0, y0, evals, evecs[:, 1]


def test_halo_is_centred_roundish_and_has_the_drawn_brightness(lotss, cluster):
    config = SkyConfig(halo_snr=(5.0, 5.0))
    rng = np.random.default_rng(1)
    for _ in range(5):
        halo = draw_halo(rng, cluster, lotss, config)
        r500_pix = cluster.r500.to_value(u.kpc) / cluster.kpc_per_pixel
        assert np.hypot(halo.x - cluster.x, halo.y - cluster.y) < 0.25 * r500_pix
        assert 50 <= halo.params["re_kpc"] <= 300
        sky = np.zeros(SHAPE, np.float32)
        render_halo(halo, sky, lotss)
        assert halo.flux == pytest.approx(sky.sum(), rel=1e-5)
        x0, y0, evals, _ = _moments(sky)
        assert np.hypot(x0 - halo.x, y0 - halo.y) < halo.params["re_pix"]
        assert np.sqrt(evals[0] / evals[1]) > 0.4  # roundish
        # Peak x beam area = drawn brightness in rms units; the turbulence has mean one, so the
        # flux is close to that of the smooth exponential, 2 pi q re^2 I0.
        peak = 5.0 * lotss.rms_jy / lotss.beam_area_pixels
        smooth_flux = 2 * np.pi * halo.params["axis_ratio"] * halo.params["re_pix"] ** 2 * peak
        assert halo.flux == pytest.approx(smooth_flux, rel=0.35)


def test_relic_is_an_arc_tangential_to_the_cluster_at_its_drawn_distance(lotss, cluster):
    config = SkyConfig(relic_pair_probability=0.0, relic_distance_kpc=(600, 700), relic_length_kpc=(800, 900))
    rng = np.random.default_rng(2)
    for _ in range(4):
        (relic,) = draw_relics(rng, cluster, lotss, config, SHAPE)
        sky = np.zeros(SHAPE, np.float32)
        render_relic(relic, sky, lotss)
        assert relic.flux == pytest.approx(sky.sum(), rel=1e-5)
        distance_kpc = np.hypot(relic.x - cluster.x, relic.y - cluster.y) * cluster.kpc_per_pixel
        assert 600 <= distance_kpc <= 700
        x0, y0, evals, major = _moments(sky)
        radial = np.array([x0 - cluster.x, y0 - cluster.y])
        radial /= np.linalg.norm(radial)
        assert np.sqrt(evals[1] / evals[0]) > 2.5  # elongated
        assert abs(major @ radial) < 0.35  # long axis perpendicular to the radius


def test_relic_outer_edge_is_sharper_than_the_inner_one(lotss, cluster):
    config = SkyConfig(relic_pair_probability=0.0, relic_distance_kpc=(600, 600), relic_width_kpc=(200, 200))
    (relic,) = draw_relics(np.random.default_rng(5), cluster, lotss, config, SHAPE)
    relic.params["filament_sigma"] = 0.0
    sky = np.zeros(SHAPE, np.float32)
    render_relic(relic, sky, lotss)
    # Sample the profile along the radius through the relic centre.
    direction = np.array([relic.x - cluster.x, relic.y - cluster.y])
    direction /= np.linalg.norm(direction)
    steps = np.arange(-60, 61)
    points = np.array([relic.x, relic.y])[:, None] + direction[:, None] * steps
    profile = sky[np.round(points[1]).astype(int), np.round(points[0]).astype(int)]
    peak = profile.argmax()
    half = profile[peak] / 2
    outer_width = np.argmax(profile[peak:] < half)
    inner_width = np.argmax(profile[peak::-1] < half)
    assert outer_width < inner_width


def test_relic_pairs_sit_on_opposite_sides(lotss, cluster):
    config = SkyConfig(relic_pair_probability=1.0, relic_distance_kpc=(500, 600))
    first, second = draw_relics(np.random.default_rng(3), cluster, lotss, config, SHAPE)
    a = np.array([first.x - cluster.x, first.y - cluster.y])
    b = np.array([second.x - cluster.x, second.y - cluster.y])
    assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) < -0.7


def test_compact_source_counts_follow_the_power_law(lotss):
    config = SkyConfig(compact_count_slope=2.0)
    sources = draw_compact_sources(np.random.default_rng(4), lotss, config, (2000, 2000))
    area_deg2 = (2000 * 1.5 / 3600) ** 2
    s_min = 0.5 * lotss.rms_jy
    expected = 800 * (s_min / 0.4e-3) ** (1 - 2.0) * area_deg2
    assert len(sources) == pytest.approx(expected, rel=0.05)
    assert sources.flux.min() >= s_min
    # Maximum-likelihood slope of a power law above s_min.
    slope = 1 + len(sources) / np.sum(np.log(sources.flux / s_min))
    assert slope == pytest.approx(2.0, abs=0.05)
    resolved = sources.fwhm_major > 0
    assert 0.05 < resolved.mean() < 0.15
    sky = np.zeros((2000, 2000), np.float32)
    render_compact_sources(sources, sky)
    inside = (sources.x > 20) & (sources.x < 1980) & (sources.y > 20) & (sources.y < 1980)
    # Flux is conserved, except what falls off the image edges.
    assert sources.flux[inside].sum() <= sky.sum() <= sources.flux.sum() * (1 + 1e-5)


@pytest.mark.parametrize("subtype", RADIO_GALAXY_SUBTYPES)
def test_each_radio_galaxy_morphology_renders_with_its_size(lotss, cluster, subtype):
    config = SkyConfig(radio_galaxy_subtypes=(subtype,), radio_galaxy_size_kpc=(300, 400))
    galaxy = draw_radio_galaxy(np.random.default_rng(6), cluster, lotss, config, SHAPE, near_centre=True)
    assert galaxy.subtype == subtype
    sky = np.zeros(SHAPE, np.float32)
    render_radio_galaxy(galaxy, sky, lotss)
    assert galaxy.flux == pytest.approx(sky.sum(), rel=1e-4)
    assert 0.5 * 300 < galaxy.size_kpc < 1.5 * 400
    # The core is where the host is.
    assert sky[int(round(galaxy.y)), int(round(galaxy.x))] > np.percentile(sky[sky > 0], 99)


def test_tailed_radio_galaxies_trail_behind_the_host(lotss, cluster):
    config = SkyConfig(radio_galaxy_subtypes=("head-tail",), radio_galaxy_size_kpc=(400, 400))
    galaxy = draw_radio_galaxy(np.random.default_rng(7), cluster, lotss, config, SHAPE, near_centre=True)
    sky = np.zeros(SHAPE, np.float32)
    render_radio_galaxy(galaxy, sky, lotss)
    sky[int(round(galaxy.y)), int(round(galaxy.x))] = 0  # ignore the core
    x0, y0, _, _ = _moments(sky)
    tail = np.radians(galaxy.params["tail_pa_deg"])
    offset = np.array([x0 - galaxy.x, y0 - galaxy.y])
    assert offset @ np.array([-np.sin(tail), np.cos(tail)]) > 0.8 * np.linalg.norm(offset)


def test_fr2_hot_spots_are_at_the_ends_of_the_lobes(lotss, cluster):
    config = SkyConfig(radio_galaxy_subtypes=("FRII",), radio_galaxy_size_kpc=(400, 400))
    galaxy = draw_radio_galaxy(np.random.default_rng(8), cluster, lotss, config, SHAPE)
    sky = np.zeros(SHAPE, np.float32)
    render_radio_galaxy(galaxy, sky, lotss)
    sky[int(round(galaxy.y)) - 1:int(round(galaxy.y)) + 2, int(round(galaxy.x)) - 1:int(round(galaxy.x)) + 2] = 0
    brightest = np.unravel_index(np.argmax(sky), sky.shape)
    distance = np.hypot(brightest[1] - galaxy.x, brightest[0] - galaxy.y)
    assert distance > 0.9 * galaxy.params["lateral_pix"]
