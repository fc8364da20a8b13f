"""Two benchmarks of the same images side by side: is the second model better than the first?

``radio-unet benchmark MODEL --against DIR`` measures ``MODEL`` and compares
it with the benchmark folder ``DIR`` of another model (written by ``radio-unet
benchmark`` with the same plan and seed): every headline figure's difference
with a paired bootstrap interval
(:func:`radiounet.evaluate.benchmark_figures.paired_differences`), and the
real images side by side.
"""

from pathlib import Path

import numpy as np
from astropy.table import Table

from radiounet.errors import MissingFileError, RadioUNetError
from radiounet.evaluate.benchmark_figures import (BOOTSTRAP_RESAMPLES, IMAGE_COLUMNS, INTERVAL_FIGURES,
                                                  INTERVAL_LEVEL, INTERVAL_TITLES, SURE_LEVEL, paired_differences)
from radiounet.evaluate.benchmark_report import (CALLED_DIFFUSE_COLUMNS, NO_INTERVALS, format_share,
                                                 format_share_range)
from radiounet.io.atomic import atomic_path
from radiounet.io.tables import read_table, write_table

__all__ = ["read_benchmark", "compare_benchmarks", "comparison_markdown", "write_comparison", "setups_in_common"]

_REQUIRED = {"benchmark.ecsv": ("family", "setup", *INTERVAL_FIGURES), "images.ecsv": IMAGE_COLUMNS}
_REQUIRED_META = ("model", "plan", "seed", "ratio_threshold")


def read_benchmark(folder):
    """The tables of a benchmark folder: ``dict(setups=, images=, real=, folder=)`` (``real`` None when absent).

    Raises
    ------
    RadioUNetError
        Naming the folder or file, when it is not a benchmark folder written by ``radio-unet benchmark`` of this
        version (which writes ``images.ecsv``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(f"{folder}: no such folder (a benchmark folder written by radio-unet benchmark)")
    tables = dict(folder=folder, real=None)
    for key, name in (("setups", "benchmark.ecsv"), ("images", "images.ecsv"), ("real", "real_skies.ecsv")):
        path = folder / name
        if not path.is_file():
            if key == "real":
                continue
            raise MissingFileError(f"{path}: no such file (a benchmark folder of radio-unet benchmark of this "
                                   "version holds benchmark.ecsv and images.ecsv)")
        tables[key] = read_table(path)
        missing = [column for column in _REQUIRED.get(name, ()) if column not in tables[key].colnames]
        if missing:
            raise RadioUNetError(f"{path}: not a benchmark table of this version (no column {missing[0]})")
    missing = [key for key in _REQUIRED_META if key not in tables["setups"].meta]
    if missing:
        raise RadioUNetError(f"{folder / 'benchmark.ecsv'}: not a benchmark table (no {missing[0]} in its header)")
    return tables


def compare_benchmarks(first, second):
    """The differences ``second`` minus ``first`` of two benchmarks of the same images.

    Parameters
    ----------
    first, second : dict
        Benchmarks as :func:`read_benchmark` returns them.

    Returns
    -------
    setups : astropy.table.Table
        One row per family and setup: for each of
        :data:`~radiounet.evaluate.benchmark_figures.INTERVAL_FIGURES` the two
        figures (``NAME_first``, ``NAME_second``), their difference ``NAME``,
        ``NAME_lo`` and ``NAME_hi`` (paired bootstrap interval) and
        ``NAME_sure`` (95% of the draws agree on the sign).
    real : astropy.table.Table
        The real images both measured, for each model (``_first``, ``_second``): the share called diffuse,
        its lowest and highest over the network's views (NaN from a folder written before they were
        measured) and the share labelled halo.
    """
    meta = [benchmark["setups"].meta for benchmark in (first, second)]
    folders = f"{first['folder']} and {second['folder']}"
    for key in ("plan", "seed"):
        if meta[0][key] != meta[1][key]:
            raise RadioUNetError(f"{folders}: benchmarks of another {key} ({meta[0][key]} and {meta[1][key]}): "
                                 "their images differ, they cannot be compared")
    thresholds = tuple(float(m["ratio_threshold"]) for m in meta)
    labels = tuple(bool(np.isfinite(np.asarray(b["setups"]["relic_labelled_radio_galaxy"], float)).any())
                   for b in (first, second))
    shared, unpaired = _paired_setups(first["setups"], second["setups"], [m.get("model") for m in meta])
    if not shared:
        raise RadioUNetError(f"{folders}: no simulated setup in common (the first measured "
                             f"{', '.join(_setup_names(first['setups']))}; the second "
                             f"{', '.join(_setup_names(second['setups']))}): nothing to compare")
    rows = []
    for family, setup in shared:
        parts = [b["images"][(b["images"]["family"] == family) & (b["images"]["setup"] == setup)]
                 for b in (first, second)]
        try:
            differences = paired_differences(*parts, thresholds, labels)
        except ValueError as error:
            raise RadioUNetError(f"{folders}: {family} {setup}: {error}; were both made with this version?") from None
        row = dict(family=family, setup=setup)
        for name in INTERVAL_FIGURES:
            for which, benchmark in (("first", first), ("second", second)):
                table = benchmark["setups"]
                row[f"{name}_{which}"] = float(table[(table["family"] == family) & (table["setup"] == setup)][name][0])
            row.update((key, differences[key]) for key in (name, f"{name}_lo", f"{name}_hi", f"{name}_sure"))
        rows.append(row)
    uncalibrated = list(dict.fromkeys(m.get("model") for m in meta if not m.get("ratio_threshold_calibrated", True)))
    setups = Table(rows=rows, meta=dict(first=meta[0].get("model"), second=meta[1].get("model"),
                                        plan=meta[0].get("plan"), seed=meta[0].get("seed"),
                                        uncalibrated=uncalibrated, unpaired=unpaired))
    return setups, _real_side_by_side(first["real"], second["real"])


def _survey_of(row):
    """A setup's survey as written in its row (None in a folder written before the column was)."""
    return str(row["survey"]) if "survey" in row.colnames else None


