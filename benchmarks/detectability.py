"""How much of the benchmark's diffuse emission can be found at all, and how much of it a model finds.

Every simulated image of ``radio-unet benchmark`` holding a halo or relics is drawn again (the same seeds). The
halo and the relics each have a signal-to-noise ratio as a whole (:func:`radiounet.sky.labels.labelled_snr`: the
noise-free emission summed over its labelled pixels, over the noise of that sum in beam-correlated noise), what
an aperture drawn on the true mask would measure: under about 5 no method tells the emission from the noise.
Printed per generator and setup: the share of the halo (relic) pixels that lie in images where it reaches
``--min-snr``, and with ``--benchmark`` (a model's benchmark folder) the share of those pixels the model found,
and of the others.

    python benchmarks/detectability.py [--benchmark benchmark/multisurvey-v1] [--min-snr 5] [--quick]
"""

import argparse
import sys

import numpy as np
from astropy.table import Table

from radiounet.classes import CLASS_NAMES
from radiounet.errors import RadioUNetError
from radiounet.evaluate.benchmark import (BENCHMARK_FAMILIES, BENCHMARK_SEED, BENCHMARK_SETUPS, PLANS,
                                          benchmark_fields, setup_seed)
from radiounet.evaluate.benchmark_compare import read_benchmark
from radiounet.sky import get_survey

KINDS = ("halo", "relic")


def image_snrs(family, setup, plan, seed=BENCHMARK_SEED):
    """One row per image with diffuse emission: its index, and per kind its labelled pixels and SNR."""
    survey = get_survey(setup)
    rows = []
    seed = setup_seed(seed, family, survey, True)
    for i, sky in enumerate(benchmark_fields(family, survey, plan, True, seed)):
        row = dict(index=i)
        for kind in KINDS:
            row[kind] = int((sky.labels == CLASS_NAMES.index(kind)).sum())
            row[f"{kind}_snr"] = sky.diffuse_snr[kind]
        rows.append(row)
    return Table(rows=rows)


def detectability(plan, min_snr, images=None, *, setups=BENCHMARK_SETUPS, seed=BENCHMARK_SEED):
    """The table printed: per family and setup (survey presets), the share of halo (relic) pixels in emission of
    SNR >= ``min_snr`` and, with ``images`` (a benchmark's images.ecsv), the share found of those pixels and of the
    others."""
    rows = []
    for family in BENCHMARK_FAMILIES:
        for setup in setups:
            snrs = image_snrs(family, setup, plan, seed)
            row = dict(family=family, setup=setup)
            measured = {}
            if images is not None:
                measured = {int(r["index"]): r for r in images if (r["family"], r["setup"], r["kind"])
                            == (family, setup, "diffuse")}
            for kind in KINDS:
                pixels = np.asarray(snrs[kind], dtype=float)
                strong = np.nan_to_num(np.asarray(snrs[f"{kind}_snr"], dtype=float)) >= min_snr
                row[f"{kind}_pixels"] = int(pixels.sum())
                row[f"{kind}_detectable"] = _share(pixels[strong].sum(), pixels.sum())
                if images is not None:
                    found = np.array([_found(measured, int(i), kind, int(n), family, setup)
                                      for i, n in zip(snrs["index"], snrs[kind])], dtype=float)
                    row[f"{kind}_found_detectable"] = _share(found[strong].sum(), pixels[strong].sum())
                    row[f"{kind}_found_rest"] = _share(found[~strong].sum(), pixels[~strong].sum())
            rows.append(row)
    return Table(rows=rows)


def _share(part, whole):
    return float(part / whole) if whole else float("nan")


def _found(measured, index, kind, n_pixels, family, setup):
    row = measured.get(index)
    if row is None or int(row[kind]) != n_pixels:
        raise RadioUNetError(f"images.ecsv: {family} {setup} image {index} is not the image drawn here (a "
                             "benchmark of another version, or of a survey changed from Python)")
    return float(row[f"{kind}_found"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", help="a model's benchmark folder (radio-unet benchmark's --out); its plan, "
                                            "seed and presets are taken")
    parser.add_argument("--min-snr", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="without --benchmark: the quick plan's images (default: "
                                                             "the figures of record's)")
    args = parser.parse_args(argv)
    if args.quick and args.benchmark:
        parser.error("--quick: the plan is the benchmark folder's")
    images, plan, setups, seed = None, "quick" if args.quick else "default", BENCHMARK_SETUPS, BENCHMARK_SEED
    if args.benchmark:
        tables = read_benchmark(args.benchmark)
        images, meta = tables["images"], tables["setups"].meta
        plan, seed = meta.get("plan"), int(meta.get("seed", BENCHMARK_SEED))
        if plan not in PLANS:
            raise RadioUNetError(f"{args.benchmark}: a benchmark of plan {plan!r}, not one of {', '.join(PLANS)}")
        measured = {(row["setup"], row["survey"]) for row in tables["setups"]}
        setups = [name for name in BENCHMARK_SETUPS if (name, get_survey(name).describe()) in measured]
        others = sorted({name for name, _ in measured} - set(setups))
        if others:
            print(f"detectability: left out, not a survey preset: {', '.join(others)}", file=sys.stderr)
    table = detectability(PLANS[plan], args.min_snr, images, setups=setups, seed=seed)
    for name in table.colnames:
        if table[name].dtype.kind == "f":
            table[name].format = ".2f"
    table.pprint_all()
    return table


if __name__ == "__main__":
    try:
        main()
    except RadioUNetError as exc:
        raise SystemExit(f"detectability: {exc}")
