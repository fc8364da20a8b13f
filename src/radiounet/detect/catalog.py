"""Cluster catalogues: positions, redshifts, masses and the R500 of each cluster, with a per-row status.

The Planck PSZ2 format (NAME, RA, DEC, REDSHIFT, MSZ in 1e14 Msun, -1 or 0
where unknown) works as it is; other catalogues name their columns. Rows that
cannot be used get a ``status`` instead of stopping the run:

``ok``               position, redshift and R500 known
``no_position``      RA or Dec missing, not a number nor a sexagesimal string, or Dec beyond +-90 deg
``no_redshift``      redshift missing, not a number, <= 0 or above 10 (and no angular R500 given)
``no_mass``          M500 missing or <= 0 (R500 from the mass), or giving an R500 beyond 5 Mpc or 5 deg
``no_r500``          the given R500 missing, <= 0, or beyond 5 Mpc or 5 deg (a wrong unit: no cluster is that large)
``duplicate_name``   a second row with a name already seen (the first one is kept)

A row with ``no_mass`` or ``no_r500`` has no R500 (NaN); its ``m500`` is the mass as read.

RA and Dec are degrees, or sexagesimal strings (RA in hours: ``"12:34:56.7"``
or ``"12h34m56.7s"``; Dec in degrees: ``"+12:34:56"``). A catalogue without
rows, or without a single usable position, is an error; so is one without a
single measurable cluster for commands that measure them
(:func:`require_measurable`).
"""

import astropy.units as u
import numpy as np
from astropy.coordinates import Angle
from astropy.table import QTable, Table

from radiounet.errors import InvalidParameterError, RadioUNetError
from radiounet.io.tables import count_text, read_table
from radiounet.sky.cosmology import DEFAULT_COSMOLOGY, kpc_per_arcsec, r500_from_m500

__all__ = ["read_cluster_catalog", "require_measurable", "MAX_REDSHIFT", "MAX_R500_ANGLE", "MAX_R500_LENGTH"]

#: Beyond these a catalogue value is a unit error, not a cluster (the most massive clusters have R500 of 2 Mpc,
#: the nearest, Virgo, about 3 degrees).
MAX_REDSHIFT = 10.0
MAX_R500_LENGTH = 5 * u.Mpc
MAX_R500_ANGLE = 5 * u.deg


def _numbers(column):
    """Floats of a column; masked, empty or non-numeric entries become NaN."""
    values = np.ma.asarray(column)
    masked = np.ma.getmaskarray(values)
    out = np.full(len(values), np.nan)
    for i, value in enumerate(values.data):
        if masked[i]:
            continue
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            pass
    return out


def _angles(column, unit):
    """Degrees of a column of numbers (degrees) or sexagesimal strings in ``unit`` (hours for RA); NaN where
    neither."""
    degrees = _numbers(column)
    values = np.ma.asarray(column)
    if values.dtype.kind not in "US":
        return degrees
    for i in np.flatnonzero(np.isnan(degrees) & ~np.ma.getmaskarray(values)):
        try:
            degrees[i] = Angle(str(values.data[i]).strip(), unit=unit).deg
        except (ValueError, TypeError, u.UnitsError):
            pass
    return degrees


def _numbers_in(table, units, source):
    """``table`` with its Quantity columns among ``units`` (name: unit or Quantity, e.g. 1e14 Msun) as plain numbers
    in those units, as the columns of a file are read (a QTable's RA in deg, a mass in Msun); the unit strings of a
    plain Table's columns are left alone, as those of a file (FITS catalogues write 'degrees', '10^14 Msol')."""
    plain = Table(table, copy=False)
    for name, unit in units.items():
        if name not in table.colnames or not isinstance(table[name], u.Quantity):
            continue
        try:
            plain[name] = (table[name] / u.Quantity(1, unit) if not isinstance(unit, u.Quantity)
                           else table[name] / unit).to_value(u.dimensionless_unscaled)
        except u.UnitConversionError:
            raise RadioUNetError(f"{source}: column {name} is in {table[name].unit}, not in a unit of {unit}") from None
    return plain


def _r500_unit(given):
    try:
        unit = u.Unit(given)
    except (ValueError, TypeError):
        unit = None
    if unit is None or unit.physical_type not in ("length", "angle"):
        raise InvalidParameterError("r500-unit", str(given), "must be a length (kpc, Mpc) or an angle (arcsec, "
                                                              "arcmin, deg)")
    return unit


