"""Segment many images: progress bar, resume, per-file errors, sharding over torchrun ranks."""

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from radiounet.detect.sources import diffuse_sources
from radiounet.errors import RadioUNetError
from radiounet.inference.outputs import output_paths, write_prediction
from radiounet.io.atomic import ensure_writable_directory
from radiounet.io.image import read_radio_image

__all__ = ["BatchSummary", "predict_files", "image_stem", "expand_inputs"]

_SUFFIXES = (".fits.gz", ".fits.fz", ".fits", ".fit", ".fts")
#: Above this many pixels the outputs are memory-mapped files while they are computed.
LARGE_IMAGE_PIXELS = 4096 * 4096


@dataclass
class BatchSummary:
    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)

    def line(self):
        return (f"{len(self.done)} image(s) segmented, {len(self.skipped)} skipped (outputs already there), "
                f"{len(self.failed)} failed")


def image_stem(path):
    """``DIR/STEM.fits`` -> ``STEM`` (also .fit, .fts, .fits.gz)."""
    name = Path(path).name
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


#: radiounet's own products, left out when a folder is expanded (simulator masks and labels, predict's maps).
PRODUCT_SUFFIXES = (".mask.fits", ".labels.fits", ".prob.fits", ".spread.fits", ".classes.fits")


def expand_inputs(inputs):
    """Files as given; a folder stands for the FITS images in it, without radiounet's own products."""
    paths = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            paths.extend(sorted(p for p in item.iterdir() if p.name.lower().endswith(_SUFFIXES)
                                and not p.name.lower().endswith(PRODUCT_SUFFIXES)))
        else:
            paths.append(item)
    return paths


def _segment(path, out, predictor, beam, redshift, progress=False):
    """Segment one image; return the job that writes its outputs (then closes the image and removes scratch
    files) and the image's size in Mpixel.

    The writing runs in a background thread while the next image is segmented. With ``progress``, a mosaic
    (above :data:`LARGE_IMAGE_PIXELS`) gets its own progress bar in Mpix/s.
    """
    scratch = out["png"].parent / f".{out['png'].stem}.scratch"
    stack = ExitStack()
    stack.callback(_remove_scratch, scratch)
    try:
        radio = stack.enter_context(read_radio_image(path, beam))
        data = radio.data
        image_jy = data if radio.jy_per_unit == 1 else np.asarray(data, dtype=np.float32) * radio.jy_per_unit
        large = data.size > LARGE_IMAGE_PIXELS
        prediction = predictor.predict(radio, scratch=scratch if large else None, progress=progress and large)
        sources = diffuse_sources(prediction.probability, prediction.threshold, image_jy,
                                  _rms_lookup(prediction, radio.shape), radio.wcs,
                                  radio.beam_area_pixels, radio.pixel_arcsec, redshift=redshift,
                                  class_probability=prediction.class_probability,
                                  class_names=prediction.class_names)
    except BaseException:
        stack.close()
        raise

    def write():
        with stack:
            try:
                write_prediction(out, radio, image_jy, prediction, sources, predictor)
            except BaseException:
                for written in out.values():  # no partial set of outputs (a full disk): all or none
                    written.unlink(missing_ok=True)
                raise

    return write, data.size / 1e6


def _remove_scratch(scratch):
    for leftover in scratch.parent.glob(f"{scratch.name}.*.npy"):
        leftover.unlink()


def _rms_lookup(prediction, shape):
    """``rms(rows, cols)`` in Jy/beam from the noise mesh, without building a full-size map."""
    mesh = prediction.rms

    def rms(rows, cols):
        i = np.minimum(np.asarray(rows) * mesh.shape[0] // shape[0], mesh.shape[0] - 1)
        j = np.minimum(np.asarray(cols) * mesh.shape[1] // shape[1], mesh.shape[1] - 1)
        return mesh[i, j]

    return rms


def predict_files(paths, out_dir, predictor, *, beam=None, redshift=None, overwrite=False, progress=True):
    """Segment ``paths`` into ``out_dir``; under torchrun each rank takes every ``WORLD_SIZE``-th file.

    A file whose outputs all exist is skipped (unless ``overwrite``); a file
    that cannot be read or segmented is reported on one line and the others
    go on. An image's outputs are written in a background thread while the
    next image is segmented (one image at a time waits to be written).

    Returns
    -------
    BatchSummary
    """
    out_dir = ensure_writable_directory(out_dir)
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    mine = list(paths)[rank::world]
    summary = BatchSummary()

    def failed(path, exc):
        message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
        print(f"radio-unet: error: {message}", file=sys.stderr)
        summary.failed.append((path, message))

    def finish(writing):
        if writing is None:
            return
        path, future = writing
        try:
            future.result()
        except RadioUNetError as exc:
            failed(path, exc)
        else:
            summary.done.append(path)

    writing = None  # (path, future) of the image whose outputs are being written
    megapixels, start = 0.0, time.perf_counter()
    bar = tqdm(mine, unit="image", desc="predict", disable=not progress)
    with ThreadPoolExecutor(max_workers=1) as writer:
        for path in bar:
            outputs = output_paths(out_dir, image_stem(path), predictor.tta, bool(predictor.class_names))
            if not overwrite and all(p.exists() for p in outputs.values()):
                summary.skipped.append(path)
                continue
            try:
                write, size = _segment(path, outputs, predictor, beam, redshift, progress)
            except RadioUNetError as exc:
                failed(path, exc)
                continue
            finish(writing)
            writing = (path, writer.submit(write))
            megapixels += size
            bar.set_postfix_str(f"{megapixels / (time.perf_counter() - start):.2f} Mpix/s")
        finish(writing)
    return summary
