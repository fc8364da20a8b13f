import astropy.constants as const
import astropy.units as u
import numpy as np
import pytest
from scipy.integrate import quad

from radiounet.sky import kpc_per_arcsec, r500_from_m500


def test_r500_against_a_hand_computation():
    # Flat LambdaCDM, H0 = 70, Om = 0.3 (radiation neglected in this check: < 1e-4 effect).
    z, m500 = 0.2, 5e14 * u.Msun
    h0 = (70 * u.km / u.s / u.Mpc).to(1 / u.s)
    ez2 = 0.3 * (1 + z) ** 3 + 0.7
    rho_c = 3 * h0**2 * ez2 / (8 * np.pi * const.G)
    expected = ((3 * m500 / (4 * np.pi * 500 * rho_c)) ** (1 / 3)).to(u.kpc)
    assert r500_from_m500(m500, z).to_value(u.kpc) == pytest.approx(expected.value, rel=1e-3)


def test_typical_clusters_have_r500_of_about_a_megaparsec():
    r = r500_from_m500(np.array([3, 10]) * 1e14 * u.Msun, 0.1).to_value(u.kpc)
    assert np.all((r > 800) & (r < 1600))
    with pytest.raises(TypeError, match="m500 must be a mass Quantity"):  # 6 or 6e14, in which unit?
        r500_from_m500(6e14, 0.1)


def test_angular_scale_from_the_angular_diameter_distance():
    z = 0.1
    hubble_distance = const.c.to_value(u.km / u.s) / 70.0  # Mpc
    comoving, _ = quad(lambda x: 1 / np.sqrt(0.3 * (1 + x) ** 3 + 0.7), 0, z)
    d_a_kpc = hubble_distance * comoving / (1 + z) * 1e3
    expected = d_a_kpc * np.radians(1 / 3600)
    assert kpc_per_arcsec(z).to_value(u.kpc / u.arcsec) == pytest.approx(expected, rel=1e-3)
