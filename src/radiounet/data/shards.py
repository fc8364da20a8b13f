"""HDF5 shards of training tiles.

Each shard holds the tiles of a contiguous range of whole fields, so that a
split by shard, or by the ``field_index`` dataset, never puts tiles of one
field on both sides of a train/validation split.

Datasets of a shard (``n`` tiles of ``t x t`` pixels):

``image``        float32 (n, t, t), Jy/beam
``mask``         uint8 (n, t, t), diffuse-emission reference mask
``labels``       uint8 (n, t, t), class labels (attribute ``class_names``)
``field_index``  int64 (n,), index of the field in the run
``origin``       int32 (n, 2), (row, column) of the tile in its field

Attributes: ``config`` (JSON of the FieldConfig), ``seed``, ``rms_jy_per_beam``,
``tile_size``, ``stride``, ``first_field``, ``n_fields``, ``radiounet_version``.
"""

import json

import h5py
import numpy as np

from radiounet import __version__
from radiounet._parallel import run_jobs
from radiounet.data.tiles import cut_tiles
from radiounet.errors import (InvalidParameterError, RadioUNetError, require_non_negative_int,
                              require_positive_int)
from radiounet.io.atomic import atomic_path, ensure_writable_directory
from radiounet.sky.field import field_rng, simulate_field
from radiounet.sky.labels import CLASS_NAMES

__all__ = ["write_tile_shards", "read_shard_attributes"]


def _write_shard(path, config, seed, fields, tile_size, stride):
    images, masks, labels, field_index, origins = [], [], [], [], []
    for index in fields:
        field = simulate_field(config, field_rng(seed, index))
        for array, out in ((field.image, images), (field.mask.astype(np.uint8), masks), (field.labels, labels)):
            tiles, tile_origins = cut_tiles(array, tile_size, stride)
            out.append(tiles)
        field_index.append(np.full(len(tile_origins), index, dtype=np.int64))
        origins.append(tile_origins)
    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=True) as h5:
        chunks = (1, tile_size, tile_size)
        h5.create_dataset("image", data=np.concatenate(images), chunks=chunks, compression="gzip",
                          compression_opts=1, shuffle=True)
        h5.create_dataset("mask", data=np.concatenate(masks), chunks=chunks, compression="gzip")
        h5.create_dataset("labels", data=np.concatenate(labels), chunks=chunks, compression="gzip")
        h5.create_dataset("field_index", data=np.concatenate(field_index))
        h5.create_dataset("origin", data=np.concatenate(origins))
        h5["labels"].attrs["class_names"] = list(CLASS_NAMES)
        h5.attrs["config"] = json.dumps(config.to_dict(), sort_keys=True)
        h5.attrs["seed"] = int(seed)
        h5.attrs["rms_jy_per_beam"] = config.survey.rms_jy
        h5.attrs["tile_size"] = tile_size
        h5.attrs["stride"] = stride
        h5.attrs["first_field"] = int(fields[0])
        h5.attrs["n_fields"] = len(fields)
        h5.attrs["radiounet_version"] = __version__
    return path


def write_tile_shards(directory, config, n_fields, seed=0, *, tile_size=192, stride=None, fields_per_shard=16,
                      workers=1, progress=True):
    """Simulate ``n_fields`` fields and write their tiles to HDF5 shards in ``directory``.

    Shard ``k`` is ``shard_{k:05d}.h5`` and holds fields ``k * fields_per_shard``
    onwards. Shards already present are kept, so an interrupted run resumes.

    Returns
    -------
    list of Path
        All shard paths, in order.
    """
    require_positive_int(n_fields, "n_fields")
    require_positive_int(tile_size, "tile_size")
    require_positive_int(fields_per_shard, "fields_per_shard")
    require_positive_int(workers, "workers")
    require_non_negative_int(seed, "seed")
    stride = tile_size if stride is None else stride
    require_positive_int(stride, "stride")
    if tile_size > min(config.shape):
        raise InvalidParameterError("tile_size", tile_size, f"must not exceed the field size {config.shape}")
    if stride > tile_size:
        raise InvalidParameterError("stride", stride, f"must not exceed the tile size ({tile_size})")
    directory = ensure_writable_directory(directory)
    jobs = []
    for k, first in enumerate(range(0, n_fields, fields_per_shard)):
        path = directory / f"shard_{k:05d}.h5"
        fields = list(range(first, min(first + fields_per_shard, n_fields)))
        if path.exists():
            _check_existing(path, config, seed, fields, tile_size, stride)
        else:
            jobs.append((path, fields))
    n_shards = -(-n_fields // fields_per_shard)
    run_jobs(_write_shard, [(path, config, seed, fields, tile_size, stride) for path, fields in jobs], workers,
             total=n_shards, done=n_shards - len(jobs), unit="shard", desc="dataset", progress=progress)
    return [directory / f"shard_{k:05d}.h5" for k in range(n_shards)]


def read_shard_attributes(path):
    """The attributes of a shard as a dict (``config`` decoded from JSON)."""
    try:
        with h5py.File(path, "r") as h5:
            attrs = dict(h5.attrs)
    except OSError as exc:
        raise RadioUNetError(f"{path}: not a readable HDF5 shard ({exc})") from None
    missing = [key for key in ("config", "seed", "tile_size", "stride", "first_field", "n_fields") if key not in attrs]
    if missing:
        raise RadioUNetError(f"{path}: not a radiounet tile shard (no {', '.join(missing)} attribute)")
    try:
        attrs["config"] = json.loads(attrs["config"])
    except (TypeError, ValueError) as exc:
        raise RadioUNetError(f"{path}: not a radiounet tile shard (its config attribute is not JSON: {exc})") from None
    return attrs


def _check_existing(path, config, seed, fields, tile_size, stride):
    attrs = read_shard_attributes(path)
    expected = json.loads(json.dumps(config.to_dict()))
    if attrs["config"] != expected or attrs["seed"] != seed or attrs["first_field"] != fields[0] \
            or attrs["n_fields"] != len(fields) or attrs["tile_size"] != tile_size or attrs["stride"] != stride:
        raise RadioUNetError(f"{path} belongs to another run (configuration, seed, fields, tile size or stride "
                             f"differ); choose an empty directory")
