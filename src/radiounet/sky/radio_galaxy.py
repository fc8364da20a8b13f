"""Extended radio galaxies: the hard negatives that must never enter the diffuse-emission mask.

Morphologies (``subtype``):

``FRI``
    Twin straight jets, bright near the core and fading and widening outwards.
``WAT``
    Wide-angle tail: the jets leave the core in opposite directions and bend
    back towards a common tail direction (a C or U shape).
``head-tail``
    Narrow-angle tail: the jets bend back at once and merge into one long
    tail behind the host, which moves through the cluster gas.
``FRII``
    Two lobes ending in compact, bright hot spots, joined to the core by
    faint jets.
``remnant``
    Two wide, faint lobes of a galaxy whose jets have switched off: no jets,
    no hot spots, no core (not in the default subtypes).

A core may also be absent in the others (``SkyConfig.radio_galaxy_core_absent_probability``).

Each jet is a path ``p(t) = core + lateral t d + trail t^2 b``, t in [0, 1],
with ``d`` the jet direction and ``b`` the tail direction, drawn as a chain of
elliptical Gaussians whose width grows and whose surface brightness falls
along the path. Radio galaxies are placed at the cluster's redshift, so
their sizes in kpc use the cluster's scale.
"""

import numpy as np

from radiounet.sky.cluster import Component, log_uniform
from radiounet.sky.render import add_gaussian, add_point_sources

__all__ = ["RADIO_GALAXY_SUBTYPES", "ALL_RADIO_GALAXY_SUBTYPES", "draw_radio_galaxy", "render_radio_galaxy"]

RADIO_GALAXY_SUBTYPES = ("FRI", "WAT", "head-tail", "FRII")
#: Every subtype the simulator draws: the defaults and the remnant lobes.
ALL_RADIO_GALAXY_SUBTYPES = RADIO_GALAXY_SUBTYPES + ("remnant",)
_SIGMA_PER_FWHM = 1.0 / np.sqrt(8.0 * np.log(2.0))
_MAX_EXTENT_POINTS = 400


def _pixel_direction(pa_deg):
    pa = np.radians(pa_deg)
    return np.array([-np.sin(pa), np.cos(pa)])


def draw_radio_galaxy(rng, cluster, survey, config, shape, near_centre=False):
    """Draw one radio galaxy.

    Distributions: subtype uniform over ``config.radio_galaxy_subtypes``;
    largest linear size log-uniform in ``config.radio_galaxy_size_kpc``; jet
    axis and tail direction uniform; core peak log-uniform in
    ``config.radio_galaxy_core_snr`` times the rms; surface brightness of the
    jets (near the core) or lobes log-uniform in ``config.radio_galaxy_snr``
    times the rms. With ``near_centre`` the host sits within ~0.1 R500 of the
    cluster centre (a central radio galaxy, the classic confuser of halo
    searches); otherwise anywhere in the field.
    """
    subtype = str(rng.choice(config.radio_galaxy_subtypes))
    size_kpc = log_uniform(rng, *config.radio_galaxy_size_kpc)
    size_pix = size_kpc / cluster.kpc_per_pixel
    ny, nx = shape
    if near_centre:
        offset = rng.normal(0.0, 0.1 * cluster.r500.to_value("kpc") / cluster.kpc_per_pixel, size=2)
        x, y = cluster.x + offset[0], cluster.y + offset[1]
    else:
        x, y = rng.uniform(0.05 * nx, 0.95 * nx), rng.uniform(0.05 * ny, 0.95 * ny)
    beam_sigma = survey.beam_fwhm_pixels * _SIGMA_PER_FWHM
    if subtype == "FRI":
        lateral, trail = 0.5 * size_pix, 0.0
    elif subtype == "WAT":
        lateral, trail = 0.5 * size_pix * rng.uniform(0.4, 0.8), 0.5 * size_pix * rng.uniform(0.5, 1.0)
    elif subtype == "head-tail":
        lateral, trail = size_pix * rng.uniform(0.03, 0.1), size_pix
    else:
        lateral, trail = 0.5 * size_pix, 0.0
    component = Component(
        kind="radio_galaxy",
        subtype=subtype,
        x=float(x),
        y=float(y),
        flux=np.nan,
        size_kpc=np.nan,
        surface_brightness_snr=log_uniform(rng, *config.radio_galaxy_snr),
        pa_deg=float(rng.uniform(0, 180)),
        params=dict(
            lateral_pix=float(lateral),
            trail_pix=float(trail),
            tail_pa_deg=float(rng.uniform(0, 360)),
            start_sigma_pix=float(max(0.3 * beam_sigma, 0.5)),
            end_width_fraction=float(rng.uniform(0.08, 0.2)),
            lobe_width_fraction=float(rng.uniform(0.15, 0.35)),
            core_snr=log_uniform(rng, *config.radio_galaxy_core_snr),
            hotspot_snr=log_uniform(rng, *config.radio_galaxy_core_snr),
            kpc_per_pixel=cluster.kpc_per_pixel,
        ),
    )
    # Drawn only where the config asks for it, so that configs without it keep their fields.
    if subtype == "remnant" or (config.radio_galaxy_core_absent_probability
                                and rng.uniform() < config.radio_galaxy_core_absent_probability):
        component.params["core_snr"] = 0.0
    return component


