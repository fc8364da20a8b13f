"""Pictures of one measured cluster for ``report.html``: a gallery card and a full view.

:class:`ClusterViews` is the ``views`` hook of
:func:`radiounet.detect.clusters.detect_clusters`; for each measured cluster it
writes into one folder (``thumbnails/`` of ``radio-unet detect``):

``NAME.png``           the card: image (asinh), class colours, probability contour and aperture
``NAME.full.png``      the full view: image with the sources, probability map and pixel classes
``NAME.sources.ecsv``  the diffuse sources inside the aperture

where NAME is the cluster's name made file-safe (:func:`thumbnail_filename`).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.visualization import AsinhStretch, ImageNormalize
from matplotlib import patheffects
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Patch

from radiounet.io.atomic import atomic_path
from radiounet.io.names import safe_filename
from radiounet.io.tables import write_table

__all__ = ["CLASS_COLOURS", "ClusterViews", "Display", "draw_card", "draw_full_view", "full_view_filename",
           "pixel_labels", "sources_filename", "thumbnail_filename"]

#: Colours of the cluster classes and of the pixel classes, shared by the pictures and the page.
CLASS_COLOURS = {"none": "#9aa0a6", "unmeasured": "#e3e5e8", "halo": "#2b83ba", "relic": "#e8710a", "both": "#8e44ad",
                 "diffuse": "#1a9850", "radio_galaxy": "#d81b60", "compact": "#b0b0b0", "background": "#ffffff"}
#: Pixel labels of the class map (values of :func:`pixel_labels`).
PIXEL_LABELS = ("background", "halo", "relic", "diffuse", "radio_galaxy", "compact")
_DPI = 100
_CARD_INCHES = 3.2
#: Most pixels drawn along a side: larger cutouts are thinned (every n-th pixel), as no panel is wider.
_DISPLAY_PIXELS = 400
_APERTURE_COLOUR = "#0097a7"
_OUTLINE = [patheffects.withStroke(linewidth=2.5, foreground="white")]


def thumbnail_filename(name):
    """File name of a cluster's card: its name with unsafe characters replaced (:func:`safe_filename`)."""
    return safe_filename(name) + ".png"


def full_view_filename(name):
    """File name of a cluster's full view (image, probability map, pixel classes)."""
    return safe_filename(name) + ".full.png"


def sources_filename(name):
    """File name of the table of a cluster's diffuse sources inside its aperture."""
    return safe_filename(name) + ".sources.ecsv"


def pixel_labels(prediction):
    """Index into :data:`PIXEL_LABELS` of every pixel of a prediction.

    Pixels called diffuse (``probability >= threshold``) are halo or relic,
    whichever is more probable (``diffuse`` for a binary model); the others
    take the most probable of background, radio galaxy and compact.
    """
    probability = np.nan_to_num(prediction.probability)
    called = probability >= prediction.threshold
    labels = np.zeros(probability.shape, dtype=np.uint8)
    if prediction.class_probability is None:
        labels[called] = PIXEL_LABELS.index("diffuse")
        return labels
    planes = {name: np.nan_to_num(p) for name, p in zip(prediction.class_names, prediction.class_probability)}
    others = ("background", "radio_galaxy", "compact")
    best = np.argmax(np.stack([planes[name] for name in others]), axis=0)
    for k, name in enumerate(others):
        labels[best == k] = PIXEL_LABELS.index(name)
    halo = planes["halo"] >= planes["relic"]
    labels[called & halo] = PIXEL_LABELS.index("halo")
    labels[called & ~halo] = PIXEL_LABELS.index("relic")
    return labels


@dataclass
class Display:
    """What the pictures show of a cutout, thinned to at most ``_DISPLAY_PIXELS`` a side.

    Attributes
    ----------
    image_mjy, probability, labels : numpy.ndarray
        Thinned image (mJy/beam), probability of diffuse emission (NaN where
        blank) and :func:`pixel_labels`.
    x, y : numpy.ndarray
        Pixel coordinates of the thinned columns and rows in the cutout.
    shape : tuple
        Shape of the cutout: drawings keep its pixel coordinates.
    norm : astropy.visualization.ImageNormalize
    threshold : float
    """

    image_mjy: np.ndarray
    probability: np.ndarray
    labels: np.ndarray
    x: np.ndarray
    y: np.ndarray
    shape: tuple
    norm: ImageNormalize
    threshold: float

    @classmethod
    def of(cls, image, prediction):
        """The display of ``image`` (a :class:`radiounet.io.image.RadioImage`) and its ``prediction``.

        The image is stretched (asinh) from -1 to 15 times the median noise,
        so that faint diffuse emission shows.
        """
        shape = prediction.probability.shape
        step = max(1, int(np.ceil(max(shape) / _DISPLAY_PIXELS)))
        thin = (slice(None, None, step), slice(None, None, step))
        rms_mjy = float(np.median(prediction.rms)) * 1e3
        return cls(image_mjy=np.asarray(image.data[thin], dtype=np.float32) * image.jy_per_unit * 1e3,
                   probability=prediction.probability[thin], labels=pixel_labels(prediction)[thin],
                   x=np.arange(shape[1])[::step], y=np.arange(shape[0])[::step], shape=shape,
                   norm=ImageNormalize(vmin=-rms_mjy, vmax=15 * rms_mjy, stretch=AsinhStretch(0.1)),
                   threshold=prediction.threshold)

    @property
    def extent(self):
        return (-0.5, self.shape[1] - 0.5, -0.5, self.shape[0] - 0.5)

    def show_image(self, ax):
        return ax.imshow(self.image_mjy, origin="lower", cmap="gray_r", norm=self.norm, extent=self.extent)

    def show_labels(self, ax, colours, alpha):
        """The pixel labels in ``colours`` (label -> colour); labels without a colour are transparent."""
        palette = np.array([to_rgba(colours[name], alpha) if name in colours else (0, 0, 0, 0)
                            for name in PIXEL_LABELS])
        ax.imshow(palette[self.labels], origin="lower", interpolation="nearest", extent=self.extent)

    def contour(self, ax, colour, linewidth):
        """The threshold of the probability map."""
        probability = np.nan_to_num(self.probability)
        if probability.max() >= self.threshold:
            ax.contour(self.x, self.y, probability, levels=[self.threshold], colors=colour, linewidths=linewidth)

    def frame(self, ax, centre, radius, colour=_APERTURE_COLOUR):
        """The aperture (dashed) and the cutout's limits, without ticks."""
        ax.add_patch(Circle(centre, radius, fill=False, edgecolor=colour, linestyle="--", linewidth=1.2))
        ax.set_xlim(self.extent[:2])
        ax.set_ylim(self.extent[2:])
        ax.set_xticks([])
        ax.set_yticks([])


