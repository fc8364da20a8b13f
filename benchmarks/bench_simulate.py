"""Benchmark of the simulator: fields per minute on one core.

Runs, side by side in one process pinned to one thread: simulation alone,
simulation + FITS/truth writing, and simulation + writing + quick-look PNG,
for 2000x2000 LoTSS-DR2 6" fields in the default (non-interferometric)
mode. Target: >= 20 fields per minute per core for the simulation.

    python benchmarks/bench_simulate.py [--fields 10] [--size 2000] [--interferometric]
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from radiounet.sky import FieldConfig, field_rng, get_survey, simulate_field  # noqa: E402
from radiounet.sky.batch import write_field  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fields", type=int, default=10)
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--preset", default="lotss-dr2-6")
    parser.add_argument("--interferometric", action="store_true")
    args = parser.parse_args()
    config = FieldConfig(get_survey(args.preset), shape=(args.size, args.size), interferometric=args.interferometric)
    simulate_field(config, field_rng(0, 10**6))  # warm-up: imports, FFT plans

    with tempfile.TemporaryDirectory() as directory:
        rows = []
        for label, write, png in (("simulate", False, False), ("simulate+FITS", True, False),
                                  ("simulate+FITS+PNG", True, True)):
            start = time.perf_counter()
            for i in range(args.fields):
                field = simulate_field(config, field_rng(1, i))
                if write:
                    write_field(field, directory, f"f{i}", quicklook=png)
            seconds = (time.perf_counter() - start) / args.fields
            rows.append((label, seconds))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mode = "interferometric" if args.interferometric else "default"
    print(f"{args.fields} fields of {args.size}x{args.size} px, {args.preset}, {mode} mode, 1 thread")
    print(f"{'step':<20}{'s/field':>10}{'fields/min':>12}{'vs simulate':>13}")
    for label, seconds in rows:
        print(f"{label:<20}{seconds:>10.3f}{60 / seconds:>12.1f}{seconds / rows[0][1]:>12.2f}x")
    print(f"peak memory (RSS): {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
