"""The galaxy cluster at the centre of a simulated field, and the record of each sky component."""

from dataclasses import dataclass, field

import astropy.units as u
import numpy as np

from radiounet.sky.cosmology import DEFAULT_COSMOLOGY, kpc_per_arcsec, r500_from_m500

__all__ = ["Cluster", "Component", "log_uniform"]


@dataclass(frozen=True)
class Cluster:
    """A cluster placed in a field.

    Attributes
    ----------
    z : float
        Redshift.
    m500 : `~astropy.units.Quantity`
        Mass within R500.
    x, y : float
        Pixel position of the cluster centre (0-based).
    pixel_arcsec : float
        Pixel size of the field, in arcsec.
    """

    z: float
    m500: u.Quantity
    x: float
    y: float
    pixel_arcsec: float
    cosmology: object = field(default_factory=lambda: DEFAULT_COSMOLOGY)

    @property
    def r500(self):
        """R500 in kpc."""
        return r500_from_m500(self.m500, self.z, self.cosmology)

    @property
    def kpc_per_pixel(self):
        """Proper length of one pixel at the cluster's redshift, in kpc."""
        return float(kpc_per_arcsec(self.z, self.cosmology).to_value(u.kpc / u.arcsec)) * self.pixel_arcsec

    @property
    def r500_arcsec(self):
        """Angular R500 in arcsec."""
        return self.r500.to_value(u.kpc) / self.kpc_per_pixel * self.pixel_arcsec


@dataclass
class Component:
    """One extended sky component, as written to the truth tables.

    Attributes
    ----------
    kind : str
        ``"halo"``, ``"relic"`` or ``"radio_galaxy"``.
    subtype : str
        Morphology, e.g. ``"exponential"``, ``"arc"``, ``"FRI"``, ``"head-tail"``, ``"WAT"``, ``"FRII"``.
    x, y : float
        Pixel position (0-based) of its centre (halo, relic) or core (radio galaxy).
    flux : float
        Integrated flux density in the sky model, Jy.
    size_kpc : float
        Largest linear size, kpc.
    surface_brightness_snr : float
        Peak surface brightness of the smooth model in the image, in units of
        the image rms (what a component broader than the beam peaks at).
    pa_deg : float
        Position angle of its long axis, degrees east of north.
    params : dict
        Morphological parameters of the model, in kpc, pixels and degrees.
    """

    kind: str
    subtype: str
    x: float
    y: float
    flux: float
    size_kpc: float
    surface_brightness_snr: float
    pa_deg: float
    params: dict = field(default_factory=dict)


def log_uniform(rng, low, high):
    """One draw from a log-uniform distribution on ``[low, high]``."""
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))
