"""Writing the benchmark: ECSV tables, a Markdown page and PNG panels of example images.

The panels show, for each family and setup, the image with most diffuse
emission and the radio-galaxy image with most pixels called diffuse (the
worst false positive), each beside what the model called diffuse, coloured by
the label it gave; so that a person sees the failures, not only the numbers.
"""

import datetime
from dataclasses import dataclass

import numpy as np
from astropy.table import QTable

from radiounet import __version__
from radiounet.evaluate.benchmark_figures import (BOOTSTRAP_RESAMPLES, INTERVAL_FIGURES, INTERVAL_LEVEL,
                                                  INTERVAL_TITLES)
from radiounet.io.atomic import atomic_path
from radiounet.io.tables import write_table
from radiounet.sky.labels import CLASS_NAMES

__all__ = ["CALLED_DIFFUSE_COLUMNS", "NO_INTERVALS", "Example", "write_benchmark", "markdown_report", "plot_examples",
           "format_share", "format_share_range"]

_LABEL_COLOURS = {"background": (1.0, 1.0, 0.2), "halo": (0.1, 0.6, 1.0), "relic": (1.0, 0.55, 0.0),
                  "radio_galaxy": (0.9, 0.1, 0.1), "compact": (0.8, 0.2, 0.9)}


@dataclass
class Example:
    """One image and what the model made of it, for a panel.

    ``image`` is in units of the rms; ``truth`` the true diffuse mask (a
    real halo's disc); ``labelled`` the class of each pixel (class models).
    """

    title: str
    image: np.ndarray
    truth: np.ndarray
    probability: np.ndarray
    called: np.ndarray
    labelled: np.ndarray = None
    score: float = 0.0


def format_share(value):
    """A share in [0, 1] as a percentage with one decimal; a dash for a missing (NaN) one."""
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:.1f}%"


#: A real image's share called diffuse as it is, and the lowest and highest over its views.
CALLED_DIFFUSE_COLUMNS = ("called_diffuse", "called_diffuse_min", "called_diffuse_max")


def format_share_range(share, lowest, highest):
    """A share with, in brackets, the lowest and highest over the views of the image (none if unknown or
    the same)."""
    if not all(value is not None and np.isfinite(value) for value in (share, lowest, highest)) or lowest == highest:
        return format_share(share)
    return f"{format_share(share)} ({100 * lowest:.1f}–{format_share(highest)})"


#: Said under interval tables without a single interval (the benchmark's and the comparison's).
NO_INTERVALS = ("No intervals: this plan draws too few images per setup for them (`--quick`); the default plan "
                "gives them.")


def _interval(row, name, percent):
    """The bootstrap interval of figure ``name`` in a benchmark row, as text (a dash where there is none)."""
    low, high = (row[f"{name}_{end}"] if f"{name}_{end}" in row.colnames else np.nan for end in ("lo", "hi"))
    if not (np.isfinite(low) and np.isfinite(high)):
        return "–"
    if percent:
        digits = 1 if high < 0.1 else 0
        return f"{100 * low:.{digits}f}–{100 * high:.{digits}f}%"
    return f"{low:.2f}–{high:.2f}"


