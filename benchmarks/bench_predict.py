"""Speed of whole-image inference, side by side in one run: radio-unet predict against the reference network.

For simulated LoTSS 6" images of each size (default 1000, 2000, 4000 and 10000 pixels square) it prints, per image:

* ``radio-unet predict``: the whole command in a child process (start, imports, reading, noise mesh, network,
  writing every output, quick-look) over a batch of images, divided by their number, with the child's peak memory;
* ``predict, 0.1.0 tiles``: the same with the training tiles of 0.1.0 (``--tile 192 --crop 48``: each pixel four
  times through the network), run once;
* ``predict, freed memory not retained``: the same with ``RADIOUNET_RETAIN_MEMORY=0``, glibc's allocator left as
  it is (every large activation mapped fresh from the system), run once; the rows in this process run with
  the setting on, as predict does;
* ``default network``: the default model's network through predict's sliding window, in this process, no I/O;
  on a CPU also in bfloat16 (``--precision bfloat16``), with the whole command in that precision as a
  ``radio-unet predict`` row of its own;
* ``reference network``: the published Radio U-Net's architecture rebuilt in PyTorch (first convolution at stride
  2, filters 32-512, residual blocks, 11.3 M parameters against the original's 12.4 M) on its tiles of 192 at its stride of 96, keeping the
  central 96x96: inference only, no I/O, as the reference was timed. When TensorFlow is installed, pass
  ``--keras-unet PATH/TO/UNet.py`` to time the Keras original instead of the stand-in;
* ``MONAI``: MONAI's ``sliding_window_inference`` with the default network on 192-pixel tiles at half overlap,
  when MONAI is installed (``pip install monai``; a benchmark-only dependency);
* ``ONNX Runtime``: the default model exported by ``radio-unet export`` through predict's sliding window, when
  ONNX Runtime is installed (``pip install 'radiounet[onnx]' onnxruntime``);
* ``predict, network skipped``: predict's batch path in this process (reading, noise mesh, normalisation,
  stitching, source finding, writing every output; imports excluded) with a network that costs nothing: the
  ceiling that everything around the network puts on ``radio-unet predict``, which a GPU cannot lift; and the
  same with ``--no-png`` (no quick-look drawn).

Seconds per image (the fastest of ``--repeats`` runs), Mpixel per second, and the reference's time over each row's
("x reference": how many times faster than the reference network). The network rows run up to 4000 pixels
(``--network-sizes``); the 10000-pixel mosaic runs once.

    python benchmarks/bench_predict.py [--sizes 1000 2000 4000 10000] [--threads 2] [--device cpu|cuda] [--batch N]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from torch import nn

from radiounet.inference import Predictor, sliding_window_inference
from radiounet.inference.noise import NormalisedImage, rms_mesh
from radiounet.models.store import DEFAULT_MODEL
from radiounet.sky import FieldConfig, field_rng, get_survey, simulate_field

SURVEY = "lotss-dr2-6"
#: Images per batch of the predict rows, by image size (a batch of the smaller ones, one mosaic of the largest).
BATCH = {1000: 8, 2000: 5, 4000: 2}


class _Residual(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels))
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


class ReferenceUNet(nn.Module):
    """The reference Radio U-Net's shape: a stride-2 first convolution, residual blocks of 32-512 filters (two at
    each level, one at 512), transposed convolutions up, a last upsampling to the input grid and a sigmoid:
    11.3 M parameters (the original: 12.4 M; the difference lies at the 6x6-pixel bottom, where it costs little
    arithmetic)."""

    def __init__(self, filters=(32, 64, 128, 256, 512)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, filters[0], 3, stride=2, padding=1), nn.ReLU())
        self.down = nn.ModuleList()
        channels = filters[0]
        for k, width in enumerate(filters):
            blocks = [_Residual(channels, width)] + ([_Residual(width, width)] if k < len(filters) - 1 else [])
            self.down.append(nn.Sequential(nn.MaxPool2d(2) if k else nn.Identity(), *blocks))
            channels = width
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for width in reversed(filters[:-1]):
            self.up.append(nn.ConvTranspose2d(channels, width, 2, stride=2))
            self.merge.append(nn.Sequential(_Residual(2 * width, width), _Residual(width, width)))
            channels = width
        self.head = nn.Sequential(nn.ConvTranspose2d(channels, channels, 2, stride=2), nn.ReLU(),
                                  nn.Conv2d(channels, 1, 1), nn.Sigmoid())

    def forward(self, x):
        x = self.stem(x)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1])):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)


def _keras_predictor(path):
    """The Keras original from its UNet.py (``UNet`` built for 192x192 tiles), as a tile predictor."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("reference_unet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    keras_model = module.UNet((192, 192, 1))

    def predict(batch):
        return torch.from_numpy(keras_model.predict(batch.permute(0, 2, 3, 1).numpy(), verbose=0)).permute(0, 3, 1, 2)

    return predict


