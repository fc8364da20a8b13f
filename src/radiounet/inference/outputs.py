"""What ``radio-unet predict`` writes for an input ``STEM.fits``, each file atomically.

``STEM.prob.fits``     probability of diffuse emission (float32, NaN where blank), the input's celestial WCS
``STEM.mask.fits``     probability >= threshold (uint8)
``STEM.spread.fits``   with test-time augmentation: standard deviation over the 8 flips/rotations
``STEM.classes.fits``  with a class model: the probability of each class, a cube with a CLASS axis
``STEM.sources.ecsv``  one row per diffuse region (see :func:`radiounet.detect.diffuse_sources`)
``STEM.reg``           DS9 regions of those sources (ellipses from the region moments, labelled by id)
``STEM.png``           quick-look: image with WCS axes, probability contours, source ids, beam

The PNG is written last: a stem whose PNG exists is complete.
"""

import astropy.units as u
import numpy as np

from radiounet import __version__
from radiounet.io.atomic import atomic_path
from radiounet.io.fits import write_image
from radiounet.io.tables import write_table
from radiounet.models.store import run_model_parts

__all__ = ["output_paths", "write_prediction", "class_cube_header", "made_by"]

#: Pixels shown along the longer side of the quick-look (its image area is about 600 pixels wide).
_MAX_DISPLAY_PIXELS = 800


def output_paths(out_dir, stem, tta=False, classes=False, quicklook=True):
    """The files written for ``stem``, in writing order (the last one marks completion)."""
    names = (["prob.fits", "mask.fits"] + (["spread.fits"] if tta else []) + (["classes.fits"] if classes else [])
             + ["sources.ecsv", "reg"] + (["png"] if quicklook else []))
    return {name.split(".")[0]: out_dir / f"{stem}.{name}" for name in names}


def made_by(predictor, redshift=None):
    """The header cards that say what made ``predictor``'s outputs: ``{"RUMODEL": name, "RUMODSHA": start of the
    model file's sha256, "RUTHRESH": threshold, "RUTTA": test-time augmentation}``, and ``"RUZ"``, the redshift
    of the sizes in kpc, when one was given."""
    run, name = run_model_parts(predictor.model_name)
    made = {"RUMODEL": (name if run is None else f"{run}/{name}")[-60:], "RUMODSHA": predictor.model_sha256,
            "RUTHRESH": predictor.threshold, "RUTTA": bool(predictor.tta)}
    if redshift is not None:
        made["RUZ"] = float(redshift)
    return made


def _cards(predictor, content, redshift, rms):
    made = made_by(predictor, redshift)
    cards = [("CONTENT", content[:60], ""), ("RUMODEL", made["RUMODEL"], "model"),
             ("RUMODSHA", made["RUMODSHA"], "sha256 of the model file (start)"),
             ("RUVERS", __version__, "radiounet version"), ("RUTHRESH", made["RUTHRESH"], "mask threshold"),
             ("RUTTA", made["RUTTA"], "test-time augmentation (8 flips/rotations)"),
             ("RURMS", rms, "median noise of the image (Jy/beam)")]
    if "RUZ" in made:
        cards.append(("RUZ", made["RUZ"], "redshift of the sizes in kpc"))
    return cards


def _regions(sources, wcs, pixel_arcsec):
    from regions import EllipsePixelRegion, PixCoord, Regions

    shapes = []
    for row in sources:
        ellipse = EllipsePixelRegion(PixCoord(row["x"], row["y"]),
                                     width=2 * row["semimajor"].to_value(u.arcsec) / pixel_arcsec,
                                     height=2 * row["semiminor"].to_value(u.arcsec) / pixel_arcsec,
                                     angle=row["orientation"], meta={"text": f"diffuse {row['id']}"})
        shapes.append(ellipse.to_sky(wcs))
    return Regions(shapes)


