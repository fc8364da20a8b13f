"""Detection: diffuse sources from probability maps (and, later, cluster apertures and R)."""

from radiounet.detect.sources import diffuse_sources

__all__ = ["diffuse_sources"]