def markdown_report(result, command=None, level=1):
    """The benchmark as a Markdown page: the settings, then one table per part; its title at heading ``level``
    (2 inside a model card)."""
    meta, plan = result.meta, result.setups
    title, part = "#" * level, "#" * (level + 1)
    lines = [f"{title} Benchmark of `{meta['model']}`: skies it never saw", ""]
    when = meta.get("date") or datetime.date.today().isoformat()
    lines.append(f"{when}, radiounet {__version__}" + (f": `{command}`" if command else "") + ".")
    if len(plan):
        first = plan[0]
        lines.append(f"Plan `{meta['plan']}`: {first['size']}x{first['size']}-pixel images, per setup and family "
                     f"{first['n_diffuse']} with a halo and/or relics and {first['n_radio_galaxy']} with radio "
                     f"galaxies only, clusters at redshifts {meta['redshift'][0]:g}-{meta['redshift'][1]:g} "
                     f"(seed {meta['seed']}). Probability threshold {meta['threshold']:.3g}, R threshold "
                     f"{meta['ratio_threshold']:.3g} " + (
                         "(given with --ratio-threshold)." if meta.get("ratio_threshold_given") else
                         "(the model's own)." if meta.get("ratio_threshold_calibrated", True) else
                         "(the reference work's: the model's card holds no calibrated one, so its R columns and "
                         "the real-noise detections say little; `scripts/ship_model.py` calibrates one)."))
    if meta.get("own_setups"):
        lines.append("Surveys of one's own, beside the presets: " + "; ".join(meta["own_setups"]) + ".")
    lines += ["", f"{part} Simulated skies", "",
              "*simulator*: the training simulator; *heldout*: `radiounet.sky.heldout`, never used in training. "
              "Found: share of the true halo (relic) pixels called diffuse, pooled over all images (the nearest "
              "clusters, largest in pixels, weigh most) and, in brackets, in the median image holding a halo "
              "(relic); → RG: share labelled radio galaxy; relic hesitant: share of the relic pixels not called "
              "diffuse although P(halo) + P(relic) + P(radio galaxy) reaches the threshold (lost because the model "
              "split them between diffuse emission and a radio galaxy); "
              "RG images: share of the pixels of images with radio galaxies only called diffuse; R: per-cluster "
              "detection (mean probability within 2.2 R500 above the R threshold) on all images, on those with "
              "diffuse emission (recall) and on those without (false positives).", "",
              "| family | setup | beam | Dice | precision | recall | halo found | relic found | halo → RG "
              "| relic → RG | relic hesitant | RG images: mean / p90 | R accuracy | R recall | R false pos. |",
              "|" + "---|" * 15]
    for row in plan:
        lines.append(f"| {row['family']} | {row['setup']} | {row['beam_arcsec']:g}\" | {row['dice']:.3f} | "
                     f"{row['precision']:.3f} | {row['recall']:.3f} | {format_share(row['halo_found'])} "
                     f"({format_share(row['halo_found_median'])}) | {format_share(row['relic_found'])} "
                     f"({format_share(row['relic_found_median'])}) | "
                     f"{format_share(row['halo_labelled_radio_galaxy'])} | "
                     f"{format_share(row['relic_labelled_radio_galaxy'])} | "
                     f"{format_share(row['relic_lost_to_hesitation'])} | "
                     f"{format_share(row['radio_galaxy_called_mean'])} / "
                     f"{format_share(row['radio_galaxy_called_p90'])} | {format_share(row['r_accuracy'])} | "
                     f"{format_share(row['r_recall'])} | {format_share(row['r_false_positive'])} |")
    lines += ["", "How far each figure would move with other images of the same sky: the central "
              f"{100 * INTERVAL_LEVEL:.0f}% of {BOOTSTRAP_RESAMPLES} bootstrap draws of the images (those with "
              "diffuse emission and those with radio galaxies only drawn apart; `radio-unet benchmark` lists every "
              "image in `images.ecsv`). Two models whose figures differ by less than this have not been told apart.",
              "",
              "| family | setup | " + " | ".join(INTERVAL_TITLES[name] for name in INTERVAL_FIGURES) + " |",
              "|" + "---|" * (2 + len(INTERVAL_FIGURES))]
    dashes = True
    for row in plan:
        cells = [_interval(row, name, percent=name != "dice") for name in INTERVAL_FIGURES]
        dashes = dashes and all(cell == "–" for cell in cells)
        lines.append(f"| {row['family']} | {row['setup']} | " + " | ".join(cells) + " |")
    if dashes:
        lines += ["", NO_INTERVALS]
    lines += ["", f"{part} Real noise: halos injected into real survey images", ""]
    if len(result.injection):
        lines += ["Circular exponential halos at random sites (z and R500 fixed), detected when R > the R "
                  "threshold; sites detected without a halo are left out.", "",
                  "| r_e | r_e (arcsec) | flux density | median I0 / rms | sites | detected | median R gain |",
                  "|---|---|---|---|---|---|---|"]
        for row in result.injection:
            lines.append(f"| {row['re_kpc']:g} kpc | {row['re_arcsec']:.1f} | {row['flux_mjy']:g} mJy | "
                         f"{row['i0_snr']:.2f} | {row['n_sites']} | {format_share(row['completeness'])} | "
                         f"{row['median_r_gain']:.2g} |")
        lines.append("")
        lines.append(f"{result.injection['n_detected_without_halo'][0]} site(s) detected without a halo (R above "
                     "the threshold on the real noise alone), left out of *sites* and *detected*; the R gain "
                     "(R with the halo minus R without) counts every site.")
    else:
        lines.append("Not measured (no real survey image without a cluster).")
    lines += ["", f"{part} Real skies", "",
              "A halo is measured in its disc, anything else over the whole image; bright: pixels above 5 rms. "
              "Called diffuse: the image as it is and, in brackets, the lowest and highest share over the eight "
              "views of the network (every tile turned by 0-270° and mirrored, as `--tta` averages them; one real "
              "image is one orientation of many).", "",
              "| image | kind | telescope | beam | region | called diffuse | labelled halo | labelled RG "
              "| bright pixels called diffuse | mean probability |", "|" + "---|" * 10]
    for row in result.real:
        if row["status"] != "ok":
            lines.append(f"| {row['name']} | | | | | absent | | | | |")
            continue
        lines.append(f"| {row['name']} | {row['kind']} | {row['telescope']} | {row['beam_arcsec']:.3g}\" | "
                     f"{row['region']} | {format_share_range(*(row[name] for name in CALLED_DIFFUSE_COLUMNS))} | "
                     f"{format_share(row['labelled_halo'])} | "
                     f"{format_share(row['labelled_radio_galaxy'])} | {format_share(row['bright_called_diffuse'])} | "
                     f"{row['mean_probability']:.4f} |")
    if meta.get("notes"):
        lines += ["", "Notes:", ""] + [f"- {note}" for note in meta["notes"]]
    return "\n".join(lines) + "\n"


