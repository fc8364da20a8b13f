"""The synthetic radio sky: cluster fields with halos, relics, radio galaxies and compact sources.

Typical use::

    from radiounet.sky import FieldConfig, get_survey, simulate_field, field_rng
    config = FieldConfig(get_survey("lotss-dr2-6"), shape=(2000, 2000))
    field = simulate_field(config, field_rng(seed=42, index=0))
    field.image, field.mask, field.labels, field.wcs, field.components
"""

from radiounet.sky.cluster import Cluster, Component
from radiounet.sky.cosmology import DEFAULT_COSMOLOGY, kpc_per_arcsec, r500_from_m500
from radiounet.sky.field import FIELD_TYPES, FieldConfig, SimulatedField, SkyConfig, field_rng, simulate_field
from radiounet.sky.labels import CLASS_NAMES
from radiounet.sky.survey import PRESETS, Survey, custom_survey, get_survey

__all__ = [
    "CLASS_NAMES",
    "Cluster",
    "Component",
    "DEFAULT_COSMOLOGY",
    "FIELD_TYPES",
    "FieldConfig",
    "PRESETS",
    "SimulatedField",
    "SkyConfig",
    "Survey",
    "custom_survey",
    "field_rng",
    "get_survey",
    "kpc_per_arcsec",
    "r500_from_m500",
    "simulate_field",
]
