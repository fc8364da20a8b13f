"""Quick-look PNG of a simulated field: image, mask contour, beam, scale bar and truth markers."""

import astropy.units as u
import numpy as np
from astropy.visualization import AsinhStretch, ImageNormalize
from astropy.visualization.wcsaxes import SphericalCircle, add_beam, add_scalebar
from matplotlib.figure import Figure

from radiounet.io.atomic import atomic_path

__all__ = ["plot_field", "save_field_quicklook"]

_MAX_DISPLAY_PIXELS = 1000
_MARKERS = {"halo": ("H", "tab:cyan"), "relic": ("R", "tab:orange"), "radio_galaxy": ("RG", "tab:red")}


def _block_reduce(array, factor, func):
    ny, nx = (s // factor * factor for s in array.shape)
    blocks = array[:ny, :nx].reshape(ny // factor, factor, nx // factor, factor)
    return func(blocks, axis=(1, 3))


def plot_field(field, figure=None):
    """Draw a :class:`radiounet.sky.SimulatedField` on a WCS axes and return the figure.

    The image is shown with an asinh stretch from -2 to 50 times the rms; the
    mask is a contour; components of the truth are marked (H halo, R relic,
    RG radio galaxy), with the cluster's R500 as a dashed circle, the beam
    bottom left and a scale bar of 500 kpc at the cluster's redshift.
    """
    survey = field.config.survey
    factor = max(1, int(np.ceil(max(field.image.shape) / _MAX_DISPLAY_PIXELS)))
    image = _block_reduce(field.image, factor, np.mean)
    mask = _block_reduce(field.mask.astype(np.uint8), factor, np.max)
    wcs = field.wcs[::factor, ::factor] if factor > 1 else field.wcs
    figure = figure or Figure(figsize=(7.5, 7))
    ax = figure.add_subplot(projection=wcs)
    rms_mjy = survey.rms_jy * 1e3
    norm = ImageNormalize(vmin=-2 * rms_mjy, vmax=50 * rms_mjy, stretch=AsinhStretch(0.02))
    shown = ax.imshow(image * 1e3, origin="lower", cmap="inferno", norm=norm)
    if mask.any():
        ax.contour(mask, levels=[0.5], colors="deepskyblue", linewidths=1.0)
    cluster = field.cluster
    centre = field.wcs.pixel_to_world(cluster.x, cluster.y)
    ax.add_patch(SphericalCircle(centre, cluster.r500_arcsec * u.arcsec, edgecolor="white", facecolor="none",
                                 linestyle="--", linewidth=0.8, transform=ax.get_transform("world")))
    for component in field.components:
        label, colour = _MARKERS[component.kind]
        ax.text(component.x / factor, component.y / factor, label, color=colour, fontsize=9,
                ha="center", va="center", fontweight="bold")
    ax.set_xlim(-0.5, image.shape[1] - 0.5)
    ax.set_ylim(-0.5, image.shape[0] - 0.5)
    beam = survey.beam
    add_beam(ax, major=beam.major, minor=beam.minor, angle=beam.pa, frame=True, color="white")
    scale = (500 / cluster.kpc_per_pixel * survey.pixel_arcsec) * u.arcsec
    add_scalebar(ax, scale, label="500 kpc", color="white")
    ax.set_xlabel("RA (ICRS)")
    ax.set_ylabel("Dec (ICRS)")
    classes = ", ".join(field.classes_present()) or "no extended emission"
    ax.set_title(f"{survey.name}  z={cluster.z:.3f}  {field.field_type}: {classes}", fontsize=10)
    figure.colorbar(shown, ax=ax, label="mJy/beam", fraction=0.046, pad=0.04)
    return figure


def save_field_quicklook(field, path, dpi=110):
    """Write the quick-look PNG of ``field`` to ``path`` atomically."""
    figure = plot_field(field)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