def write_images(directory, size, count):
    """``count`` simulated images of ``size`` pixels square (mosaics of 2000-pixel fields above 2000)."""
    from astropy.io import fits

    from radiounet.io.fits import image_header

    block = min(size, 2000)
    config = FieldConfig(get_survey(SURVEY), shape=(block, block))
    paths = []
    for i in range(count):
        field = simulate_field(config, field_rng(3, i))
        header = image_header(field.wcs, config.survey, bunit="Jy/beam")
        header["CRPIX1"] = header["CRPIX2"] = size / 2
        reps = -(-size // block)
        image = np.tile(field.image, (reps, reps))[:size, :size]
        path = directory / f"image{size}_{i}.fits"
        fits.PrimaryHDU(image.astype(np.float32), header).writeto(path)
        paths.append(path)
    return paths


def time_predict(paths, out, model, device, threads, extra=(), repeats=1, env=None):
    """Seconds per image and peak memory (MiB) of ``radio-unet predict`` over ``paths`` in a child process (the
    fastest of ``repeats`` runs), with ``env`` added to its environment."""
    runs = [_time_predict_once(paths, out, model, device, threads, extra, env or {}) for _ in range(repeats)]
    return min(seconds for seconds, _ in runs), max(peak for _, peak in runs)


def _time_predict_once(paths, out, model, device, threads, extra, env):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), **env)
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        child = subprocess.Popen([sys.executable, "-m", "radiounet.cli", "predict", *map(str, paths), "--out",
                                  str(out), "--model", model, "--device", device, "--no-progress", *extra], env=env,
                                 stdout=subprocess.DEVNULL, stderr=errors)
        peak = _peak_anonymous_memory(child)
        seconds = time.perf_counter() - start
        if child.returncode:
            errors.seek(0)
            raise SystemExit(f"radio-unet predict failed (exit {child.returncode}): {errors.read().strip()}")
    shutil.rmtree(out)
    return seconds / len(paths), peak


def time_pipeline(paths, out, model, device, quicklook=True):
    """Seconds per image of predict's batch path over ``paths`` in this process, with a network that costs
    nothing (a constant probability): what reading, the noise mesh, normalisation, stitching, source finding and
    writing cost per image when they overlap as in ``radio-unet predict``."""
    from radiounet.inference.batch import predict_files

    predictor = Predictor(model, device)

    def free_network(batch):
        n, _, height, width = batch.shape
        return batch.new_full((n, predictor.channels, height, width), 0.01)

    predictor._network = free_network
    predict_files(paths[:1], out, predictor, progress=False)  # warm-up: the plotting and table imports
    shutil.rmtree(out)
    start = time.perf_counter()
    predict_files(paths, out, predictor, progress=False, quicklook=quicklook)
    seconds = (time.perf_counter() - start) / len(paths)
    shutil.rmtree(out)
    return seconds


def _peak_anonymous_memory(child, interval=0.05):
    """Peak anonymous resident memory (MiB) of a running child, sampled from /proc (Linux; NaN elsewhere).

    The pages of memory-mapped inputs and outputs are left out: the kernel can
    write them back and drop them, so they do not limit the image size.
    """
    status = Path(f"/proc/{child.pid}/status")
    peak = float("nan")
    while child.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("RssAnon:"):
                    peak = np.fmax(peak, int(line.split()[1]) / 1024)
        except OSError:
            pass
        time.sleep(interval)
    return peak


def _timed(function, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    function()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def onnx_network(model, directory, threads):
    """The model exported to ONNX, as a tile predictor running in ONNX Runtime on the CPU (None without it)."""
    try:
        import onnxruntime
    except ImportError:
        return None
    from radiounet.models.export import export_onnx

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(export_onnx(model, directory / "model.onnx")), options,
                                           providers=["CPUExecutionProvider"])

    def predict(batch):
        return torch.from_numpy(session.run(None, {"image": batch.numpy()})[0])

    return predict


