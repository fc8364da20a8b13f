"""Benchmark of the default network: training and inference tiles per second.

Measures, side by side in one run, on CPU (and on CUDA when available):
a training step (forward, backward, AdamW) and inference (forward only, no
gradients) on batches of 192x192 tiles, for the architecture of a training
config (default: configs/lotss-default.toml).

    python benchmarks/bench_model.py [--config configs/lotss-default.toml] [--set model.width=16]
                                     [--batch 16] [--steps 5]
"""

import argparse

import torch

from radiounet.errors import RadioUNetError
from radiounet.models import UNet, UNetConfig, count_parameters, flops_per_tile, throughput
from radiounet.train.config import load_config


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/lotss-default.toml")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value (repeatable), as in radio-unet train")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    try:
        config = load_config(args.config, args.set)
    except RadioUNetError as error:
        parser.exit(2, f"error: {error}\n")
    tile = config["data"]["tile_size"]
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    model_config = UNetConfig(**config["model"])
    probe = UNet(model_config)
    print(f"architecture {model_config.to_dict()}: {count_parameters(probe):,} parameters, "
          f"{flops_per_tile(probe, tile) / 1e9:.2f} GFLOP per {tile}x{tile} tile; "
          f"batch {args.batch}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"{'device':<8}{'train tiles/s':>15}{'infer tiles/s':>15}{'infer/train':>13}")
    for device in devices:
        rates = throughput(model_config, device, tile, args.batch, args.steps)
        train_rate, infer_rate = rates["train"], rates["inference"]
        print(f"{device.type:<8}{train_rate:>15.1f}{infer_rate:>15.1f}{infer_rate / train_rate:>12.1f}x")


if __name__ == "__main__":
    main()
