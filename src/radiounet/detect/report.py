"""The HTML report of a detection run: a sortable table with one thumbnail per cluster.

The page and its ``thumbnails/`` folder open offline in any browser; clicking
a column header sorts the table.
"""

import html

import numpy as np
from astropy.visualization import AsinhStretch, ImageNormalize
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from radiounet import __version__
from radiounet.detect.clusters import from_class_model
from radiounet.io.atomic import atomic_path
from radiounet.io.names import safe_filename

__all__ = ["save_thumbnail", "thumbnail_filename", "write_report"]

_SORT_SCRIPT = """
document.querySelectorAll('th').forEach((th, column) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0];
  const rows = Array.from(body.rows);
  const ascending = th.dataset.order !== 'asc';
  th.dataset.order = ascending ? 'asc' : 'desc';
  rows.sort((a, b) => {
    const x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
    const nx = parseFloat(x), ny = parseFloat(y);
    const result = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
    return ascending ? result : -result;
  });
  rows.forEach(row => body.appendChild(row));
}));
"""


def thumbnail_filename(name):
    """File name of a cluster's thumbnail: its name with unsafe characters replaced (:func:`safe_filename`)."""
    return safe_filename(name) + ".png"


def save_thumbnail(path, image, prediction, centre, radius, row):
    """PNG of a cluster cutout: image (asinh), aperture circle, probability contours."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.asarray(image.data, dtype=np.float32) * image.jy_per_unit * 1e3
    rms = float(np.median(prediction.rms)) * 1e3
    figure = Figure(figsize=(3.2, 3.2))
    ax = figure.add_subplot(projection=image.wcs)
    ax.imshow(data, origin="lower", cmap="gray_r",
              norm=ImageNormalize(vmin=-2 * rms, vmax=30 * rms, stretch=AsinhStretch(0.02)))
    probability = np.nan_to_num(prediction.probability)
    if probability.max() >= 0.3:
        ax.contour(probability, levels=[0.3, prediction.threshold], colors=["gold", "orangered"], linewidths=0.8)
    ax.add_patch(Circle(centre, radius, fill=False, edgecolor="deepskyblue", linestyle="--", linewidth=1))
    ax.set_title(f"{row['name']}  R={row['R']:.3f}", fontsize=8)
    ax.coords[0].set_ticklabel_visible(False)
    ax.coords[1].set_ticklabel_visible(False)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=80, metadata={"Software": None})


def _cell(value, unit=""):
    if isinstance(value, (float, np.floating)):
        text = "" if np.isnan(value) else f"{value:.4g}{unit}"
        return f'<td data-value="{value}">{text}</td>'
    return f'<td data-value="{html.escape(str(value))}">{html.escape(str(value))}</td>'


def write_report(path, detections, thumbnail_names):
    """Write ``report.html`` for a detections table; ``thumbnail_names`` maps cluster name -> PNG path.

    Detections of a class model (finite ``R_halo``) also show the class ratios and probabilities.
    """
    columns = ["name", "z", "r500_kpc", "R", "detected", "class", "status", "coverage", "n_sources",
               "largest_source_kpc"]
    if from_class_model(detections):
        columns += [c for c in ("R_halo", "R_relic", "R_radio_galaxy", "R_halo_R500", "R_relic_outskirts", "P_none",
                                "P_halo", "P_relic", "P_both") if c in detections.colnames]
    rows = []
    for row in detections:
        thumb = thumbnail_names.get(row["name"])
        image = f'<img src="{html.escape(thumb)}" width="200" loading="lazy">' if thumb else ""
        cells = [f"<td>{image}</td>"]
        for column in columns:
            value = row[column]
            value = value.value if hasattr(value, "unit") else value
            cells.append(_cell(value.item() if isinstance(value, np.generic) else value))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(f"<th>{c}</th>" for c in ["thumbnail"] + columns)
    meta = detections.meta
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>radiounet detections</title>
<style>body{{font-family:sans-serif}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:4px}}
th{{cursor:pointer;background:#eee}}</style></head><body>
<h1>Diffuse emission in {len(detections)} clusters</h1>
<p>R = mean probability of diffuse emission within {meta.get('factor')} R500; detected when
R &gt; {meta.get('ratio_threshold')}. Model: {html.escape(str(meta.get('model')))}; radiounet {__version__}.
Click a column header to sort.</p>
<table><thead><tr>{header}</tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table><script>{_SORT_SCRIPT}</script></body></html>
"""
    with atomic_path(path) as tmp:
        tmp.write_text(page)
