"""Benchmark of whole-image inference on CPU, side by side in one run.

For one 2000x2000 LoTSS-like image (simulated) and the default model, times:

* ``radiounet``: radiounet.inference.sliding_window_inference as predict uses it
  (tile 192, crop 48: stride 96, central 96x96 of each tile kept), noise
  normalisation included;
* ``non-overlapping``: the same network on non-overlapping tiles (stride 192, no crop):
  the cheapest tiling, with visible seams;
* ``monai``: MONAI's sliding_window_inference with the same tile and 50% overlap
  (constant blending), when MONAI is installed (``pip install monai``; a benchmark-only
  dependency).

Prints tiles per second, seconds per image and the ratio to radiounet's time.

    python benchmarks/bench_predict.py [--model lotss-diffuse-v1] [--size 2000] [--threads 2]
"""

import argparse
import time

import numpy as np
import torch

from radiounet.inference import Predictor, sliding_window_inference
from radiounet.inference.noise import NormalisedImage, rms_mesh
from radiounet.sky import FieldConfig, field_rng, get_survey, simulate_field


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lotss-diffuse-v1")
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    image = simulate_field(FieldConfig(get_survey("lotss-dr2-6"), shape=(args.size, args.size)),
                           field_rng(3, 0)).image
    predictor = Predictor(args.model, "cpu", batch_size=args.batch)
    tile, crop = predictor.tile, predictor.crop
    network = predictor._network

    def radiounet_run():
        mesh = rms_mesh(image, 2 * tile)
        return sliding_window_inference(NormalisedImage(image, mesh, 2 * tile), network, tile=tile, crop=crop,
                                        batch_size=args.batch)

    def non_overlapping_run():
        mesh = rms_mesh(image, 2 * tile)
        return sliding_window_inference(NormalisedImage(image, mesh, 2 * tile), network, tile=tile, crop=0,
                                        batch_size=args.batch)

    runs = [("radiounet", radiounet_run, _tiles(args.size, tile, tile - 2 * crop)),
            ("non-overlapping", non_overlapping_run, _tiles(args.size, tile, tile))]
    try:
        from monai.inferers import sliding_window_inference as monai_swi

        def monai_run():
            mesh = rms_mesh(image, 2 * tile)
            normalised = NormalisedImage(image, mesh, 2 * tile)[0:args.size, 0:args.size]
            with torch.no_grad():
                return monai_swi(torch.from_numpy(normalised)[None, None], (tile, tile), args.batch, network,
                                 overlap=0.5, mode="constant")

        runs.append(("monai (overlap 0.5)", monai_run, _tiles(args.size, tile, tile // 2)))
    except ImportError:
        print("MONAI not installed: its row is skipped (pip install monai)")

    radiounet_run()  # warm-up
    print(f"{args.size}x{args.size} image, tile {tile}, model {args.model}, {args.threads} CPU threads, "
          f"batch {args.batch}")
    print(f"{'method':<22}{'tiles':>7}{'s/image':>10}{'tiles/s':>10}{'vs radiounet':>14}")
    reference = None
    for name, run, tiles in runs:
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
        reference = reference or seconds
        print(f"{name:<22}{tiles:>7}{seconds:>10.2f}{tiles / seconds:>10.1f}{seconds / reference:>13.2f}x")


def _tiles(size, tile, stride):
    n = int(np.ceil((size - tile) / stride)) + 1
    return n * n


if __name__ == "__main__":
    main()
