"""The benchmark on real images: how much of a real halo is found, how much of a real radio galaxy is not.

Two sources of real images, both optional:

* a folder of labelled images with a ``labels.csv`` (columns ``file``,
  ``kind`` = ``halo`` / ``radio_galaxy`` / ``compact``, and for a halo
  ``ra_deg``, ``dec_deg``, ``radius_arcmin``; ``telescope`` and ``note`` are
  shown when there), such as the project's reference folder of real skies;
* the real images bundled with the tests of a checkout (a LoTSS-DR1 field
  without a cluster, Fornax A seen by the VLA and the MWA), found beside the
  package when it is installed from a clone.

A halo is measured in its disc (share called diffuse, share labelled halo);
anything else over the whole image (share called diffuse, and share of its
bright pixels, above 5 times the median of the noise mesh that ``predict``
normalised with, called diffuse). One real image is one draw of orientation:
the share called diffuse is also measured with the network seeing every tile
turned by 90, 180 and 270 degrees and mirrored (the eight views that test-time
augmentation averages; the same regridding, noise mesh and tiles), and the
lowest and highest of the eight are kept beside it.
"""

import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import Table

from radiounet.errors import MissingFileError, RadioUNetError
from radiounet.evaluate.benchmark_report import Example
from radiounet.io.image import read_radio_image
from radiounet.models.store import sha256_of
from radiounet.sky.labels import CLASS_NAMES

__all__ = ["REAL_COLUMNS", "LABEL_KINDS", "ORIENTATIONS", "bundled_real_images", "read_real_labels", "real_sky_table"]

#: Columns of the real-sky table.
REAL_COLUMNS = ("name", "kind", "telescope", "beam_arcsec", "region", "called_diffuse", "called_diffuse_min",
                "called_diffuse_max", "labelled_halo", "labelled_radio_galaxy", "bright_called_diffuse",
                "mean_probability", "status")
#: The network's views of a tile, as (quarter turns, mirrored): itself first.
ORIENTATIONS = tuple((turns, mirrored) for turns in range(4) for mirrored in (False, True))
#: What ``labels.csv`` may say an image holds; ``no_cluster`` is a survey field without a cluster.
LABEL_KINDS = ("halo", "radio_galaxy", "compact", "no_cluster")
_BUNDLED = {"lotss-dr1": ("lotss_dr1_P218+55_200px.fits", "no_cluster", "LOFAR LoTSS-DR1"),
            "vla-fornax-a": ("vla_fornax_a_no_bmaj.fits", "radio_galaxy", "VLA"),
            "mwa-fornax-a": ("mwa_fornax_a_185mhz.fits", "radio_galaxy", "MWA")}
_BRIGHT_SNR = 5.0


def _bundled_dir():
    return Path(__file__).resolve().parents[3] / "tests" / "data"


def bundled_real_images():
    """``{name: path}`` of the real test images that this installation has (none from a wheel)."""
    folder = _bundled_dir()
    return {name: folder / file for name, (file, _, _) in _BUNDLED.items() if (folder / file).is_file()}


def read_real_labels(folder):
    """The rows of ``FOLDER/labels.csv`` as a Table; a one-line error naming the file when it is unusable."""
    path = Path(folder) / "labels.csv"
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file, the labels.csv of a real-data folder (columns file, kind, "
                               "ra_deg, dec_deg, radius_arcmin)")
    try:
        table = Table.read(path, format="ascii.csv")
    except Exception as exc:  # astropy raises many kinds for a broken CSV
        raise RadioUNetError(f"{path}: not a readable CSV table ({exc})") from None
    missing = [name for name in ("file", "kind") if name not in table.colnames]
    if missing:
        raise RadioUNetError(f"{path}: missing column(s) {', '.join(missing)}")
    for row in table:
        if not (Path(folder) / str(row["file"])).is_file():
            raise MissingFileError(f"{Path(folder) / str(row['file'])}: no such file, though listed in {path}")
        if row["kind"] not in LABEL_KINDS:
            raise RadioUNetError(f"{path}: kind {row['kind']!r} of {row['file']} is not one of "
                                 f"{', '.join(LABEL_KINDS)}")
        if row["kind"] == "halo" and not all(name in table.colnames and np.isfinite(_float(row[name]))
                                             for name in ("ra_deg", "dec_deg", "radius_arcmin")):
            raise RadioUNetError(f"{path}: the halo {row['file']} needs ra_deg, dec_deg and radius_arcmin")
    return table


