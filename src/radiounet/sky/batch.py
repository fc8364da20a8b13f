"""Simulate many fields into a directory, in parallel, resumably.

Layout of the output directory, for ``prefix="field"``::

    simulation.json            configuration and seed of the run (provenance)
    field_00000.fits           observed image, Jy/beam
    field_00000.mask.fits      reference mask of diffuse emission (uint8)
    field_00000.labels.fits    class labels (uint8, see CLASS_NAMES)
    field_00000.png            quick-look
    field_00000.truth.ecsv     the field's components; field-level truth in its meta
    truth.ecsv                 one row per field
    components.ecsv            one row per halo, relic and radio galaxy

A field is complete when its ``.truth.ecsv`` exists: it is written last, and
every file is written atomically, so a rerun of an interrupted run simulates
only the missing fields and produces the same bytes as an uninterrupted one.
"""

import json

import astropy.units as u
import numpy as np
from astropy.table import QTable, Table, vstack

from radiounet._parallel import run_jobs
from radiounet.errors import (InvalidParameterError, RadioUNetError, require_non_negative_int,
                              require_positive_int)
from radiounet.io.atomic import atomic_path, ensure_writable_directory
from radiounet.io.fits import image_header, write_image
from radiounet.io.tables import write_table
from radiounet.sky.field import field_rng, simulate_field
from radiounet.sky.labels import CLASS_NAMES
from radiounet.sky.truth import components_table, field_truth_row, rows_to_qtable

__all__ = ["simulate_to_directory", "write_field"]


def write_field(field, directory, name, quicklook=True):
    """Write one simulated field's FITS files, quick-look and truth into ``directory`` (created if needed)."""
    directory = ensure_writable_directory(directory)
    survey = field.config.survey
    header = image_header(field.wcs, survey, bunit="Jy/beam")
    write_image(directory / f"{name}.fits", field.image, header)
    label_header = image_header(field.wcs, survey)
    write_image(directory / f"{name}.mask.fits", field.mask, label_header,
                [("MASKTHR", field.config.mask_threshold, "mask threshold [image rms]"),
                 ("CONTENT", "diffuse emission mask", "1 = halo or relic")])
    write_image(directory / f"{name}.labels.fits", field.labels, label_header,
                [(f"CLASS{i}", cls, "label value") for i, cls in enumerate(CLASS_NAMES)])
    if quicklook:
        from radiounet.plotting.quicklook import save_field_quicklook

        save_field_quicklook(field, directory / f"{name}.png")
    components = components_table(field, name)
    truth = field_truth_row(field, name)
    components.meta["field_truth"] = {
        k: (float(v.value) if hasattr(v, "unit") else v.item() if isinstance(v, np.generic) else v)
        for k, v in truth.items()
    }
    components.meta["field_truth_columns"] = list(truth)
    components.meta["field_truth_units"] = {k: str(v.unit) for k, v in truth.items() if hasattr(v, "unit")}
    write_table(components, directory / f"{name}.truth.ecsv")
    return truth


def _simulate_and_write(config, seed, index, directory, name, quicklook):
    field = simulate_field(config, field_rng(seed, index))
    write_field(field, directory, name, quicklook)
    return index


def _provenance(config, seed, prefix, quicklook):
    from radiounet import __version__

    return dict(radiounet_version=__version__, seed=int(seed), prefix=prefix, quicklook=quicklook,
                config=config.to_dict())


def simulate_to_directory(directory, config, n_fields, seed=0, *, workers=1, prefix="field", quicklook=True,
                          progress=True):
    """Simulate ``n_fields`` fields of ``config`` into ``directory``.

    Parameters
    ----------
    directory : str or Path
        Output directory; created if needed.
    config : radiounet.sky.FieldConfig
    n_fields : int
    seed : int
        Seed of the run; field ``i`` uses ``field_rng(seed, i)``.
    workers : int
        Number of processes.
    prefix : str
        File name prefix of the fields.
    quicklook : bool
        Write a PNG per field.
    progress : bool
        Show a progress bar.

    Returns
    -------
    astropy.table.QTable
        The truth table (also written to ``truth.ecsv``).

    Raises
    ------
    InvalidParameterError
        For a bad count, seed or worker number.
    RadioUNetError
        If the directory holds a run made with another configuration or seed.
    """
    require_positive_int(n_fields, "n_fields")
    require_positive_int(workers, "workers")
    require_non_negative_int(seed, "seed")
    if not prefix or "/" in prefix:
        raise InvalidParameterError("prefix", prefix, "must be a non-empty file name prefix")
    directory = ensure_writable_directory(directory)
    provenance = json.loads(json.dumps(_provenance(config, seed, prefix, quicklook)))
    provenance_path = directory / "simulation.json"
    if provenance_path.exists():
        try:
            previous = json.loads(provenance_path.read_text())
        except (OSError, ValueError) as exc:
            raise RadioUNetError(f"{provenance_path}: not a readable record of the simulation ({exc}); choose an "
                                 "empty directory") from None
        if previous != provenance:
            raise RadioUNetError(
                f"{directory} holds a simulation with another configuration or seed "
                f"(see {provenance_path}); choose an empty directory"
            )
    else:
        with atomic_path(provenance_path) as tmp:
            tmp.write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n")

    names = [f"{prefix}_{i:05d}" for i in range(n_fields)]
    beyond = sorted(set(p.name.removesuffix(".truth.ecsv") for p in directory.glob(f"{prefix}_*.truth.ecsv"))
                    - set(names))
    if beyond:
        raise RadioUNetError(f"{directory} holds {len(beyond)} more fields than --n-fields {n_fields} (from "
                             f"{beyond[0]}); give at least --n-fields {n_fields + len(beyond)}, or an empty directory")
    todo = [i for i in range(n_fields) if not (directory / f"{names[i]}.truth.ecsv").exists()]
    jobs = [(config, seed, i, directory, names[i], quicklook) for i in todo]
    run_jobs(_simulate_and_write, jobs, workers, total=n_fields, done=n_fields - len(todo), unit="field",
             desc="simulate", progress=progress)
    return _write_tables(directory, names)


def _write_tables(directory, names):
    per_field = []
    for name in names:
        path = directory / f"{name}.truth.ecsv"
        try:
            per_field.append(Table.read(path, format="ascii.ecsv"))
        except (OSError, ValueError) as exc:
            raise RadioUNetError(f"{path}: not a readable truth table ({exc}); delete it and run the same command "
                                 "to simulate the field again") from None
    rows = []
    for table in per_field:
        row = {key: table.meta["field_truth"][key] for key in table.meta["field_truth_columns"]}
        for key, unit in table.meta["field_truth_units"].items():
            row[key] = row[key] * u.Unit(unit)
        rows.append(row)
    truth = rows_to_qtable(rows)
    components = vstack([QTable(t) for t in per_field], metadata_conflicts="silent")
    components.meta.clear()
    truth.meta["description"] = "Simulated fields: one row per field (radiounet simulate)"
    components.meta["description"] = "Halos, relics and radio galaxies of the simulated fields"
    for table, filename in ((truth, "truth.ecsv"), (components, "components.ecsv")):
        write_table(table, directory / filename)
    return truth
