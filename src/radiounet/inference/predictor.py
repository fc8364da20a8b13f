"""Segment a radio image with a trained model: probability of diffuse emission per pixel.

:class:`Predictor` wraps a model and its card. For each image it

1. brings the image to the model's native sampling (pixels per beam FWHM)
   with ``reproject`` when the two differ by more than 10%;
2. measures the local noise (:func:`radiounet.inference.noise.rms_mesh`)
   and normalises the image as in training, ``asinh(image / rms)``;
3. runs :func:`radiounet.inference.sliding_window_inference`, optionally
   averaging the 8 flips/rotations (test-time augmentation) and keeping their
   standard deviation as a per-pixel spread. The network is fully
   convolutional, so inference tiles are much larger than the training tiles
   (up to 1152 pixels by default): only a border of ``crop`` pixels, where the
   network's view runs off the tile, is discarded, and each pixel goes
   through the network about 1.1-1.25 times instead of 4 times with
   training-size tiles at half overlap;
4. maps the result back onto the input grid; blank input pixels (NaN, or the
   0 or other constant that some imagers write outside the primary beam:
   :func:`radiounet.data.normalize.fill_mask`) are NaN in the output and
   never change their neighbours' values.
"""

import functools
from dataclasses import dataclass

import numpy as np
import torch
from astropy.wcs import WCS

from radiounet._allocator import freed_memory_retained
from radiounet.data.normalize import blank_fill, blank_rows, fill_value
from radiounet.errors import InvalidParameterError
from radiounet.inference.noise import NormalisedImage, rms_mesh
from radiounet.inference.sliding_window import BLENDS, sliding_window_inference
from radiounet.io.image import RESAMPLE_TOLERANCE, RadioImage, require_beams_across
from radiounet.io.memmap import release_pages
from radiounet.models.fusion import fold_batch_norm
from radiounet.models.outputs import called_diffuse, probabilities
from radiounet.models.store import DEFAULT_MODEL, load_model, require_card_fields, resolve_model_path, sha256_of

__all__ = ["Predictor", "Prediction", "PreparedImage", "PRECISIONS", "PRECISION_TOLERANCE", "native_bfloat16"]

#: Largest inference tile side (pixels) and the border discarded from each tile: with it, 2 x 2 tiles of 384
#: match the map of the whole image in one tile within 0.03 (0.00005 on average; docs/speed.md).
INFERENCE_TILE = 1152
INFERENCE_CROP = 64
#: Pixels per batch when the batch size is not given: 16 training tiles of 192.
_BATCH_PIXELS = 16 * 192 * 192


