"""Truth tables of simulated fields: one row per field, one row per extended component."""

import json

import astropy.units as u
from astropy.table import QTable, Table

from radiounet.sky.labels import cluster_class_of
from radiounet.io.tables import plain_value

__all__ = ["field_truth_row", "components_table", "rows_to_qtable"]


def field_truth_row(field, name):
    """Field-level truth of ``field`` as a dict of column values (Quantities where there is a unit)."""
    cluster = field.cluster
    centre = field.wcs.pixel_to_world(cluster.x, cluster.y)
    kinds = [c.kind for c in field.components]
    mask_pixels = int(field.mask.sum())
    return dict(
        field=name,
        field_type=field.field_type,
        classes=",".join(field.classes_present()) or "none",
        cluster_class=cluster_class_of("halo" in kinds, "relic" in kinds),
        has_halo=kinds.count("halo") > 0,
        has_relic=kinds.count("relic") > 0,
        has_radio_galaxy=kinds.count("radio_galaxy") > 0,
        n_halos=kinds.count("halo"),
        n_relics=kinds.count("relic"),
        n_radio_galaxies=kinds.count("radio_galaxy"),
        n_compact=field.n_compact,
        z=cluster.z,
        m500=cluster.m500.to(u.Msun),
        r500_kpc=cluster.r500.to(u.kpc),
        r500_arcsec=cluster.r500_arcsec * u.arcsec,
        ra=centre.ra.to(u.deg),
        dec=centre.dec.to(u.deg),
        x=cluster.x,
        y=cluster.y,
        mask_pixels=mask_pixels,
        mask_fraction=mask_pixels / field.mask.size,
    )


def components_table(field, name):
    """Table of the halos, relics and radio galaxies of ``field``, positions in pixels and on the sky."""
    survey = field.config.survey
    kpc_per_pixel = field.cluster.kpc_per_pixel
    rows = []
    for c in field.components:
        coord = field.wcs.pixel_to_world(c.x, c.y)
        rows.append(dict(
            field=name, kind=c.kind, subtype=c.subtype,
            ra=coord.ra.deg, dec=coord.dec.deg, x=c.x, y=c.y,
            flux=c.flux, size_kpc=c.size_kpc,
            size_arcsec=c.size_kpc / kpc_per_pixel * survey.pixel_arcsec,
            surface_brightness_snr=c.surface_brightness_snr, pa_deg=c.pa_deg,
            params=json.dumps({k: plain_value(v) for k, v in c.params.items()}, sort_keys=True),
        ))
    names = ["field", "kind", "subtype", "ra", "dec", "x", "y", "flux", "size_kpc", "size_arcsec",
             "surface_brightness_snr", "pa_deg", "params"]
    table = Table(rows=rows, names=names) if rows else Table(
        names=names, dtype=[str, str, str, float, float, float, float, float, float, float, float, float, str])
    for column, unit in (("ra", u.deg), ("dec", u.deg), ("flux", u.Jy), ("size_kpc", u.kpc),
                         ("size_arcsec", u.arcsec), ("pa_deg", u.deg)):
        table[column].unit = unit
    table["x"].description = "0-based pixel column"
    table["y"].description = "0-based pixel row"
    table["surface_brightness_snr"].description = "peak surface brightness of the smooth model / image rms"
    table["params"].description = "model parameters (JSON)"
    return table


def rows_to_qtable(rows):
    """A QTable from a list of dicts of equal keys; Quantity values become Quantity columns."""
    table = QTable()
    for key in rows[0]:
        values = [row[key] for row in rows]
        table[key] = u.Quantity(values) if isinstance(values[0], u.Quantity) else values
    return table