def _same_survey(one, other):
    """Whether two setups of one name are the same survey: their descriptions agree, or one is not written."""
    return one is None or other is None or one == other


def setups_in_common(table, surveys):
    """The surveys (:class:`~radiounet.sky.survey.Survey`) that a benchmark's setups table measured too: same name
    and, where the table says it, the same survey."""
    measured = {str(row["setup"]): _survey_of(row) for row in table}
    return [survey for survey in surveys
            if survey.name in measured and _same_survey(measured[survey.name], survey.describe())]


def _setup_names(table):
    return list(dict.fromkeys(str(name) for name in table["setup"]))


def _paired_setups(first, second, models):
    """``(family, setup)`` measured by both setups tables on the same survey, and the others as text naming the
    ``models`` of the two benchmarks."""
    surveys = {(row["family"], row["setup"]): _survey_of(row) for row in second}
    shared, unpaired = [], []
    for row in first:
        key = (row["family"], row["setup"])
        if key not in surveys:
            unpaired.append(f"{key[0]} {key[1]} (`{models[0]}`'s only)")
        elif not _same_survey(surveys[key], _survey_of(row)):
            unpaired.append(f"{key[0]} {key[1]} (another survey of that name: {_survey_of(row)} / {surveys[key]})")
        else:
            shared.append(key)
    first_keys = {(row["family"], row["setup"]) for row in first}
    unpaired += [f"{family} {setup} (`{models[1]}`'s only)" for family, setup in surveys
                 if (family, setup) not in first_keys]
    return shared, unpaired


def _real_side_by_side(first, second):
    """The real images measured in both ``real_skies`` tables, side by side."""
    figures = CALLED_DIFFUSE_COLUMNS + ("labelled_halo",)
    names = ("name", "region") + tuple(f"{figure}_{which}" for figure in figures for which in ("first", "second"))
    rows = []
    if first is not None and second is not None:
        measured = {row["name"]: row for row in second if row["status"] == "ok"}
        for row in first:
            other = measured.get(row["name"])
            if row["status"] == "ok" and other is not None:
                # A folder written before the views were measured has no lowest and highest share.
                rows.append((row["name"], row["region"]) + tuple(
                    float(table_row[figure]) if figure in table_row.colnames else np.nan
                    for figure in figures for table_row in (row, other)))
    return Table(rows=rows, names=names, dtype=[str, str] + [float] * (len(names) - 2))