@dataclass
class Prediction:
    """Output of :meth:`Predictor.predict` on the input image's pixel grid.

    Attributes
    ----------
    probability : numpy.ndarray
        Probability of diffuse emission (float32, NaN where the input is blank).
    mask : numpy.ndarray
        ``probability >= threshold`` (bool).
    spread : numpy.ndarray or None
        Standard deviation over the 8 flips/rotations (with test-time augmentation).
    rms : numpy.ndarray
        Noise mesh used for the normalisation (Jy/beam), with ``rms_box`` pixels per cell.
    rms_box : int
    threshold : float
    resampled : bool
        Whether the image was regridded to the model's sampling.
    class_probability : numpy.ndarray or None
        ``(classes, ny, nx)`` probabilities of :attr:`class_names` (class models only).
    class_names : tuple of str
    """

    probability: np.ndarray
    mask: np.ndarray
    spread: np.ndarray
    rms: np.ndarray
    rms_box: int
    threshold: float
    resampled: bool
    class_probability: np.ndarray = None
    class_names: tuple = ()

    def rms_at(self, rows, cols):
        """The noise (Jy/beam) at pixels ``(rows, cols)`` of the image: the value of the mesh cell holding each."""
        ny, nx = self.probability.shape
        i = np.minimum(np.asarray(rows) * self.rms.shape[0] // ny, self.rms.shape[0] - 1)
        j = np.minimum(np.asarray(cols) * self.rms.shape[1] // nx, self.rms.shape[1] - 1)
        return self.rms[i, j]

    def sources(self, image, *, redshift=None, image_jy=None):
        """The diffuse sources of ``image`` (the :class:`~radiounet.io.image.RadioImage` segmented) as ``radio-unet
        predict`` writes them to ``STEM.sources.ecsv``: :func:`radiounet.detect.diffuse_sources` with this
        prediction's threshold, noise mesh and classes; ``redshift`` adds the sizes in kpc. ``image_jy``: its
        pixels in Jy/beam where the caller has them already (a mosaic in mJy/beam is not scaled twice)."""
        from radiounet.detect.sources import diffuse_sources

        data = image_jy if image_jy is not None else image_in_jy(image)
        return diffuse_sources(self.probability, self.threshold, data, self.rms_at, image.wcs, image.beam_area_pixels,
                               image.pixel_arcsec, redshift=redshift, class_probability=self.class_probability,
                               class_names=self.class_names)


@dataclass
class PreparedImage:
    """An image made ready for the network by :meth:`Predictor.prepare`.

    Attributes
    ----------
    data : numpy.ndarray
        The image's pixels at the model's sampling (the image's own, when no regridding is needed).
    mesh : numpy.ndarray
        The noise mesh of ``data`` (data units), in boxes of twice the training tile.
    target : astropy.wcs.WCS or None
        The grid of ``data`` when the image was regridded.
    """

    data: np.ndarray
    mesh: np.ndarray
    target: WCS = None


def image_in_jy(image):
    """The pixels of a :class:`~radiounet.io.image.RadioImage` in Jy/beam (the data themselves when they are)."""
    return image.data if image.jy_per_unit == 1 else np.asarray(image.data, dtype=np.float32) * image.jy_per_unit


def _require_radio_image(image, method):
    if not isinstance(image, RadioImage):
        raise TypeError(f"Predictor.{method} takes a RadioImage (radiounet.io.image.read_radio_image(path)), not "
                        f"{type(image).__name__}; for a bare array at the model's sampling use predict_array")


def _dihedral(x, k, flip):
    x = torch.rot90(x, k, dims=(-2, -1))
    return torch.flip(x, dims=(-1,)) if flip else x


def _undo_dihedral(x, k, flip):
    x = torch.flip(x, dims=(-1,)) if flip else x
    return torch.rot90(x, -k, dims=(-2, -1))


#: Arithmetic of the network (:class:`Predictor`'s ``precision``).
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
#: Largest difference in probability from float32's that the reduced precisions are tested to stay within.
PRECISION_TOLERANCE = 0.1


def native_bfloat16(device):
    """Whether ``device`` computes in bfloat16 natively: a GPU, or a CPU with AVX512-BF16 or AMX (elsewhere
    oneDNN emulates it, several times slower than float32)."""
    device = torch.device(device)
    return device.type != "cpu" or bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _resolve_precision(precision, device):
    """The arithmetic that ``precision`` means on ``device``: float32, bfloat16 or float16."""
    if precision not in PRECISIONS:
        raise InvalidParameterError("precision", precision, f"must be one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        precision = "float16" if device.type == "cuda" else "float32"
    if precision == "float16" and device.type != "cuda":
        raise InvalidParameterError("precision", precision, "is for CUDA devices only (use bfloat16 on a CPU)")
    return precision


class Predictor:
    """A model ready to segment images.

    Parameters
    ----------
    model : str or Path
        Shipped model name or model file (default: the default model).
    device : str
        ``"auto"`` (default: CUDA when PyTorch sees a GPU, else the CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    threshold : float, optional
        Probability threshold of the mask (default: the model's).
    tile : int, optional
        Inference tile side in pixels, a multiple of the network's
        ``2**depth``: the largest tile used (default 1152; see :meth:`tile_for`).
    crop : int, optional
        Border discarded from each tile (default: 64 pixels, at most a quarter of the tile).
    blend : {"crop", "gaussian"}
    batch_size : int, optional
        Tiles per network call (default: as many as hold about 0.6 Mpixel).
    tta : bool
        Average the 8 flips/rotations and return their spread.
    precision : {"auto", "float32", "bfloat16", "float16"}
        Arithmetic of the network's convolutions: ``auto`` is float16 on
        CUDA and float32 on CPU. ``bfloat16`` makes the network 1.1-1.6x faster
        on CPUs with bfloat16 instructions (AVX512-BF16 or AMX: recent Xeon
        and EPYC) and slows it elsewhere; probabilities stay within 0.1 of
        float32's and the mask loses 1-2% of its pixels
        (:data:`PRECISION_TOLERANCE`; docs/speed.md). ``float16`` is for CUDA only.

    Notes
    -----
    On Linux with glibc, the network's activations come from memory that the
    process keeps for reuse rather than from fresh mappings of the system's
    (:mod:`radiounet._allocator`): the same numbers, faster on a CPU, and the
    process keeps the network's working set (a few hundred MB) until it
    exits. ``RADIOUNET_RETAIN_MEMORY=0`` turns this off.

    Examples
    --------
    >>> from radiounet.inference import Predictor           # doctest: +SKIP
    >>> from radiounet.io.image import read_radio_image     # doctest: +SKIP
    >>> with read_radio_image("field.fits") as image:       # doctest: +SKIP
    ...     result = Predictor().predict(image)
    """

    def __init__(self, model=DEFAULT_MODEL, device="auto", *, threshold=None, tile=None, crop=None, blend="crop",
                 batch_size=None, tta=False, precision="auto"):
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self.device = torch.device(device)
        except RuntimeError:
            raise InvalidParameterError("device", device, "must be auto, cpu, cuda or cuda:N") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InvalidParameterError("device", device, f"needs a CUDA device, and this PyTorch "
                                                          f"({torch.__version__}) sees none")
        #: The network's arithmetic: float32, bfloat16 or float16 (what ``precision`` means on ``device``).
        self.precision = _resolve_precision(precision, self.device)
        path = resolve_model_path(model)  # a shipped model's checksum verified once
        self.model, self.card = load_model(path, self.device)
        require_card_fields(self.card, model, "tile_size", "threshold", "native_sampling")
        # Same numbers within float rounding, fewer passes over the activations, faster convolutions (oneDNN on
        # CPU, tensor cores on GPU).
        self.model = fold_batch_norm(self.model).to(memory_format=torch.channels_last)
        self.model_name = str(model)
        #: The start of the model file's sha256: which weights made a map (the ``RUMODSHA`` card of its outputs).
        self.model_sha256 = sha256_of(path)[:16]
        #: The training tile: the network's context, and the noise mesh's box (twice it) as in training.
        self.tile = int(self.card["tile_size"])
        self.multiple = self.model.multiple
        self.inference_tile = INFERENCE_TILE if tile is None else int(tile)
        # The lowest level must keep 2 x 2 pixels: the network pads by reflection.
        if self.inference_tile < 2 * self.multiple or self.inference_tile % self.multiple:
            raise InvalidParameterError("tile", self.inference_tile,
                                        f"must be a multiple of {self.multiple}, at least {2 * self.multiple}, "
                                        "for this model")
        self.crop = min(INFERENCE_CROP, self.inference_tile // 4) if crop is None else int(crop)
        if not 0 <= self.crop < self.inference_tile / 2:
            raise InvalidParameterError("crop", self.crop, f"must be >= 0 and less than half the tile "
                                                           f"({self.inference_tile})")
        self.threshold = float(self.card["threshold"] if threshold is None else threshold)
        if not 0 < self.threshold < 1:
            raise InvalidParameterError("threshold", self.threshold, "must be between 0 and 1")
        if blend not in BLENDS:
            raise InvalidParameterError("blend", blend, f"must be one of {', '.join(BLENDS)}")
        self.blend = blend
        if batch_size is not None and batch_size < 1:
            raise InvalidParameterError("batch_size", batch_size, "must be positive")
        self.batch_size = batch_size
        self.tta = tta
        self.native_beam_pixels = float(self.card["native_sampling"]["beam_fwhm_pixels"])
        self.class_names = tuple(self.card.get("classes", ()))
        self.channels = 1 + int(tta) + len(self.class_names)

    def __repr__(self):
        return (f"Predictor({self.model_name!r}, device={str(self.device)!r}, threshold={self.threshold:g}, "
                f"tta={self.tta}, precision={self.precision!r})")

    def _probabilities(self, batch):
        """Diffuse-emission probability, then the class probabilities of a class model: ``(n, 1 + classes, H, W)``."""
        return probabilities(self.model(batch), bool(self.class_names))

    def _network(self, batch, orientation=None):
        if orientation is not None and tuple(orientation) != (0, False):
            k, flip = orientation
            return _undo_dihedral(self._network(_dihedral(batch, k, flip)), k, flip)
        batch = batch.contiguous(memory_format=torch.channels_last)
        with freed_memory_retained(), torch.autocast(self.device.type, dtype=getattr(torch, self.precision),
                                                     enabled=self.precision != "float32"):
            if not self.tta:
                return self._probabilities(batch)
            outputs = torch.stack([
                _undo_dihedral(self._probabilities(_dihedral(batch, k, f)), k, f)
                for k in range(4) for f in (False, True)
            ])
        mean = outputs.mean(0)
        return torch.cat([mean[:, :1], outputs[:, :, :1].std(0), mean[:, 1:]], dim=1)

    def class_planes(self, output):
        """The class probabilities ``(classes, ny, nx)`` in an output of :meth:`predict_array` (None for a
        binary model)."""
        return output[1 + int(self.tta):] if self.class_names else None

    def predict_array(self, data, *, out=None, progress=False, mesh=None, orientation=None):
        """Probability (and spread) of a 2-D array already at the model's sampling.

        ``data`` is in any brightness unit (the noise normalisation removes
        it) and may be a memory map; ``out`` (``(self.channels, ny, nx)``)
        may be one too. ``mesh`` is its noise mesh in boxes of twice the
        training tile, when measured already (:meth:`prepare`). With
        ``orientation`` ``(k, flip)`` the network sees every tile turned by
        ``k`` times 90 degrees, then mirrored if ``flip``, and its output is
        turned back: the same tiles and normalisation, another of the eight
        views that ``tta`` averages.

        Returns
        -------
        output : numpy.ndarray
            ``(self.channels, ny, nx)``: the probability of diffuse emission,
            its spread (with TTA), the class probabilities (class models).
        rms : numpy.ndarray
            The noise mesh.
        """
        box = 2 * self.tile
        if mesh is None:
            mesh = rms_mesh(data, box)
        view = NormalisedImage(data, mesh, box)
        tile = self.tile_for(data.shape)
        crop = min(self.crop, (tile - 1) // 2)
        batch_size = self.batch_size or max(1, _BATCH_PIXELS // tile**2)
        network = self._network if orientation is None else functools.partial(self._network, orientation=orientation)
        output = sliding_window_inference(view, network, tile=tile, crop=crop, batch_size=batch_size,
                                          blend=self.blend, channels=self.channels, device=self.device, out=out,
                                          align=self.multiple if tile - 2 * crop >= self.multiple else 1,
                                          progress=progress)
        return output, mesh

    def tile_for(self, shape):
        """The inference tile for an image of ``shape``: the smallest multiple of the network's ``2**depth`` that
        covers the longer side with as few tiles as the largest tile would, no larger than the shorter side
        needs, no smaller than the training tile. A 2000-pixel image takes 2 x 2 tiles of 1072 (1.15 times its
        pixels through the network)."""
        crop, multiple = self.crop, self.multiple
        longest, shortest = max(shape), min(shape)
        count = max(1, -(-(longest - 2 * crop) // (self.inference_tile - 2 * crop)))
        side = -(-(longest + 2 * crop * (count - 1)) // count)
        side = min(side, shortest)
        return min(self.inference_tile, max(-(-side // multiple) * multiple, self.tile))

    def _native_grid(self, image):
        factor = image.beam_fwhm_pixels / self.native_beam_pixels
        if abs(factor - 1) <= RESAMPLE_TOLERANCE:
            return None, None
        ny, nx = image.shape
        shape = (max(int(np.ceil(ny / factor)), 1), max(int(np.ceil(nx / factor)), 1))
        target = WCS(image.wcs.to_header())  # PC and CDELT, also for a header with a CD matrix
        # Same centre and orientation, pixels larger by ``factor``.
        target.wcs.crpix = [(c - 0.5) / factor + 0.5 for c in image.wcs.wcs.crpix]
        target.wcs.cdelt = target.wcs.cdelt * factor
        return target, shape

    def prepare(self, image):
        """The work before the network, which needs no device: the image at the model's sampling and its noise mesh.

        :meth:`predict` calls it; a batch (:func:`radiounet.inference.batch.predict_files`) prepares the next
        image in a thread while the network segments this one.

        Raises
        ------
        RadioUNetError
            Naming the image, when its beam is larger than a quarter of it
            (:func:`radiounet.io.image.require_beams_across`) or it has no
            noise to measure (all blank or constant).
        """
        _require_radio_image(image, "prepare")
        require_beams_across(image)
        target, shape = self._native_grid(image)
        data = image.data
        if target is not None:
            from reproject import reproject_interp  # a slow import, needed only to regrid

            data, _ = reproject_interp((blank_fill(data), image.wcs), target, shape_out=shape)
        return PreparedImage(data=data, mesh=rms_mesh(data, 2 * self.tile), target=target)

    def predict(self, image, *, progress=False, scratch=None, prepared=None, orientation=None):
        """Segment a :class:`radiounet.io.image.RadioImage`; the result is on the image's own grid.

        With ``scratch`` (a path prefix), the probability, spread and mask are
        memory-mapped files ``PREFIX.probability.npy`` and ``PREFIX.mask.npy``
        instead of arrays in memory, so that a
        mosaic larger than the memory goes through band by band (images at
        the model's sampling only: regridding needs the image in memory).
        ``prepared`` is this image's :meth:`prepare`, when done already.
        ``orientation``: see :meth:`predict_array`.

        Raises
        ------
        RadioUNetError
            As :meth:`prepare`.
        """
        _require_radio_image(image, "predict")
        if prepared is None:
            prepared = self.prepare(image)
        target, channels, out = prepared.target, self.channels, None
        if target is None and scratch is not None:
            out = np.lib.format.open_memmap(f"{scratch}.probability.npy", mode="w+",
                                            dtype=np.float32, shape=(channels,) + image.shape)
        output, mesh = self.predict_array(prepared.data, out=out, progress=progress, mesh=prepared.mesh,
                                          orientation=orientation)
        if target is not None:
            from reproject import reproject_interp

            output = np.stack([reproject_interp((channel, target), image.wcs, shape_out=image.shape)[0]
                               for channel in output]).astype(np.float32)
        if scratch is not None:
            mask = np.lib.format.open_memmap(f"{scratch}.mask.npy", mode="w+", dtype=bool,
                                             shape=image.shape)
        else:
            mask = np.empty(image.shape, dtype=bool)
        band, fill = 1024, fill_value(image.data)
        for start in range(0, image.shape[0], band):
            rows = slice(start, start + band)
            output[:, rows][:, blank_rows(image.data, start, start + band, fill)] = np.nan
            with np.errstate(invalid="ignore"):
                mask[rows] = called_diffuse(output[0, rows], self.threshold)
            release_pages(output)
            release_pages(mask)
        return Prediction(probability=output[0], mask=mask, spread=output[1] if self.tta else None,
                          rms=mesh * image.jy_per_unit, rms_box=2 * self.tile, threshold=self.threshold,
                          resampled=target is not None,
                          class_probability=self.class_planes(output),
                          class_names=self.class_names)