def draw_card(display, centre, radius):
    """Card of the gallery: the image (grey), the pixels called diffuse and the radio galaxies in their
    class colours, the threshold contour and the aperture (dashed)."""
    figure = Figure(figsize=(_CARD_INCHES, _CARD_INCHES), dpi=_DPI)
    ax = figure.add_axes((0, 0, 1, 1))
    display.show_image(ax)
    display.show_labels(ax, {name: CLASS_COLOURS[name] for name in ("halo", "relic", "diffuse", "radio_galaxy")},
                        0.3)
    display.contour(ax, "black", 0.7)
    display.frame(ax, centre, radius)
    return figure


def _label_sources(ax, sources):
    for source in sources:
        ax.text(source["x"], source["y"], str(source["id"]), color="crimson", fontsize=10, fontweight="bold",
                ha="center", va="center", path_effects=_OUTLINE)


def _legend(ax, labels):
    present = [PIXEL_LABELS[k] for k in np.unique(labels) if PIXEL_LABELS[k] != "background"]
    if present:
        ax.legend(handles=[Patch(color=CLASS_COLOURS[name], label=name.replace("_", " ")) for name in present],
                  loc="upper right", fontsize=7, framealpha=0.8)


def draw_full_view(display, centre, radius, sources):
    """Full view of a cluster: the image with its numbered diffuse sources, the probability of diffuse
    emission and the pixel classes, each with the threshold contour or the aperture."""
    figure = Figure(figsize=(9.6, 3.3), dpi=_DPI)
    # Three square panels of 2.64 inches, the first two with a colour bar (fixed places: no layout engine).
    axes = [figure.add_axes((left, 0.04, 0.275, 0.8)) for left in (0.01, 0.36, 0.715)]
    bars = [figure.add_axes((left, 0.1, 0.012, 0.68)) for left in (0.29, 0.64)]
    figure.colorbar(display.show_image(axes[0]), cax=bars[0], label="mJy/beam")
    shown = axes[1].imshow(display.probability, origin="lower", cmap="magma", vmin=0, vmax=1, extent=display.extent)
    figure.colorbar(shown, cax=bars[1], label="P(diffuse)")
    display.show_labels(axes[2], CLASS_COLOURS, 1.0)
    _legend(axes[2], display.labels)
    display.contour(axes[0], "orangered", 0.8)
    display.contour(axes[1], "cyan", 0.8)
    _label_sources(axes[0], sources)
    for ax, title, colour in zip(axes, ("image", "probability of diffuse emission", "pixel classes"),
                                 (_APERTURE_COLOUR, "white", _APERTURE_COLOUR)):
        display.frame(ax, centre, radius, colour)
        ax.set_title(title, fontsize=10)
    return figure


def _save(figure, path):
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=_DPI, metadata={"Software": None})


class ClusterViews:
    """Writes the card, the full view and the sources of each measured cluster into ``folder``.

    Parameters
    ----------
    folder : path
        Created if needed.

    Examples
    --------
    >>> from radiounet.detect.clusters import detect_clusters       # doctest: +SKIP
    >>> detect_clusters(catalog, images, predictor, views=ClusterViews("thumbnails"))  # doctest: +SKIP
    """

    def __init__(self, folder):
        self.folder = Path(folder)

    def __call__(self, row, image, prediction, centre, radius, sources):
        """Write the files of the cluster of detection ``row`` (a dict with its ``name``).

        ``centre`` (x, y) and ``radius`` are the aperture's, in pixels of
        ``image``, the cutout segmented into ``prediction``; ``sources`` are
        the diffuse sources inside the aperture.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        name = row["name"]
        display = Display.of(image, prediction)
        _save(draw_card(display, centre, radius), self.folder / thumbnail_filename(name))
        _save(draw_full_view(display, centre, radius, sources), self.folder / full_view_filename(name))
        write_table(sources, self.folder / sources_filename(name))