def _show_image(ax, example):
    ax.imshow(np.arcsinh(np.nan_to_num(example.image)), origin="lower", cmap="gray", vmin=-2, vmax=5,
              interpolation="nearest")
    if example.truth.any():
        ax.contour(example.truth, [0.5], colors="cyan", linewidths=0.7)


def _show_prediction(ax, example):
    ax.imshow(np.nan_to_num(example.probability), origin="lower", cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    overlay = np.zeros(example.probability.shape + (4,))
    if example.labelled is None:
        overlay[example.called] = (*_LABEL_COLOURS["background"], 0.6)
    else:
        for index, name in enumerate(CLASS_NAMES):
            overlay[example.called & (example.labelled == index)] = (*_LABEL_COLOURS[name], 0.7)
    ax.imshow(overlay, origin="lower", interpolation="nearest")
    if example.truth.any():
        ax.contour(example.truth, [0.5], colors="cyan", linewidths=0.7)


def plot_examples(pairs, path, title):
    """A panel of rows of ``(Example, Example)`` pairs (either may be None): image, prediction, image, prediction."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 2.9 * len(pairs) + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(pairs), 4))
    for row, pair in zip(axes, pairs):
        for k, example in enumerate(pair):
            image_ax, prediction_ax = row[2 * k], row[2 * k + 1]
            for ax in (image_ax, prediction_ax):
                ax.set_xticks([])
                ax.set_yticks([])
            if example is None:
                image_ax.set_axis_off()
                prediction_ax.set_axis_off()
                continue
            _show_image(image_ax, example)
            _show_prediction(prediction_ax, example)
            image_ax.set_title(example.title, fontsize=6, loc="left", wrap=True)
            prediction_ax.set_title("called diffuse, by label", fontsize=7, loc="left")
    fig.suptitle(f"{title}\ncyan: true diffuse emission (real halo: its disc); called diffuse, coloured by label: "
                 "halo blue, relic orange, radio galaxy red, compact violet, background (binary model) yellow",
                 fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=70, format="png")


def write_benchmark(result, out, command=None):
    """Write ``benchmark.ecsv``, ``images.ecsv``, ``injection.ecsv``, ``real_skies.ecsv``, ``benchmark.md``,
    ``benchmark.png`` and ``benchmark_real.png`` into the folder ``out``; returns their paths."""
    paths = {name: out / name for name in ("benchmark.ecsv", "images.ecsv", "injection.ecsv", "real_skies.ecsv",
                                           "benchmark.md", "benchmark.png", "benchmark_real.png")}
    for table, name in ((result.setups, "benchmark.ecsv"), (result.images, "images.ecsv"),
                        (result.injection, "injection.ecsv"), (result.real, "real_skies.ecsv")):
        table = QTable(table)
        table.meta.update({key: value for key, value in result.meta.items()}, command=command)
        write_table(table, paths[name])
    with atomic_path(paths["benchmark.md"]) as tmp:
        tmp.write_text(markdown_report(result, command))
    simulated = [(pictures.get("diffuse"), pictures.get("radio_galaxies"))
                 for key, pictures in result.examples.items() if key[0] != "real"]
    plot_examples(simulated, paths["benchmark.png"], f"{result.meta['model']} on simulated skies "
                                                     "(left: most diffuse emission; right: worst radio-galaxy image)")
    real = [pictures["real"] for key, pictures in result.examples.items() if key[0] == "real"]
    if real:
        pairs = [(real[i], real[i + 1] if i + 1 < len(real) else None) for i in range(0, len(real), 2)]
        plot_examples(pairs, paths["benchmark_real.png"], f"{result.meta['model']} on real images")
    else:
        paths.pop("benchmark_real.png")
    return paths