def read_cluster_catalog(path, *, name="NAME", ra="RA", dec="DEC", redshift="REDSHIFT", mass="MSZ",
                         mass_unit=1e14 * u.Msun, r500=None, r500_unit=u.kpc, cosmology=DEFAULT_COSMOLOGY):
    """Read a cluster catalogue (FITS, CSV or ECSV) and compute R500.

    Parameters
    ----------
    path : str, Path or astropy.table.Table
        The catalogue's file, or a table already read (e.g. ``Table.read(...)`` of a catalogue of one's own).
    name, ra, dec, redshift, mass : str
        Column names (PSZ2 by default). RA and Dec in degrees.
    mass_unit : `~astropy.units.Quantity`
        Unit of the mass column (PSZ2: 1e14 Msun).
    r500 : str, optional
        A column of R500 to use instead of the mass.
    r500_unit : `~astropy.units.Unit` or str
        Its unit: a length (kpc, Mpc) or an angle (arcsec, arcmin, deg).
    cosmology : `~astropy.cosmology.FLRW`

    Returns
    -------
    astropy.table.QTable
        Columns ``name``, ``ra``, ``dec`` (deg), ``z``, ``m500`` (Msun), ``r500_kpc``
        (kpc), ``r500_arcsec`` (arcsec), ``status``.

    Raises
    ------
    RadioUNetError
        If the file cannot be read as a table, lacks a named column, has no
        rows or no row with a usable position.
    """
    r500_unit = _r500_unit(r500_unit)
    if isinstance(path, Table):
        table, path = path, "the catalogue table"
        table = _numbers_in(table, {ra: u.deg, dec: u.deg, mass: mass_unit, r500: r500_unit}, path)
    else:
        table = read_table(path)
    wanted = [name, ra, dec] + ([r500] if r500 else [mass]) + [redshift]
    missing = [c for c in wanted if c not in table.colnames]
    if missing:
        raise RadioUNetError(f"{path}: no column {', '.join(missing)} (columns: {', '.join(table.colnames)}); "
                             "name the columns with the catalogue options")
    n = len(table)
    if not n:
        raise RadioUNetError(f"{path}: the catalogue has no rows")
    names = [str(v).strip() for v in table[name]]
    ra_deg, dec_deg, z = _angles(table[ra], u.hourangle), _angles(table[dec], u.deg), _numbers(table[redshift])
    ra_deg = np.mod(ra_deg, 360.0)  # -10 or 370 deg: the same place as 350 or 10
    z_ok = np.isfinite(z) & (z > 0) & (z <= MAX_REDSHIFT)
    scale = np.full(n, np.nan)
    scale[z_ok] = kpc_per_arcsec(z[z_ok], cosmology).to_value(u.kpc / u.arcsec)
    m500 = np.full(n, np.nan)
    if r500:
        size = _numbers(table[r500])
        if r500_unit.physical_type == "length":
            r500_kpc = size * r500_unit.to(u.kpc)
            r500_arcsec = r500_kpc / scale
        else:
            r500_arcsec = size * r500_unit.to(u.arcsec)
            r500_kpc = r500_arcsec * scale
    else:
        m500 = _numbers(table[mass]) * u.Quantity(mass_unit).to_value(u.Msun)
        r500_kpc = np.full(n, np.nan)
        usable = z_ok & np.isfinite(m500) & (m500 > 0)
        r500_kpc[usable] = r500_from_m500(m500[usable] * u.Msun, z[usable], cosmology).to_value(u.kpc)
        r500_arcsec = r500_kpc / scale
    status = np.full(n, "ok", dtype="U16")
    with np.errstate(invalid="ignore"):
        size_ok = (np.isfinite(r500_arcsec) & (r500_arcsec > 0) & (r500_arcsec <= MAX_R500_ANGLE.to_value(u.arcsec))
                   & ~(r500_kpc > MAX_R500_LENGTH.to_value(u.kpc)))
    angle_given = r500 is not None and r500_unit.physical_type == "angle"
    status[~size_ok] = "no_mass" if r500 is None else "no_r500"
    r500_kpc, r500_arcsec = np.where(size_ok, r500_kpc, np.nan), np.where(size_ok, r500_arcsec, np.nan)
    if not angle_given:
        status[~z_ok] = "no_redshift"
    placed = np.isfinite(ra_deg) & np.isfinite(dec_deg) & (np.abs(dec_deg) <= 90)
    if not placed.any():
        raise RadioUNetError(f"{path}: no row has a usable position in columns {ra} and {dec} (degrees, or "
                             "sexagesimal strings with RA in hours); name the columns with --ra-column, --dec-column")
    status[~placed] = "no_position"
    seen = set()
    for i, cluster in enumerate(names):
        if cluster in seen:
            status[i] = "duplicate_name"
        seen.add(cluster)
    return QTable({
        "name": names, "ra": ra_deg * u.deg, "dec": dec_deg * u.deg, "z": np.where(z_ok, z, np.nan),
        "m500": m500 * u.Msun, "r500_kpc": r500_kpc * u.kpc, "r500_arcsec": r500_arcsec * u.arcsec,
        "status": status,
    })


def require_measurable(catalog, path):
    """Raise :class:`RadioUNetError` naming ``path`` unless some row of ``catalog`` (from
    :func:`read_cluster_catalog`) has the status ``ok``: position, redshift and R500 known."""
    if not (catalog["status"] == "ok").any():
        raise RadioUNetError(f"{path}: none of the {len(catalog)} clusters can be measured "
                             f"({count_text(catalog['status'])}); check the "
                             "redshift and mass (or --r500-column) columns")
