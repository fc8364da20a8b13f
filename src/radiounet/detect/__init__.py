"""Detection: diffuse sources in probability maps, and for the clusters of a catalogue their detection ratio R.

:func:`diffuse_sources` (a probability map's sources, as ``radio-unet predict`` lists them),
:func:`read_cluster_catalog` (positions, redshifts and R500 of a catalogue's clusters),
:func:`aperture_ratio` (R within a circle) and :func:`detect_clusters` (``radio-unet detect``: R of every cluster
of a catalogue in a set of images).
"""

from radiounet.detect.aperture import aperture_ratio
from radiounet.detect.catalog import read_cluster_catalog
from radiounet.detect.clusters import detect_clusters
from radiounet.detect.sources import diffuse_sources

__all__ = ["diffuse_sources", "read_cluster_catalog", "aperture_ratio", "detect_clusters"]