def _jet_blobs(core, lateral, trail, jet_dir, tail_dir, start_sigma, end_sigma):
    """Centres, widths, fractional positions and spacings of the Gaussians of one jet.

    Neighbours are half a sigma (at least half a pixel) apart, so the chain
    looks continuous.
    """
    t_dense = np.linspace(0.0, 1.0, 512)
    path = core + np.outer(lateral * t_dense, jet_dir) + np.outer(trail * t_dense**2, tail_dir)
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(path, axis=0).T))])
    length = arc[-1]
    if length <= 0:
        return path[:1], np.array([start_sigma]), np.array([0.0]), np.array([1.0])
    positions = [0.0]
    while positions[-1] < length:
        sigma = start_sigma + (end_sigma - start_sigma) * positions[-1] / length
        positions.append(positions[-1] + max(0.5 * sigma, 0.5))
    s = np.minimum(np.array(positions), length)
    centres = np.column_stack([np.interp(s, arc, path[:, 0]), np.interp(s, arc, path[:, 1])])
    fraction = s / length
    sigmas = start_sigma + (end_sigma - start_sigma) * fraction
    spacing = np.maximum(0.5 * sigmas, 0.5)
    return centres, sigmas, fraction, spacing


def render_radio_galaxy(component, sky, survey):
    """Add the radio galaxy to ``sky`` (Jy/pixel) in place; set its flux and largest size."""
    p = component.params
    before = float(sky.sum(dtype=np.float64))
    core = np.array([component.x, component.y])
    axis = _pixel_direction(component.pa_deg)
    tail = _pixel_direction(p["tail_pa_deg"])
    if component.subtype in ("WAT", "head-tail"):
        # Jets leave perpendicular to the tail, on either side.
        axis = np.array([-tail[1], tail[0]])
    rms = survey.rms_jy
    sb_jy_per_pixel = component.surface_brightness_snr * rms / survey.beam_area_pixels
    half_size = max(p["lateral_pix"], p["trail_pix"], 1.0)
    end_sigma = max(p["end_width_fraction"] * half_size, p["start_sigma_pix"])
    all_centres = [core[None, :]]
    for sign in (1.0, -1.0):
        jet_dir = sign * axis
        if component.subtype == "remnant":
            # A wide lobe from a third to nine tenths of the way out, evenly bright, nothing joining it to the host.
            lobe_sigma = max(2 * p["lobe_width_fraction"] * half_size, p["start_sigma_pix"])
            centres, sigmas, t, spacing = _jet_blobs(core + 0.35 * p["lateral_pix"] * jet_dir,
                                                     0.55 * p["lateral_pix"], 0.0, jet_dir, tail, lobe_sigma,
                                                     lobe_sigma)
            brightness = sb_jy_per_pixel * np.ones_like(t)
        elif component.subtype == "FRII":
            centres, sigmas, t, spacing = _jet_blobs(core, p["lateral_pix"], 0.0, jet_dir, tail,
                                                     p["start_sigma_pix"], p["start_sigma_pix"])
            brightness = 0.1 * sb_jy_per_pixel * np.ones_like(t)
            lobe_sigma = max(p["lobe_width_fraction"] * half_size, p["start_sigma_pix"])
            lobe_centres, lobe_sigmas, lobe_t, lobe_spacing = _jet_blobs(
                core + 0.5 * p["lateral_pix"] * jet_dir, 0.45 * p["lateral_pix"], 0.0, jet_dir, tail,
                lobe_sigma, lobe_sigma,
            )
            centres = np.vstack([centres, lobe_centres])
            sigmas = np.concatenate([sigmas, lobe_sigmas])
            spacing = np.concatenate([spacing, lobe_spacing])
            brightness = np.concatenate([brightness, sb_jy_per_pixel * (0.5 + 0.5 * lobe_t)])
            hotspot = core + 0.97 * p["lateral_pix"] * jet_dir
            add_point_sources(sky, [hotspot[0]], [hotspot[1]], [p["hotspot_snr"] * rms])
        else:
            centres, sigmas, t, spacing = _jet_blobs(core, p["lateral_pix"], p["trail_pix"], jet_dir, tail,
                                                     p["start_sigma_pix"], end_sigma)
            brightness = sb_jy_per_pixel / (1.0 + t / 0.15) ** 1.5
        # A chain of Gaussians spaced by ds sums to peak * sqrt(2 pi) sigma / ds along its path.
        fluxes = brightness * spacing * np.sqrt(2 * np.pi) * sigmas
        for (x, y), sigma, flux in zip(centres, sigmas, fluxes):
            add_gaussian(sky, x, y, flux, sigma)
        step = max(len(centres) // _MAX_EXTENT_POINTS, 1)
        all_centres.append(np.vstack([centres[::step], centres[-1:]]))
    if p["core_snr"]:
        add_point_sources(sky, [component.x], [component.y], [p["core_snr"] * rms])
    component.flux = float(sky.sum(dtype=np.float64)) - before
    centres = np.vstack(all_centres)
    extent = np.max(np.hypot(*(centres[:, None, :] - centres[None, :, :]).transpose(2, 0, 1)))
    component.size_kpc = float(extent * p["kpc_per_pixel"])
