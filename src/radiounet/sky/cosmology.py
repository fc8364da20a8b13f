"""Cluster scales from mass and redshift.

R500 is the radius within which the mean density is 500 times the critical
density of the Universe at the cluster's redshift:
``R500 = [3 M500 / (4 pi 500 rho_c(z))]^(1/3)``.
"""

import astropy.units as u
import numpy as np
from astropy.cosmology import FlatLambdaCDM

__all__ = ["DEFAULT_COSMOLOGY", "r500_from_m500", "kpc_per_arcsec"]

#: Flat LambdaCDM with H0 = 70 km/s/Mpc and Omega_m = 0.3, the usual choice of cluster radio studies.
DEFAULT_COSMOLOGY = FlatLambdaCDM(H0=70 * u.km / u.s / u.Mpc, Om0=0.3)


def r500_from_m500(m500, z, cosmology=DEFAULT_COSMOLOGY):
    """Physical radius R500 from the mass M500 and the redshift.

    Parameters
    ----------
    m500 : `~astropy.units.Quantity`
        Mass within R500 (e.g. ``6e14 * u.Msun``).
    z : float or array
        Redshift.
    cosmology : `~astropy.cosmology.FLRW`
        Cosmology for the critical density.

    Returns
    -------
    `~astropy.units.Quantity`
        R500 in kpc.

    Examples
    --------
    >>> import astropy.units as u
    >>> r = r500_from_m500(6e14 * u.Msun, 0.1)
    >>> bool(1000 < r.to_value(u.kpc) < 1300)
    True
    """
    if not isinstance(m500, u.Quantity):
        # A bare 6 or 6e14 could be either; PSZ2 writes 1e14 Msun units: the caller says which.
        raise TypeError(f"m500 must be a mass Quantity (e.g. 6e14 * u.Msun), not {type(m500).__name__} {m500!r}")
    rho_c = cosmology.critical_density(z)
    r3 = 3 * m500.to(u.Msun) / (4 * np.pi * 500 * rho_c)
    return np.cbrt(r3.to(u.kpc**3).value) * u.kpc


def kpc_per_arcsec(z, cosmology=DEFAULT_COSMOLOGY):
    """Proper transverse size of one arcsec at redshift ``z`` (from the angular diameter distance)."""
    return (cosmology.angular_diameter_distance(z) * (1 * u.arcsec).to_value(u.rad)).to(u.kpc) / u.arcsec
