"""Segment many images: progress bar, resume, per-file errors, sharding over torchrun ranks."""

import os
import sys
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from radiounet.errors import RadioUNetError, require_positive_int
from radiounet.inference.outputs import made_by, output_paths, write_prediction
from radiounet.inference.predictor import image_in_jy
from radiounet.io.atomic import ensure_writable_directory
from radiounet.io.image import as_paths, first_image_hdu, read_radio_image

__all__ = ["BatchSummary", "predict_files", "default_writers", "image_stem", "expand_inputs"]

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


def _holds_no_image(path):
    """Whether ``path`` is a readable FITS file without an image (a source catalogue, say); a file that cannot be
    read is left to the reader, which names its problem."""
    from astropy.io import fits

    try:
        with fits.open(path) as hdul:
            return first_image_hdu(hdul) is None
    except Exception:  # astropy raises many kinds for broken files
        return False


def expand_inputs(inputs):
    """Files as given; a folder stands for the FITS images in it, without radiounet's own products (and without
    FITS tables, skipped with a warning).

    Raises
    ------
    RadioUNetError
        If that leaves no file (empty folders).
    """
    paths = []
    for item in inputs:
        item = Path(item)
        if not item.is_dir():
            paths.append(item)
            continue
        for path in sorted(p for p in item.iterdir() if p.name.lower().endswith(_SUFFIXES)
                           and not p.name.lower().endswith(PRODUCT_SUFFIXES)):
            if not _holds_no_image(path):
                paths.append(path)
            elif not int(os.environ.get("RANK", "0")):  # under torchrun every rank expands the folder
                print(f"radio-unet: warning: skipping {path}: no image in this FITS file (a table?)", file=sys.stderr)
    if not paths:
        raise RadioUNetError(f"no FITS image in {' '.join(map(str, inputs))}")
    return paths


def _open(path, predictor, beam):
    """Read ``path`` and prepare it for the network (:meth:`Predictor.prepare`): the stack that closes the image,
    the image, its prepared form. A batch runs it in a thread for the next image while the network segments this
    one."""
    stack = ExitStack()
    try:
        radio = stack.enter_context(read_radio_image(path, beam))
        return stack, radio, predictor.prepare(radio)
    except BaseException:
        stack.close()
        raise


def _segment(opened, out, predictor, redshift, progress=False):
    """Segment one image opened by :func:`_open`; return the job that finds its diffuse sources and writes its
    outputs (then closes the image and removes scratch files), and the image's size in Mpixel.

    The job runs in a writing thread while the next image is segmented. With ``progress``, a mosaic (above
    :data:`LARGE_IMAGE_PIXELS`) gets its own progress bar in Mpix/s.
    """
    stack, radio, prepared = opened
    scratch = out["prob"].with_name("." + out["prob"].name.removesuffix(".prob.fits") + ".scratch")
    stack.callback(_remove_scratch, scratch)
    try:
        large = radio.data.size > LARGE_IMAGE_PIXELS
        prediction = predictor.predict(radio, scratch=scratch if large else None, progress=progress and large,
                                       prepared=prepared)
    except BaseException:
        stack.close()
        raise

    def write():
        with stack:
            image_jy = image_in_jy(radio)
            sources = prediction.sources(radio, redshift=redshift, image_jy=image_jy)
            try:
                write_prediction(out, radio, image_jy, prediction, sources, predictor, redshift)
            except BaseException:
                for written in out.values():  # no partial set of outputs (a full disk): all or none
                    if written.is_file():
                        written.unlink()
                raise

    return write, radio.data.size / 1e6


def _making(cards):
    """What made a set of outputs, in words, from its header cards (:func:`.outputs.made_by`)."""
    words = f"model {cards.get('RUMODEL')}"
    if cards.get("RUMODSHA"):
        words += f" (sha256 {cards['RUMODSHA']}...)"
    words += f" at threshold {cards.get('RUTHRESH')}"
    if "RUTTA" not in cards:  # written before the cards of --tta and --redshift
        return words
    if cards["RUTTA"]:
        words += " with --tta"
    return words + (f", redshift {cards['RUZ']:g}" if "RUZ" in cards else ", no --redshift")


