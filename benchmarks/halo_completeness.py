"""Completeness of a model's halos: which simulated halos it finds, by brightness and by size in beams.

Whole images of survey presets, each holding one halo (no relic, no radio galaxy beside the compact sources
the preset draws), are segmented as ``radio-unet predict`` segments an image. Each halo is binned by its
central surface brightness I0 in units of the rms per beam (I0 times the beam solid angle over the rms: what an
exponential fit of a halo, e.g. Halo-FDCA's, gives with the image's noise) and by its e-folding radius r_e in
beam FWHM; a cell gives how many of its halos have more than half of their pixels (the reference mask,
0.5 rms) called diffuse, and the median share found. Clusters at redshift 0.02-0.9, the benchmark's range,
at a seed of this script's own.

    python benchmarks/halo_completeness.py [--model multisurvey-v1] [--setups lotss-dr2-20 lotss-dr2-60]
                                           [--fields 40] [--size 512]
"""

import argparse

import numpy as np
import torch
from astropy.table import Table

from radiounet.errors import RadioUNetError
from radiounet.evaluate.synthetic import segment_simulated_field
from radiounet.inference import Predictor
from radiounet.sky import CLASS_NAMES, FieldConfig, SkyConfig, field_rng, get_survey, simulate_field

#: Seed of the images, apart from training, calibration, held-out and benchmark seeds.
COMPLETENESS_SEED = 444_000_001
#: I0 bins in units of the rms per beam, each drawn log-uniformly.
BRIGHTNESS_BINS = ((1.0, 3.0), (3.0, 10.0), (10.0, 30.0), (30.0, 100.0))
#: r_e bins in beam FWHM.
SIZE_BINS = ((0.0, 0.5), (0.5, 1.5), (1.5, 5.0), (5.0, np.inf))


def halo_found(predictor, survey, brightness, *, n_fields, size, seed):
    """One row per halo drawn with I0 in ``brightness`` (rms per beam): its I0, r_e in beams and share found."""
    sky = SkyConfig(fraction_diffuse=1.0, fraction_radio_galaxies=0.0, redshift=(0.02, 0.9), halo_probability=1.0,
                    relic_probability=0.0, halo_snr=tuple(brightness))
    config = FieldConfig(survey, shape=(size, size), sky=sky)
    halo_label = CLASS_NAMES.index("halo")
    rows = []
    for i in range(n_fields):
        field = simulate_field(config, field_rng(seed, i))
        mask = field.labels == halo_label
        if not mask.any():
            continue
        prediction = segment_simulated_field(predictor, field, survey, f"completeness image {i} of seed {seed}")
        halo = next(c for c in field.components if c.kind == "halo")
        rows.append((halo.surface_brightness_snr, halo.params["re_pix"] / survey.beam_fwhm_pixels,
                     int(mask.sum()), float(prediction.mask[mask].mean())))
    return rows


def completeness_table(rows):
    """Per brightness and size bin: halos, those more than half found, and the median share found."""
    rows = np.array(rows, dtype=float).reshape(-1, 4)
    table = Table(names=("I0 / rms", "r_e / beam", "halos", "found (> half)", "median found"),
                  dtype=(str, str, int, int, float))
    for low, high in BRIGHTNESS_BINS:
        for small, large in SIZE_BINS:
            cell = rows[(rows[:, 0] >= low) & (rows[:, 0] < high) & (rows[:, 1] >= small) & (rows[:, 1] < large)]
            if len(cell):
                table.add_row((f"{low:g}-{high:g}", f"{small:g}-{large:g}", len(cell), int((cell[:, 3] > 0.5).sum()),
                               float(np.median(cell[:, 3]))))
    table["median found"].format = ".2f"
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="multisurvey-v1")
    parser.add_argument("--setups", nargs="+", default=["lotss-dr2-6", "lotss-dr2-20", "lotss-dr2-60", "meerkat-mgcls"],
                        metavar="PRESET")
    parser.add_argument("--fields", type=int, default=40, help="images per setup and brightness bin (default: 40)")
    parser.add_argument("--size", type=int, default=512, help="side of the images in pixels (default: 512)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    try:
        predictor = Predictor(args.model, args.device)
        surveys = [get_survey(name) for name in args.setups]
    except RadioUNetError as error:
        parser.exit(2, f"halo_completeness.py: {error}\n")
    torch.set_grad_enabled(False)
    for k, survey in enumerate(surveys):
        rows = []
        for b, brightness in enumerate(BRIGHTNESS_BINS):
            rows += halo_found(predictor, survey, brightness, n_fields=args.fields, size=args.size,
                               seed=COMPLETENESS_SEED + 1000 * k + b)
        beam = survey.beam_fwhm_pixels * survey.pixel_arcsec
        print(f"\n{args.model} on {survey.name} ({beam:.3g}\" beam), {args.size}x{args.size} images:")
        completeness_table(rows).pprint(max_lines=-1, max_width=-1)


if __name__ == "__main__":
    main()