def network_rows(image, predictor, reference, device, monai_window, onnx_predict, repeats, bfloat16=None):
    """Seconds of each in-process network row on ``image`` (noise mesh and normalisation included; the fastest of
    ``repeats`` runs after a warm-up); ``bfloat16``: the default's predictor in that precision."""
    mesh = rms_mesh(image, 2 * predictor.tile)
    normalised = np.asarray(NormalisedImage(image, mesh, 2 * predictor.tile)[0:image.shape[0], 0:image.shape[1]])
    rows = {"default network": lambda: predictor.predict_array(image)}
    if bfloat16 is not None:
        rows["default network, bfloat16"] = lambda: bfloat16.predict_array(image)
    if onnx_predict is not None:
        tile = predictor.tile_for(image.shape)

        def onnx_run():
            return sliding_window_inference(NormalisedImage(image, rms_mesh(image, 2 * predictor.tile),
                                                            2 * predictor.tile), onnx_predict, tile=tile,
                                            crop=predictor.crop, batch_size=1, channels=predictor.channels)

        rows["ONNX Runtime (same tiles)"] = onnx_run

    def reference_run():
        with torch.no_grad():
            return sliding_window_inference(normalised, reference, tile=192, crop=48, batch_size=16, device=device)

    rows["reference network"] = reference_run
    if monai_window is not None:
        tensor = torch.from_numpy(normalised)[None, None].to(device)

        def monai_run():
            with torch.no_grad():
                return monai_window(tensor, (192, 192), 16, predictor._network, overlap=0.5, mode="constant")

        rows["MONAI (192, overlap 0.5)"] = monai_run
    for run in rows.values():  # warm-up: first calls allocate and pick kernels
        run()
    return {name: min(_timed(run, device) for _ in range(repeats)) for name, run in rows.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000, 10000])
    parser.add_argument("--network-sizes", type=int, nargs="+", default=[1000, 2000, 4000],
                        help="sizes at which the in-process network rows run (default: up to 4000)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--repeats", type=int, default=2, help="runs per row, the fastest reported (default: 2)")
    parser.add_argument("--batch", type=int,
                        help="images per batch of the predict rows (default: 8, 5 and 2 at 1000, 2000 and 4000 "
                             "pixels, one mosaic above; more on a GPU, where images overlap in the pipeline)")
    parser.add_argument("--keras-unet", help="the reference's UNet.py: time the Keras original (needs TensorFlow)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    predictor = Predictor(args.model, args.device)
    bfloat16 = Predictor(args.model, args.device, precision="bfloat16") if device.type == "cpu" else None
    if args.keras_unet:
        reference, reference_name = _keras_predictor(args.keras_unet), "Keras original"
    else:
        torch.manual_seed(0)
        reference = ReferenceUNet().to(device).eval().to(memory_format=torch.channels_last)
        reference_name = f"PyTorch stand-in, {sum(p.numel() for p in reference.parameters()) / 1e6:.1f} M parameters"
    try:
        from monai.inferers import sliding_window_inference as monai_window
    except ImportError:
        monai_window = None
    hardware = torch.cuda.get_device_name(0) if device.type == "cuda" else f"{args.threads} CPU threads"
    print(f"{date.today()}: radio-unet predict, model {args.model}, {hardware}, torch {torch.__version__}; "
          f"reference network: {reference_name}" + ("" if monai_window else "; MONAI not installed"), flush=True)
    print("| size | what | images | s / image | Mpix/s | x reference | peak memory |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as directory:
        directory = Path(directory)
        onnx_predict = onnx_network(args.model, directory, args.threads) if device.type == "cpu" else None
        for size in args.sizes:
            paths = write_images(directory, size, args.batch or BATCH.get(size, 1))
            mpix = size * size / 1e6
            network = {}
            if size in args.network_sizes:
                from astropy.io import fits
                image = fits.getdata(paths[0]).astype(np.float32)
                network = network_rows(image, predictor, reference, device, monai_window, onnx_predict,
                                       args.repeats, bfloat16)
            reference_seconds = network.get("reference network")
            repeats = args.repeats if size <= 4000 else 1
            rows = [("radio-unet predict", *time_predict(paths, directory / "out", args.model, args.device,
                                                         args.threads, repeats=repeats), len(paths))]
            if bfloat16 is not None and size <= 4000:
                rows.append(("radio-unet predict --precision bfloat16",
                             *time_predict(paths, directory / "out", args.model, args.device, args.threads,
                                           ("--precision", "bfloat16"), repeats=repeats), len(paths)))
            rows.append(("predict, freed memory not retained", *time_predict(
                paths, directory / "out", args.model, args.device, args.threads,
                env=dict(RADIOUNET_RETAIN_MEMORY="0")), len(paths)))
            if size <= 4000:
                for name, quicklook in (("predict, network skipped", True),
                                        ("predict --no-png, network skipped", False)):
                    rows.append((name, time_pipeline(paths, directory / "out", args.model, args.device, quicklook),
                                 float("nan"), len(paths)))
                rows.append(("predict, 0.1.0 tiles", *time_predict(paths, directory / "out", args.model,
                                                                   args.device, args.threads,
                                                                   ("--tile", "192", "--crop", "48")),
                             len(paths)))
            rows += [(name, seconds, float("nan"), 1) for name, seconds in network.items()]
            for name, seconds, peak, count in rows:
                ratio = f"{reference_seconds / seconds:.1f}" if reference_seconds else ""
                memory = f"{peak:.0f} MiB" if np.isfinite(peak) else ""
                print(f"| {size} | {name} | {count} | {seconds:.2f} | {mpix / seconds:.2f} | {ratio} | {memory} |",
                      flush=True)
            for path in paths:
                path.unlink()


if __name__ == "__main__":
    main()
