"""Radio relics: elongated arcs at the cluster outskirts, roughly tangential.

An arc is a piece of a circle whose centre lies on the line from the relic to
the cluster centre (or, for a relic tilted from tangential, on a line turned
from it); a large curvature radius makes it nearly straight. Across the arc
the profile is sharp on the outer (shock) side, a Gaussian of width ``w/6``,
and fades exponentially on the inner side with scale ``w/2`` (a
``"symmetric"`` relic: a Gaussian of FWHM ``w/2`` on both sides); along the arc it
fades smoothly to half brightness at the ends. Filaments come from a
log-normal modulation by a random field whose structures are stretched
along the arc; a strong modulation breaks the relic into patches.
"""

import numpy as np

from radiounet.sky.cluster import Component, log_uniform
from radiounet.sky.random_field import gaussian_random_field, lognormal_modulation

__all__ = ["draw_relics", "render_relic"]

_MAX_ARC_SPAN_RAD = 2.0


def draw_relics(rng, cluster, survey, config, shape):
    """Draw one relic, or a pair on opposite sides, around ``cluster``.

    Distributions: distance uniform in ``config.relic_distance_kpc``, length
    uniform in ``config.relic_length_kpc``, width uniform in
    ``config.relic_width_kpc``, position angle uniform, a pair with
    probability ``config.relic_pair_probability`` (the second at the opposite
    position angle +- 20 deg), curvature radius uniform in
    ``config.relic_curvature`` times the distance (at least length/2, so the
    arc spans at most ~115 deg), peak surface brightness log-uniform in
    ``config.relic_snr`` times the rms, filament amplitude uniform in
    ``config.relic_filament_sigma``; turned from tangential by up to
    ``config.relic_tilt_deg``; a symmetric cross-section with probability
    ``config.relic_symmetric_probability``. A relic whose centre would fall
    outside the field is moved inwards along its radius.
    """
    n = 2 if rng.uniform() < config.relic_pair_probability else 1
    pa = float(rng.uniform(0, 360))
    pas = [pa] if n == 1 else [pa, (pa + 180 + rng.normal(0, 20)) % 360]
    return [_draw_relic(rng, cluster, config, shape, pa_deg) for pa_deg in pas]


def _draw_relic(rng, cluster, config, shape, pa_deg):
    kpc_per_pixel = cluster.kpc_per_pixel
    distance_pix = rng.uniform(*config.relic_distance_kpc) / kpc_per_pixel
    length_kpc = rng.uniform(*config.relic_length_kpc)
    width_kpc = rng.uniform(*config.relic_width_kpc)
    direction = np.radians(pa_deg)
    # Sky PA east of north -> pixel offset (RA grows to the left).
    ux, uy = -np.sin(direction), np.cos(direction)
    ny, nx = shape
    margin = 0.05 * min(nx, ny)
    limits = [
        ((nx - 1 - margin - cluster.x) / ux) if ux > 0 else ((margin - cluster.x) / ux) if ux < 0 else np.inf,
        ((ny - 1 - margin - cluster.y) / uy) if uy > 0 else ((margin - cluster.y) / uy) if uy < 0 else np.inf,
    ]
    distance_pix = float(np.clip(distance_pix, 0.3 * 500 / kpc_per_pixel, max(min(limits), 1.0)))
    curvature_pix = max(distance_pix * rng.uniform(*config.relic_curvature), 0.5 * length_kpc / kpc_per_pixel)
    snr = log_uniform(rng, *config.relic_snr)
    filament_sigma = float(rng.uniform(*config.relic_filament_sigma))
    filament_seed = int(rng.integers(2**31))
    # Draws only where the config asks for them, so that configs without them keep their fields.
    tilt = float(rng.uniform(-1, 1) * config.relic_tilt_deg) if config.relic_tilt_deg else 0.0
    symmetric = bool(config.relic_symmetric_probability and rng.uniform() < config.relic_symmetric_probability)
    return Component(
        kind="relic",
        subtype="symmetric" if symmetric else "arc",
        x=cluster.x + distance_pix * ux,
        y=cluster.y + distance_pix * uy,
        flux=np.nan,
        size_kpc=length_kpc,
        surface_brightness_snr=snr,
        # The long axis is tangential: perpendicular to the radius.
        pa_deg=(pa_deg + tilt + 90.0) % 180.0,
        params=dict(
            distance_kpc=distance_pix * kpc_per_pixel,
            radial_pa_deg=pa_deg,
            tilt_deg=tilt,
            length_kpc=length_kpc,
            width_kpc=width_kpc,
            curvature_kpc=curvature_pix * kpc_per_pixel,
            length_pix=length_kpc / kpc_per_pixel,
            width_pix=width_kpc / kpc_per_pixel,
            curvature_pix=curvature_pix,
            filament_sigma=filament_sigma,
            filament_seed=filament_seed,
        ),
    )


def render_relic(component, sky, survey):
    """Add the relic to ``sky`` (Jy/pixel) in place and set its integrated flux."""
    p = component.params
    # The arc's normal: the radius from the cluster, turned by the tilt.
    direction = np.radians(p["radial_pa_deg"] + p.get("tilt_deg", 0.0))
    ux, uy = -np.sin(direction), np.cos(direction)
    # Centre of curvature: inwards from the relic, towards the cluster.
    cx = component.x - p["curvature_pix"] * ux
    cy = component.y - p["curvature_pix"] * uy
    half_extent = 0.75 * p["length_pix"] + 3 * p["width_pix"]
    ny, nx = sky.shape
    y_lo, y_hi = max(int(component.y - half_extent), 0), min(int(component.y + half_extent) + 1, ny)
    x_lo, x_hi = max(int(component.x - half_extent), 0), min(int(component.x + half_extent) + 1, nx)
    if y_lo >= y_hi or x_lo >= x_hi:
        component.flux = 0.0
        return
    y = np.arange(y_lo, y_hi, dtype=np.float32)[:, None] - np.float32(cy)
    x = np.arange(x_lo, x_hi, dtype=np.float32)[None, :] - np.float32(cx)
    radius = np.hypot(x, y)
    # Angle from the arc's mid-point direction, in (-pi, pi].
    angle = np.angle((x + 1j * y) * np.exp(-1j * np.arctan2(uy, ux)))
    along = angle * p["curvature_pix"]
    across = radius - p["curvature_pix"]
    width = p["width_pix"]
    if component.subtype == "symmetric":
        transverse = np.exp(-4 * np.log(2) * (across / (width / 2)) ** 2)
    else:
        transverse = np.where(across >= 0, np.exp(-0.5 * (across / (width / 6)) ** 2),
                              np.exp(across / (width / 2)))
    longitudinal = np.exp(-np.log(2) * (2 * along / p["length_pix"]) ** 4)
    profile = transverse * longitudinal
    profile[np.abs(angle) > _MAX_ARC_SPAN_RAD] = 0.0
    beam_fwhm_pix = survey.beam_fwhm_pixels
    filaments = gaussian_random_field(
        profile.shape, 3.0, np.random.default_rng(p["filament_seed"]),
        min_scale=beam_fwhm_pix, axis_ratio=4.0, angle=np.arctan2(uy, ux) + np.pi / 2,
    )
    peak = component.surface_brightness_snr * survey.rms_jy / survey.beam_area_pixels
    emission = (peak * profile * lognormal_modulation(filaments, p["filament_sigma"])).astype(np.float32)
    sky[y_lo:y_hi, x_lo:x_hi] += emission
    component.flux = float(emission.sum())
