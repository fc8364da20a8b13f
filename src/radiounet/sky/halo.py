"""Radio halos: centred, roundish, elliptical exponential profile with turbulent substructure; mini-halos.

The smooth model is ``I(r) = I0 exp(-(r / r_e)^(1/n))``, with an elliptical
radius: ``n = 1`` is the exponential of Murgia et al. (2009), ``n < 1`` a
flatter core with a steeper edge, ``n > 1`` a peaked core with extended
wings. The substructure is a log-normal modulation by a Gaussian random
field with a Kolmogorov-like power spectrum between the beam and an outer
scale of one e-folding radius. A mini-halo (subtype ``"mini-halo"``) is a
small halo (tens of kpc) centred on the cluster's bright central radio
source, which :func:`radiounet.sky.simulate_field` adds as a compact source.
"""

import numpy as np

from radiounet.sky.cluster import Component, log_uniform
from radiounet.sky.random_field import gaussian_random_field, lognormal_modulation
from radiounet.sky.render import pa_to_pixel_angle, rotated_coordinates

__all__ = ["draw_halo", "render_halo"]

_EXTENT_IN_RE = 6.0
_MAX_EXTENT_IN_RE = 20.0


def draw_halo(rng, cluster, survey, config):
    """Draw the parameters of a halo in ``cluster``.

    Distributions (``config`` is a :class:`radiounet.sky.SkyConfig`):
    e-folding radius log-uniform in ``config.halo_re_kpc``; axis ratio uniform
    in ``config.halo_axis_ratio``; position angle uniform; centre offset
    Gaussian with ``config.halo_offset_r500`` x R500 per axis; peak surface
    brightness log-uniform in ``config.halo_snr`` times the image rms;
    substructure log-normal amplitude uniform in ``config.halo_substructure``;
    profile index ``n`` log-uniform in ``config.halo_profile_index``. With
    probability ``config.mini_halo_probability`` the halo is a mini-halo:
    e-folding radius log-uniform in ``config.mini_halo_re_kpc``, no offset, a
    central source of ``config.radio_galaxy_core_snr`` times the rms. Other halos
    host such a central source (the brightest cluster galaxy's core) with
    probability ``config.halo_central_source_probability``.
    """
    kpc_per_pixel = cluster.kpc_per_pixel
    r500_kpc = cluster.r500.to_value("kpc")
    offset = rng.normal(0.0, config.halo_offset_r500 * r500_kpc, size=2) / kpc_per_pixel
    re_kpc = log_uniform(rng, *config.halo_re_kpc)
    snr = log_uniform(rng, *config.halo_snr)
    pa_deg = float(rng.uniform(0, 180))
    params = dict(axis_ratio=float(rng.uniform(*config.halo_axis_ratio)),
                  substructure_sigma=float(rng.uniform(*config.halo_substructure)),
                  substructure_seed=int(rng.integers(2**31)))
    # Draws only where the config asks for them, so that configs without them keep their fields.
    params["profile_index"] = (log_uniform(rng, *config.halo_profile_index)
                               if config.halo_profile_index[0] < config.halo_profile_index[1]
                               else float(config.halo_profile_index[0]))
    subtype = "exponential"
    if config.mini_halo_probability and rng.uniform() < config.mini_halo_probability:
        subtype = "mini-halo"
        re_kpc = log_uniform(rng, *config.mini_halo_re_kpc)
        offset = np.zeros(2)
        params["central_source_snr"] = log_uniform(rng, *config.radio_galaxy_core_snr)
    elif config.halo_central_source_probability and rng.uniform() < config.halo_central_source_probability:
        params["central_source_snr"] = log_uniform(rng, *config.radio_galaxy_core_snr)
    params.update(re_kpc=re_kpc, re_pix=re_kpc / kpc_per_pixel)
    return Component(
        kind="halo",
        subtype=subtype,
        x=cluster.x + offset[0],
        y=cluster.y + offset[1],
        flux=np.nan,
        size_kpc=2 * 3 * re_kpc,
        surface_brightness_snr=snr,
        pa_deg=pa_deg,
        params=params,
    )


def render_halo(component, sky, survey):
    """Add the halo to ``sky`` (Jy/pixel) in place and set its integrated flux."""
    p = component.params
    index = p.get("profile_index", 1.0)
    # Out to where the profile falls to exp(-6), at most 20 r_e: the cut leaves under 1.2% of the peak for n <= 2.
    extent = min(_EXTENT_IN_RE**index, _MAX_EXTENT_IN_RE) * p["re_pix"]
    ny, nx = sky.shape
    y_lo, y_hi = max(int(component.y - extent), 0), min(int(component.y + extent) + 1, ny)
    x_lo, x_hi = max(int(component.x - extent), 0), min(int(component.x + extent) + 1, nx)
    if y_lo >= y_hi or x_lo >= x_hi:
        component.flux = 0.0
        return
    along, across = rotated_coordinates(
        sky.shape, component.x, component.y, pa_to_pixel_angle(np.radians(component.pa_deg)),
        slice(y_lo, y_hi), slice(x_lo, x_hi),
    )
    r = np.sqrt(along**2 + (across / p["axis_ratio"]) ** 2)
    peak = component.surface_brightness_snr * survey.rms_jy / survey.beam_area_pixels
    profile = np.exp(-((r / p["re_pix"]) ** (1.0 / index)))
    profile[r > extent] = 0.0
    beam_fwhm_pix = survey.beam_fwhm_pixels
    turbulence = gaussian_random_field(
        profile.shape, 11.0 / 3.0, np.random.default_rng(p["substructure_seed"]), min_scale=beam_fwhm_pix,
        max_scale=p["re_pix"],
    )
    emission = peak * profile * lognormal_modulation(turbulence, p["substructure_sigma"])
    sky[y_lo:y_hi, x_lo:x_hi] += emission
    component.flux = float(emission.sum())
