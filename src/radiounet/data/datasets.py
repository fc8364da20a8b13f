"""PyTorch datasets of training tiles: generated on the fly from a seed, or read from HDF5 shards.

Both return the same item: a dict with ``image`` (float32 tensor ``(1, t, t)``,
Jy/beam), ``mask`` (float32 ``(1, t, t)``, 0/1), ``labels`` (int64 ``(t, t)``),
``rms`` (float, Jy/beam) and ``field_index`` (int). Normalisation and
augmentation belong to the training pipeline, not to the data.
"""

from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import scipy.ndimage
import torch
from radio_beam import Beam
from torch.utils.data import Dataset

from radiounet.data.shards import read_shard_attributes
from radiounet.errors import InvalidParameterError, MissingFileError, RadioUNetError, require_positive_int
from radiounet.io.image import RESAMPLE_TOLERANCE
from radiounet.sky.field import field_rng, simulate_field
from radiounet.sky.labels import CLASS_NAMES
from radiounet.sky.survey_distribution import draw_observation

__all__ = ["EpochDataset", "SyntheticFieldDataset", "TileShardDataset"]

_FOREGROUND_CLASSES = tuple(CLASS_NAMES.index(name) for name in ("halo", "relic", "radio_galaxy"))


def _item(image, mask, labels, rms, field_index):
    return dict(
        image=torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None],
        mask=torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None],
        labels=torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)),
        rms=float(rms),
        field_index=int(field_index),
    )


class EpochDataset(Dataset):
    """``length`` items per epoch; after ``set_epoch(e)`` item ``i`` is drawn as ``e * length + i``.

    Subclasses generate item ``self.offset + index`` from a seed, so each
    epoch sees fresh, reproducible items.
    """

    def __init__(self, length):
        require_positive_int(length, "length")
        self.length = int(length)
        self.offset = 0

    def set_epoch(self, epoch):
        """Serve items ``epoch * length`` onwards."""
        self.offset = int(epoch) * self.length

    def __len__(self):
        return self.length


