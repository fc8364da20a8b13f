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

With ``--mosaic N`` it instead writes an N x N mosaic (a simulated 2000x2000 field repeated) to
a temporary FITS file and runs ``radio-unet predict`` on it in a child process, printing the
wall time and the child's peak memory (target for 10000 x 10000: <= 2 GB); on Linux also the
peaks of its anonymous and file-backed (memory-mapped) resident memory.

    python benchmarks/bench_predict.py [--model NAME (default: the default model)] [--size 2000] [--threads 2]
    python benchmarks/bench_predict.py --mosaic 10000
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from radiounet.inference import Predictor, sliding_window_inference
from radiounet.inference.noise import NormalisedImage, rms_mesh
from radiounet.models.store import DEFAULT_MODEL
from radiounet.sky import FieldConfig, field_rng, get_survey, simulate_field


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--mosaic", type=int, help="measure peak memory of predict on an N x N mosaic")
    args = parser.parse_args()
    if args.mosaic:
        return mosaic_memory(args.mosaic, args.model)
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


def mosaic_memory(size, model):
    """Write a size x size mosaic, run radio-unet predict on it in a child process, report time and memory."""
    import resource
    import subprocess
    import sys
    import tempfile

    from astropy.io import fits

    from radiounet.io.fits import image_header

    config = FieldConfig(get_survey("lotss-dr2-6"), shape=(2000, 2000))
    field = simulate_field(config, field_rng(3, 0))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "mosaic.fits"
        header = image_header(field.wcs, config.survey, bunit="Jy/beam")
        header["CRPIX1"] = header["CRPIX2"] = size / 2
        hdu = fits.PrimaryHDU(np.zeros((1, 1), np.float32), header)
        hdu.header["NAXIS1"] = hdu.header["NAXIS2"] = size
        hdu.header.tofile(path)
        with open(path, "r+b") as stream:  # grow the file to its full size without a big array in memory
            stream.seek(len(hdu.header.tostring()) + size * size * 4 - 1)
            stream.write(b"\0")
            stream.seek(0, 2)
            stream.write(b"\0" * (-stream.tell() % 2880))
        with fits.open(path, mode="update", memmap=True) as hdul:
            for row in range(0, size, 2000):
                for col in range(0, size, 2000):
                    block = field.image[: min(2000, size - row), : min(2000, size - col)]
                    hdul[0].data[row:row + block.shape[0], col:col + block.shape[1]] = block
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "radiounet.cli", "predict", str(path), "--out",
                                  str(Path(directory) / "out"), "--model", model, "--device", "cpu",
                                  "--no-progress"])
        resident = _peak_resident_kinds(child)
        if child.returncode:
            raise SystemExit(f"radio-unet predict failed (exit {child.returncode})")
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    kinds = (f" (anonymous {resident['RssAnon']:.0f} MiB, file-backed {resident['RssFile']:.0f} MiB: memory-mapped "
             "inputs and outputs, which the kernel can drop)" if resident else "")
    print(f"{size}x{size} mosaic: radio-unet predict took {seconds:.0f} s, peak memory {peak:.0f} MiB{kinds}")


def _peak_resident_kinds(child, interval=0.3):
    """Peaks of the child's anonymous and file-backed resident memory (MiB), sampled from /proc (Linux only).

    ``ru_maxrss`` counts the pages of memory-mapped files as well, which the
    kernel can write back and drop; the anonymous part is what the process holds.
    """
    status = Path(f"/proc/{child.pid}/status")
    peaks = {}
    while child.poll() is None:
        try:
            for line in status.read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("RssAnon", "RssFile"):
                    peaks[key] = max(peaks.get(key, 0.0), int(value.split()[0]) / 1024)
        except OSError:
            pass
        time.sleep(interval)
    return peaks if len(peaks) == 2 else {}


def _tiles(size, tile, stride):
    n = int(np.ceil((size - tile) / stride)) + 1
    return n * n


if __name__ == "__main__":
    main()
