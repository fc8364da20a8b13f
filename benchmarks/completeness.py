"""Completeness of a model: which simulated halos or relics it finds, by brightness and by size in beams.

Whole images of survey presets, each holding one halo or one relic (no radio galaxy beside the compact sources
the preset draws), are segmented as ``radio-unet predict`` segments an image. Each halo or relic is binned by
its peak surface brightness I0 in units of the rms per beam (I0 times the beam solid angle over the rms, before
the beam: for a halo the exponential profile's central brightness, what a fit such as Halo-FDCA's gives with the
image's noise) and by its size in beam FWHM (a halo's e-folding radius r_e, a relic's width); a cell gives how
many of them have more than half of their pixels (the reference mask, 0.5 rms) called diffuse, and the median
share found. Clusters at redshift 0.02-0.9, the benchmark's range, at a seed of this script's own.

    python benchmarks/completeness.py [--kind halo|relic] [--model multisurvey-v1] [--threshold 0.3]
                                      [--setups lotss-dr2-20 lotss-dr2-60] [--fields 40] [--size 512]
"""

import argparse
import zlib

import numpy as np
import torch
from astropy.table import Table

from radiounet.errors import RadioUNetError
from radiounet.evaluate.synthetic import segment_simulated_field
from radiounet.inference import Predictor
from radiounet.sky import CLASS_NAMES, FieldConfig, SkyConfig, field_rng, get_survey, simulate_field

#: Seed of the images, apart from training, calibration, held-out and benchmark seeds; each setup and
#: brightness bin draws at a seed of its own (:func:`setup_seed`).
COMPLETENESS_SEED = 444_000_001
#: I0 bins in units of the rms per beam, each drawn log-uniformly.
BRIGHTNESS_BINS = ((1.0, 3.0), (3.0, 10.0), (10.0, 30.0), (30.0, 100.0))
#: Size bins in beam FWHM.
SIZE_BINS = ((0.0, 0.5), (0.5, 1.5), (1.5, 5.0), (5.0, np.inf))
#: What each kind's size is: the component parameter (pixels) and its column name.
SIZES = {"halo": ("re_pix", "r_e / beam"), "relic": ("width_pix", "width / beam")}


def setup_seed(survey_name, bin_index):
    """The seed of a survey's images in one brightness bin: from its name, so that a setup gets the same images
    whichever others are measured beside it."""
    return COMPLETENESS_SEED + 1000 * (zlib.crc32(survey_name.encode()) % 100_000) + bin_index


def _sky(kind, brightness):
    """One halo or one relic (no pair) per field, with I0 drawn in ``brightness``."""
    common = dict(fraction_diffuse=1.0, fraction_radio_galaxies=0.0, redshift=(0.02, 0.9))
    if kind == "halo":
        return SkyConfig(**common, halo_probability=1.0, relic_probability=0.0, halo_snr=tuple(brightness))
    return SkyConfig(**common, halo_probability=0.0, relic_probability=1.0, relic_pair_probability=0.0,
                     relic_snr=tuple(brightness))


def found(predictor, survey, kind, brightness, *, n_fields, size, seed):
    """One row per halo or relic drawn with I0 in ``brightness`` (rms per beam): I0, size in beams, its mask
    pixels and the share of them called diffuse."""
    config = FieldConfig(survey, shape=(size, size), sky=_sky(kind, brightness))
    label = CLASS_NAMES.index(kind)
    size_key = SIZES[kind][0]
    rows = []
    for i in range(n_fields):
        field = simulate_field(config, field_rng(seed, i))
        mask = field.labels == label
        if not mask.any():
            continue
        prediction = segment_simulated_field(predictor, field, survey, f"completeness image {i} of seed {seed}")
        component = next(c for c in field.components if c.kind == kind)
        rows.append((component.surface_brightness_snr, component.params[size_key] / survey.beam_fwhm_pixels,
                     int(mask.sum()), float(prediction.mask[mask].mean())))
    return rows


def completeness_table(rows, size_name="r_e / beam"):
    """Per brightness and size bin: how many, how many more than half found, and the median share found."""
    rows = np.array(rows, dtype=float).reshape(-1, 4)
    table = Table(names=("I0 / rms", size_name, "n", "found (> half)", "median found"),
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
    parser.add_argument("--kind", choices=sorted(SIZES), default="halo")
    parser.add_argument("--model", default="multisurvey-v1")
    parser.add_argument("--threshold", type=float, help="probability threshold (default: the model's)")
    parser.add_argument("--setups", nargs="+", default=["lotss-dr2-6", "lotss-dr2-20", "lotss-dr2-60", "meerkat-mgcls"],
                        metavar="PRESET")
    parser.add_argument("--fields", type=int, default=40, help="images per setup and brightness bin (default: 40)")
    parser.add_argument("--size", type=int, default=512, help="side of the images in pixels (default: 512)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    try:
        predictor = Predictor(args.model, args.device, threshold=args.threshold)
        surveys = [get_survey(name) for name in args.setups]
    except RadioUNetError as error:
        parser.exit(2, f"completeness.py: {error}\n")
    torch.set_grad_enabled(False)
    for survey in surveys:
        rows = []
        for b, brightness in enumerate(BRIGHTNESS_BINS):
            rows += found(predictor, survey, args.kind, brightness, n_fields=args.fields, size=args.size,
                          seed=setup_seed(survey.name, b))
        beam = survey.beam_fwhm_pixels * survey.pixel_arcsec
        print(f"\n{args.model} (threshold {predictor.threshold:g}), {args.kind}s on {survey.name} ({beam:.3g}\" beam), "
              f"{args.size}x{args.size} images:")
        completeness_table(rows, SIZES[args.kind][1]).pprint(max_lines=-1, max_width=-1)


if __name__ == "__main__":
    main()