class SyntheticFieldDataset(EpochDataset):
    """Fields simulated on demand: item ``i`` is a tile of field ``i`` of the run ``seed``.

    Nothing is stored; the same ``(seed, i)`` always gives the same tile, in
    any worker process. The tile is cut at a random position (drawn from the
    field's own random stream) from a field of ``config.shape``; simulate
    fields not much larger than the tile to keep it fast.

    Parameters
    ----------
    config : radiounet.sky.FieldConfig
    length : int
        Number of items (fields).
    seed : int
        Seed of the run; use different seeds for training and validation.
    tile_size : int
        Side of the returned tiles, at most the field size.
    beam_jitter, pixel_scale_jitter : tuple of float, optional
        Ranges of factors (drawn log-uniformly per field) applied to the
        survey's beam and pixel size: the network then sees other samplings
        of the beam than the preset's exactly.
    foreground_crop_fraction : float, optional
        Share of the tiles cut around a foreground pixel instead of anywhere
        in the field (nnU-Net's foreground oversampling): a class among the
        halo, relic and radio-galaxy pixels of the field is drawn, then one of
        its pixels, then uniformly a tile that holds it. Emission then lies
        anywhere in the tile, as in a mosaic cut into overlapping tiles; with
        the uniform crop of a field centred on its cluster, relics (pushed
        inside the field) lie mostly at the tile's edge. 0 (the default)
        draws exactly the tiles of earlier versions.
    foreground_field_size : int, optional
        Side of the fields the foreground crops are cut from, when they
        should come from larger fields than the other tiles: the other tiles
        stay cut from fields of ``config.shape`` centred on their cluster,
        while relics in the foreground crops lie at their own distance from
        it, as in a survey image. 0 (the default): the same fields for both.
    survey_distribution : radiounet.sky.survey_distribution.SurveyDistribution, optional
        Draw each field's survey, noise and artefacts from it instead of
        using ``config.survey`` (see :mod:`radiounet.sky.survey_distribution`).
        The field is simulated at its drawn sampling and regridded to
        ``native_beam_pixels`` pixels per beam FWHM (geometric mean of the
        axes) when the two differ by more than 10%, as ``predict`` regrids an
        image, keeping its centre; field sizes are counted at the native sampling.
    native_beam_pixels : float, optional
        The model's sampling, with ``survey_distribution``.

    Examples
    --------
    >>> from radiounet.sky import FieldConfig, get_survey
    >>> ds = SyntheticFieldDataset(FieldConfig(get_survey("lotss-dr2-6"), shape=(96, 96)), 10, seed=1, tile_size=64)
    >>> ds[3]["image"].shape
    torch.Size([1, 64, 64])
    """

    def __init__(self, config, length, seed=0, tile_size=192, beam_jitter=(1.0, 1.0), pixel_scale_jitter=(1.0, 1.0),
                 foreground_crop_fraction=0.0, foreground_field_size=0, survey_distribution=None,
                 native_beam_pixels=None):
        super().__init__(length)
        if survey_distribution is not None and not native_beam_pixels:
            raise InvalidParameterError("native_beam_pixels", native_beam_pixels,
                                        "a survey distribution needs the model's sampling (pixels per beam)")
        self.survey_distribution = survey_distribution
        self.native_beam_pixels = native_beam_pixels
        if tile_size > min(config.shape):
            raise InvalidParameterError("tile_size", tile_size, f"must not exceed the field size {config.shape}")
        if not 0 <= foreground_crop_fraction <= 1:
            raise InvalidParameterError("foreground_crop_fraction", foreground_crop_fraction, "must be in [0, 1]")
        self.foreground_crop_fraction = float(foreground_crop_fraction)
        if foreground_field_size and not (foreground_crop_fraction and foreground_field_size >= tile_size):
            raise InvalidParameterError("foreground_field_size", foreground_field_size,
                                        f"needs foreground crops and must be at least the tile size {tile_size}")
        self.foreground_field_size = int(foreground_field_size)
        self.config = config
        self.seed = int(seed)
        self.tile_size = int(tile_size)
        self.beam_jitter = tuple(beam_jitter)
        self.pixel_scale_jitter = tuple(pixel_scale_jitter)

    def _config_for(self, rng):
        if self.beam_jitter == (1.0, 1.0) and self.pixel_scale_jitter == (1.0, 1.0):
            return self.config
        survey = self.config.survey
        beam_factor = np.exp(rng.uniform(*np.log(self.beam_jitter)))
        pixel_factor = np.exp(rng.uniform(*np.log(self.pixel_scale_jitter)))
        beam = Beam(major=survey.beam.major * beam_factor, minor=survey.beam.minor * beam_factor, pa=survey.beam.pa)
        jittered = replace(survey, beam=beam, pixel_scale=survey.pixel_scale * pixel_factor)
        return replace(self.config, survey=jittered)

    def __getitem__(self, index):
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} fields")
        if self.survey_distribution is not None:
            return self._drawn_survey_item(index)
        rng = field_rng(self.seed, self.offset + index)
        config = self._config_for(rng)
        if self.foreground_field_size:
            foreground = rng.uniform() < self.foreground_crop_fraction
            if foreground:
                config = replace(config, shape=(self.foreground_field_size, self.foreground_field_size))
            field = simulate_field(config, rng)
        else:
            field = simulate_field(config, rng)
            # No draw unless asked for, so that configs without foreground crops keep their tiles.
            foreground = bool(self.foreground_crop_fraction) and rng.uniform() < self.foreground_crop_fraction
        row, col = self._tile_corner(rng, field.labels, foreground)
        t = self.tile_size
        window = (slice(row, row + t), slice(col, col + t))
        return _item(field.image[window], field.mask[window], field.labels[window],
                     self.config.survey.rms_jy, self.offset + index)

    def _drawn_survey_item(self, index):
        rng = field_rng(self.seed, self.offset + index)
        drawn = draw_observation(rng, self.survey_distribution)
        foreground = bool(self.foreground_crop_fraction) and rng.uniform() < self.foreground_crop_fraction
        native_size = self.foreground_field_size if foreground and self.foreground_field_size else self.config.shape[0]
        zoom = self.native_beam_pixels / drawn.pixels_per_beam
        regrid = abs(1 / zoom - 1) > RESAMPLE_TOLERANCE
        size = int(np.ceil(native_size / zoom)) + 2 if regrid else native_size
        config = replace(self.config, survey=drawn.survey, shape=(size, size),
                         correlated_noise=drawn.correlated_noise,
                         correlated_noise_scale=drawn.correlated_noise_scale, stripes=drawn.stripes,
                         sidelobes=drawn.sidelobes)
        field = simulate_field(config, rng)
        image, mask, labels = field.image, field.mask, field.labels
        if regrid:
            # Bilinear, as predict's reproject_interp; the labels by nearest neighbour.
            image = scipy.ndimage.zoom(image, zoom, order=1, grid_mode=True, mode="nearest")
            mask = scipy.ndimage.zoom(mask.astype(np.uint8), zoom, order=0, grid_mode=True, mode="nearest")
            labels = scipy.ndimage.zoom(labels, zoom, order=0, grid_mode=True, mode="nearest")
            start = (image.shape[0] - native_size) // 2
            crop = (slice(start, start + native_size),) * 2
            image, mask, labels = image[crop], mask[crop], labels[crop]
        row, col = self._tile_corner(rng, labels, foreground)
        t = self.tile_size
        window = (slice(row, row + t), slice(col, col + t))
        return _item(image[window], mask[window], labels[window], drawn.survey.rms_jy, self.offset + index)

    def _tile_corner(self, rng, labels, foreground):
        ny, nx = labels.shape
        t = self.tile_size
        if foreground:
            present = [c for c in _FOREGROUND_CLASSES if (labels == c).any()]
            if present:
                rows, cols = np.nonzero(labels == present[rng.integers(len(present))])
                k = rng.integers(len(rows))
                return (int(rng.integers(max(0, rows[k] - t + 1), min(rows[k], ny - t) + 1)),
                        int(rng.integers(max(0, cols[k] - t + 1), min(cols[k], nx - t) + 1)))
        return int(rng.integers(0, ny - t + 1)), int(rng.integers(0, nx - t + 1))