def _float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def measure_real_image(predictor, path, kind, *, centre=None, radius_arcmin=None):
    """The figures of one real image, and an example for the panel.

    Returns
    -------
    row : dict
        ``region`` is ``"halo disc"`` or ``"image"``; fractions in [0, 1];
        ``called_diffuse_min`` and ``_max`` over the :data:`ORIENTATIONS`.
    example : radiounet.evaluate.benchmark.Example
    """
    with read_radio_image(path) as image:
        data = np.asarray(image.data, dtype=np.float32) * image.jy_per_unit
        prepared = predictor.prepare(image)
        prediction = predictor.predict(image, prepared=prepared)
        beam = float(image.beam.major.to_value(u.arcsec))
        if centre is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                x, y = (float(v) for v in image.wcs.world_to_pixel(centre))
            rows, cols = np.indices(image.shape)
            region = np.hypot(cols - x, rows - y) <= radius_arcmin * 60 / image.pixel_arcsec
        else:
            region = np.ones(image.shape, dtype=bool)
        valid = region & np.isfinite(prediction.probability)
        if not valid.any():
            raise RadioUNetError(f"{path}: the region to measure lies outside the image or on blank pixels")
        called = prediction.mask[valid]
        shares = [float(called.mean())] + [
            float(predictor.predict(image, prepared=prepared, orientation=view).mask[valid].mean())
            for view in ORIENTATIONS[1:]]
    labelled = prediction.class_probability.argmax(0)[valid] if prediction.class_probability is not None else None
    rms = float(np.median(prediction.rms))  # the noise predict normalised with
    bright = (data[valid] > _BRIGHT_SNR * rms)
    row = dict(kind=kind, beam_arcsec=beam, region="halo disc" if centre is not None else "image",
               called_diffuse=shares[0], called_diffuse_min=min(shares), called_diffuse_max=max(shares),
               labelled_halo=float((labelled == CLASS_NAMES.index("halo")).mean()) if labelled is not None else np.nan,
               labelled_radio_galaxy=(float((labelled == CLASS_NAMES.index("radio_galaxy")).mean())
                                      if labelled is not None else np.nan),
               bright_called_diffuse=float(called[bright].mean()) if bright.any() else np.nan,
               mean_probability=float(np.mean(prediction.probability[valid])), status="ok")
    example = Example(title=f"{Path(path).name} ({kind})", image=data / rms,
                      truth=region if centre is not None else np.zeros(region.shape, bool),
                      probability=prediction.probability, called=prediction.mask,
                      labelled=prediction.class_probability.argmax(0) if labelled is not None else None)
    return row, example


def real_sky_table(predictor, real_data, bundled, noise_images):
    """Every real image measured: the labelled folder, the bundled test images and the noise images.

    Returns
    -------
    table : astropy.table.Table
        Columns :data:`REAL_COLUMNS`; a labelled folder that was not given,
        or bundled images that are not installed, are rows with ``status`` absent.
    examples : dict
        ``name -> Example``.
    notes : list of str
        What was absent, in words.
    """
    rows, examples, notes = [], {}, []
    entries = []
    if real_data is not None:
        folder = Path(real_data)
        for row in read_real_labels(folder):
            path = folder / str(row["file"])
            centre = radius = None
            if row["kind"] == "halo":
                centre = SkyCoord(_float(row["ra_deg"]) * u.deg, _float(row["dec_deg"]) * u.deg)
                radius = _float(row["radius_arcmin"])
            telescope = str(row["telescope"]) if "telescope" in row.colnames else ""
            entries.append((str(row["file"]), path, str(row["kind"]), telescope, centre, radius))
    else:
        notes.append("real skies: no labelled real-image folder given (--real-data, e.g. ../shared/data/real): "
                     "the real halo and radio galaxies are not measured")
        rows.append(_absent("labelled real images (--real-data)"))
    for name, (file, kind, telescope) in _BUNDLED.items():
        if name in bundled:
            entries.append((name, bundled[name], kind, telescope, None, None))
        else:
            rows.append(_absent(f"{name} (bundled test image, not installed)"))
            notes.append(f"real skies: the bundled test image {file} is not in this installation")
    # A noise image may be a copy of a bundled one (the LoTSS-DR1 test image is): measure each content once.
    seen = {sha256_of(path) for _, path, *_ in entries}
    for path in noise_images or ():
        digest = sha256_of(path)
        if digest not in seen:
            seen.add(digest)
            entries.append((Path(path).name, Path(path), "no_cluster", "", None, None))
    for name, path, kind, telescope, centre, radius in entries:
        row, example = measure_real_image(predictor, path, kind, centre=centre, radius_arcmin=radius)
        rows.append(dict(name=name, telescope=telescope, **row))
        examples[name] = example
    table = Table(rows=[{key: row.get(key, "" if key in ("name", "kind", "telescope", "region", "status")
                                     else np.nan) for key in REAL_COLUMNS} for row in rows], names=REAL_COLUMNS)
    return table, examples, notes


def _absent(name):
    return dict(name=name, status="absent")
