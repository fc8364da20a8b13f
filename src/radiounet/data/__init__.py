"""Training data: tiles of simulated fields, in HDF5 shards or generated on the fly."""

from radiounet.data.tiles import tile_starts, cut_tiles

__all__ = ["tile_starts", "cut_tiles"]