class TileShardDataset(Dataset):
    """Tiles read from HDF5 shards written by :func:`radiounet.data.shards.write_tile_shards`.

    Files are opened lazily in each worker process, so the dataset works with
    a multi-process ``DataLoader``.

    Parameters
    ----------
    paths : sequence of str or Path
        Shard files.
    fields : collection of int, optional
        Keep only tiles of these field indices (a split by field).
    """

    def __init__(self, paths, fields=None):
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise InvalidParameterError("paths", paths, "no shard files given")
        self._index = []
        self._rms = []
        for shard, path in enumerate(self.paths):
            if not path.is_file():
                raise MissingFileError(f"{path}: no such shard file")
            self._rms.append(read_shard_attributes(path)["rms_jy_per_beam"])
            try:
                with h5py.File(path, "r") as h5:
                    field_index = h5["field_index"][:]
                    for name in ("image", "mask", "labels"):
                        if h5[name].shape[0] != len(field_index):
                            raise RadioUNetError(f"{path}: dataset '{name}' is truncated")
            except (OSError, KeyError) as exc:
                raise RadioUNetError(f"{path}: corrupt shard ({exc})") from None
            keep = np.ones(len(field_index), bool) if fields is None else np.isin(field_index, list(fields))
            self._index.extend((shard, int(i), int(f)) for i, f in zip(np.flatnonzero(keep), field_index[keep]))
        self._files = {}

    def __len__(self):
        return len(self._index)

    def _file(self, shard):
        if shard not in self._files:
            self._files[shard] = h5py.File(self.paths[shard], "r")
        return self._files[shard]

    def __getitem__(self, index):
        shard, row, field_index = self._index[index]
        h5 = self._file(shard)
        return _item(h5["image"][row], h5["mask"][row], h5["labels"][row], self._rms[shard], field_index)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_files"] = {}
        return state