def _require_same_making(prob_path, predictor, redshift):
    """Outputs skipped as done must be this model's (the same file's sha256) at this threshold, with the same
    test-time augmentation and redshift (the cards :mod:`.outputs` writes; maps written before ``RUMODSHA`` are
    compared by the model's name, before ``RUTTA`` whatever their augmentation and redshift)."""
    from astropy.io import fits

    try:
        header = fits.getheader(prob_path)
    except (OSError, ValueError) as exc:
        raise RadioUNetError(f"{prob_path}: not a readable FITS file ({exc}); give --overwrite") from None
    made = made_by(predictor, redshift)
    found = {key: header[key] for key in ("RUMODEL", "RUMODSHA", "RUTHRESH", "RUTTA", "RUZ") if key in header}
    # The model file's sha256 tells models apart; its name only where maps are older than RUMODSHA (which named a
    # run's model by its file name alone).
    same = ((found["RUMODSHA"] == made["RUMODSHA"] if "RUMODSHA" in found
             else found.get("RUMODEL") in (made["RUMODEL"], Path(predictor.model_name).name[-60:]))
            and np.isclose(found.get("RUTHRESH", np.nan), made["RUTHRESH"])
            and ("RUTTA" not in found or (found["RUTTA"] == made["RUTTA"] and ("RUZ" in found) == ("RUZ" in made)
                                          and np.isclose(found.get("RUZ", 0.0), made.get("RUZ", 0.0)))))
    if not same:
        raise RadioUNetError(f"{prob_path}: made with {_making(found)}, not {_making(made)}; give --overwrite to "
                             "replace the outputs, or another --out")


def _remove_scratch(scratch):
    for leftover in scratch.parent.glob(f"{scratch.name}.*.npy"):
        leftover.unlink()


def default_writers():
    """Threads that write outputs at once: one on a small machine, where the network needs the cores; beside a GPU,
    where the network waits for the writing, one per four cores up to four."""
    cores = os.cpu_count() or 1
    return 1 if cores <= 4 else min(4, cores // 4)


def predict_files(paths, out_dir, predictor, *, beam=None, redshift=None, overwrite=False, progress=True,
                  writers=None, quicklook=True):
    """Segment ``paths`` into ``out_dir``; under torchrun each rank takes every ``WORLD_SIZE``-th file.

    A file whose outputs all exist is skipped (unless ``overwrite``); a file
    that cannot be read or segmented is reported on one line and the others
    go on. Three stages overlap: a thread reads the next image and measures
    its noise mesh while the network segments this one, and ``writers``
    threads (default :func:`default_writers`) find the diffuse sources of
    the images segmented before and write their outputs. Without
    ``quicklook`` no PNG is drawn (about half the writing time of a
    2000x2000 image; survey runs that look at the maps in a viewer skip it).

    Returns
    -------
    BatchSummary
    """
    if writers is None:
        writers = default_writers()
    require_positive_int(writers, "writers")
    unique = {}
    for path in as_paths(paths):
        unique.setdefault(Path(path).resolve(), path)  # a file given twice (a folder and its file) is done once
    paths = list(unique.values())
    first_of_stem = {}
    for path in paths:
        other = first_of_stem.setdefault(image_stem(path), path)
        if other != path:
            raise RadioUNetError(f"{path}: its outputs would overwrite those of {other} (both {image_stem(path)}.*); "
                                 "segment them into different --out folders")
    out_dir = ensure_writable_directory(out_dir)
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    summary = BatchSummary()
    todo = []
    for path in paths[rank::world]:
        outputs = output_paths(out_dir, image_stem(path), predictor.tta, bool(predictor.class_names), quicklook)
        if not overwrite and all(p.exists() for p in outputs.values()):
            _require_same_making(outputs["prob"], predictor, redshift)
            summary.skipped.append(path)
        else:
            todo.append((path, outputs))

    def failed(path, exc):
        message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
        print(f"radio-unet: error: {message}", file=sys.stderr)
        summary.failed.append((path, message))

    def finish(path, future):
        try:
            future.result()
        except RadioUNetError as exc:
            failed(path, exc)
        else:
            summary.done.append(path)

    writing = deque()  # (path, future) of the images whose outputs are being written, oldest first
    megapixels, start = 0.0, time.perf_counter()
    bar = tqdm(total=len(todo), unit="image", desc="predict", disable=not progress)
    with ThreadPoolExecutor(max_workers=1) as reader, ThreadPoolExecutor(max_workers=writers) as writer:
        opening = reader.submit(_open, todo[0][0], predictor, beam) if todo else None
        try:
            for k, (path, outputs) in enumerate(todo):
                current = opening
                opening = reader.submit(_open, todo[k + 1][0], predictor, beam) if k + 1 < len(todo) else None
                try:
                    write, size = _segment(current.result(), outputs, predictor, redshift, progress)
                except RadioUNetError as exc:
                    failed(path, exc)
                    bar.update()
                    continue
                while len(writing) >= writers:
                    finish(*writing.popleft())
                writing.append((path, writer.submit(write)))
                megapixels += size
                bar.update()
                bar.set_postfix_str(f"{megapixels / (time.perf_counter() - start):.2f} Mpix/s")
            while writing:
                finish(*writing.popleft())
        finally:
            # Interrupted: close the image read ahead.
            if opening is not None and not opening.cancel() and opening.exception() is None:
                opening.result()[0].close()
    bar.close()
    return summary