def _quicklook(path, image, prediction, sources, radio, title):
    # Plotting imports take about half a second: predict makes them in its writing thread, off the critical path.
    from astropy.visualization import AsinhStretch, ImageNormalize
    from astropy.visualization.wcsaxes import add_beam
    from matplotlib.figure import Figure

    factor = max(1, int(np.ceil(max(image.shape) / _MAX_DISPLAY_PIXELS)))
    shown = image[::factor, ::factor]
    probability = prediction.probability[::factor, ::factor]
    wcs = radio.wcs[::factor, ::factor] if factor > 1 else radio.wcs
    rms_mjy = float(np.median(prediction.rms)) * 1e3
    figure = Figure(figsize=(7.5, 7))
    ax = figure.add_subplot(projection=wcs)
    norm = ImageNormalize(vmin=-2 * rms_mjy, vmax=50 * rms_mjy, stretch=AsinhStretch(0.02))
    im = ax.imshow(shown * 1e3, origin="lower", cmap="gray_r", norm=norm)
    # The mask threshold (thick) between a lower and an upper contour; any threshold the user chose.
    levels = {0.3: ("gold", 0.6), 0.9: ("crimson", 0.8)}
    levels[prediction.threshold] = ("orangered", 1.2)
    if np.nanmax(probability, initial=0) >= min(levels):
        ax.contour(np.nan_to_num(probability), levels=sorted(levels),
                   colors=[levels[k][0] for k in sorted(levels)],
                   linewidths=[levels[k][1] for k in sorted(levels)])
    for row in sources:
        ax.text(row["x"] / factor, row["y"] / factor, str(row["id"]), color="crimson", fontsize=9,
                fontweight="bold", ha="center", va="center")
    ax.set_xlim(-0.5, shown.shape[1] - 0.5)
    ax.set_ylim(-0.5, shown.shape[0] - 0.5)
    add_beam(ax, major=radio.beam.major, minor=radio.beam.minor, angle=radio.beam.pa, frame=True, color="k")
    galactic = radio.wcs.celestial.wcs.ctype[0].startswith("GLON")
    ax.set_xlabel("Galactic longitude" if galactic else "RA")
    ax.set_ylabel("Galactic latitude" if galactic else "Dec")
    ax.set_title(title, fontsize=9)
    figure.colorbar(im, ax=ax, label="mJy/beam", fraction=0.046, pad=0.04)
    with atomic_path(path) as tmp:
        # The fastest zlib level: images of noise hardly compress, and level 6 took a third of the writing time.
        figure.savefig(tmp, format="png", dpi=110, metadata={"Software": None}, pil_kwargs={"compress_level": 1})


def class_cube_header(header, class_names):
    """``header`` (2-D celestial) with a third axis CLASS: plane ``k`` (1-based) is ``class_names[k - 1]``."""
    header = header.copy()
    header["NAXIS"] = 3
    header["WCSAXES"] = 3
    for keyword, value, comment in (("CTYPE3", "CLASS", "class index; names in CLASSn"), ("CRPIX3", 1.0, ""),
                                    ("CRVAL3", 0.0, ""), ("CDELT3", 1.0, ""), ("CUNIT3", "", "")):
        header[keyword] = (value, comment)
    for k, name in enumerate(class_names):
        header[f"CLASS{k}"] = (name, f"plane {k + 1}")
    return header


def write_prediction(paths, radio, image_jy, prediction, sources, predictor, redshift=None):
    """Write every output of one image (``paths`` from :func:`output_paths`); ``redshift``, if the sizes of
    ``sources`` are in kpc at one."""
    header = radio.header.copy()
    header.remove("BUNIT", ignore_missing=True)
    rms = float(np.median(prediction.rms))

    def cards(content):
        return _cards(predictor, content, redshift, rms)

    write_image(paths["prob"], prediction.probability, header, cards("probability of diffuse emission"))
    write_image(paths["mask"], prediction.mask, header, cards("diffuse emission mask"))
    if "spread" in paths:
        write_image(paths["spread"], prediction.spread, header, cards("std of probability over 8 flips/rotations"))
    if "classes" in paths:
        write_image(paths["classes"], prediction.class_probability, class_cube_header(header, prediction.class_names),
                    cards("class probabilities (CLASS axis)"))
    sources.meta.update(image=str(radio.path), model=predictor.model_name, threshold=predictor.threshold,
                        tta=bool(predictor.tta), redshift=redshift, rms_jy_per_beam=rms, radiounet_version=__version__)
    write_table(sources, paths["sources"])
    with atomic_path(paths["reg"]) as tmp:
        if len(sources):
            _regions(sources, radio.wcs, radio.pixel_arcsec).write(str(tmp), format="ds9", overwrite=True)
        else:  # the regions package writes an empty file: say that it is a region file, and why it holds none
            tmp.write_text("# Region file format: DS9 version 4.1\n# radio-unet predict: no diffuse source\n")
    if "png" not in paths:
        return
    area = float(np.nanmean(prediction.mask)) if prediction.mask.size else 0.0
    title = (f"{paths['png'].stem}: {len(sources)} diffuse source(s), {area:.2%} of the area; "
             f"model {predictor.model_name.split('/')[-1]}")
    _quicklook(paths["png"], image_jy, prediction, sources, radio, title)