def _signed(value, name):
    """A difference of figure ``name`` with its sign: Dice as it is, shares in points."""
    if name == "dice":
        return f"{value:+.3f}"
    return f"{100 * value:+.2f}" if name == "radio_galaxy_called_mean" else f"{100 * value:+.1f}"


def comparison_markdown(setups, real):
    """The comparison as a Markdown page."""
    first, second = setups.meta.get("first"), setups.meta.get("second")
    lines = [f"# `{second}` against `{first}`: the same images", "",
             f"Plan `{setups.meta.get('plan')}`, seed {setups.meta.get('seed')}. Each cell: `{second}` minus "
             f"`{first}` (points for shares), and in brackets the central {100 * INTERVAL_LEVEL:.0f}% of "
             f"{BOOTSTRAP_RESAMPLES} paired bootstrap draws of the images (both models on the same draws); in bold "
             f"where {100 * SURE_LEVEL:.1f}% of the draws agree on the sign (a two-sided 95% test: among "
             f"{len(setups) * len(INTERVAL_FIGURES)} cells, a few can be bold by chance). Higher is better but for "
             "relic → RG and RG images." + "".join(
                 f" `{model}` has no calibrated R threshold (the reference work's is used): R accuracy "
                 "differences involving it say little." for model in setups.meta.get("uncalibrated", [])), "",
             "| family | setup | " + " | ".join(INTERVAL_TITLES[name] for name in INTERVAL_FIGURES) + " |",
             "|" + "---|" * (2 + len(INTERVAL_FIGURES))]
    for row in setups:
        cells = []
        for name in INTERVAL_FIGURES:
            if not np.isfinite(row[name]):
                cells.append("–")
                continue
            cell = _signed(row[name], name)
            if np.isfinite(row[f"{name}_lo"]):
                cell += f" ({_signed(row[f'{name}_lo'], name)} to {_signed(row[f'{name}_hi'], name)})"
            cells.append(f"**{cell}**" if row[f"{name}_sure"] else cell)
        lines.append(f"| {row['family']} | {row['setup']} | " + " | ".join(cells) + " |")
    if not any(np.isfinite(row[f"{name}_lo"]) for row in setups for name in INTERVAL_FIGURES):
        lines += ["", NO_INTERVALS]
    if setups.meta.get("unpaired"):
        lines += ["", "Not compared, measured by one benchmark only: " + "; ".join(setups.meta["unpaired"]) + "."]
    lines += ["", "Real images (one image each: no interval; called diffuse in brackets: the lowest and highest over "
              "the network's eight views of the image)", ""]
    if len(real):
        lines += [f"| image | region | called diffuse: `{first}` | `{second}` | labelled halo: `{first}` "
                  f"| `{second}` |", "|" + "---|" * 6]
        lines += [f"| {row['name']} | {row['region']} | "
                  f"{format_share_range(*(row[f'{name}_first'] for name in CALLED_DIFFUSE_COLUMNS))} | "
                  f"{format_share_range(*(row[f'{name}_second'] for name in CALLED_DIFFUSE_COLUMNS))} | "
                  f"{format_share(row['labelled_halo_first'])} | "
                  f"{format_share(row['labelled_halo_second'])} |" for row in real]
    else:
        lines.append("None measured by both.")
    return "\n".join(lines) + "\n"


def write_comparison(setups, real, out):
    """Write ``comparison.ecsv``, ``comparison_real.ecsv`` and ``comparison.md`` into ``out``; returns their
    paths."""
    paths = {name: Path(out) / name for name in ("comparison.ecsv", "comparison_real.ecsv", "comparison.md")}
    write_table(setups, paths["comparison.ecsv"])
    write_table(real, paths["comparison_real.ecsv"])
    with atomic_path(paths["comparison.md"]) as tmp:
        tmp.write_text(comparison_markdown(setups, real))
    return paths
