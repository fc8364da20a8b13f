"""Benchmark of the default network: training and inference tiles per second.

Measures, side by side in one run, on CPU (and on CUDA when available):
a training step (forward, backward, AdamW) and inference (forward only, no
gradients) on batches of 192x192 tiles, for the architecture of a training
config (default: configs/lotss-default.toml) or of a model (``--model``, e.g.
the default ``lotss-gated-v1``: two networks, measured for inference only, as
a gated model is not trained as a whole).

    python benchmarks/bench_model.py [--config configs/lotss-default.toml] [--set model.width=16]
                                     [--model NAME_OR_FILE] [--batch 16] [--steps 5]
"""

import argparse

import torch

from radiounet.errors import RadioUNetError
from radiounet.models import UNet, UNetConfig, count_parameters, flops_per_tile, read_model_card, throughput
from radiounet.models.store import build_model
from radiounet.train.config import load_config


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/lotss-default.toml")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value (repeatable), as in radio-unet train")
    parser.add_argument("--model", help="measure the architecture of this shipped model or model file instead")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    try:
        if args.model:
            card = read_model_card(args.model)
            probe, tile = build_model(card["architecture"]), int(card["tile_size"])
        else:
            config = load_config(args.config, args.set)
            probe, tile = UNet(UNetConfig(**config["model"])), config["data"]["tile_size"]
    except RadioUNetError as error:
        parser.exit(2, f"error: {error}\n")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    model_config = probe.config
    print(f"architecture {model_config.to_dict()}: {count_parameters(probe):,} parameters, "
          f"{flops_per_tile(probe, tile) / 1e9:.2f} GFLOP per {tile}x{tile} tile; "
          f"batch {args.batch}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"{'device':<8}{'train tiles/s':>15}{'infer tiles/s':>15}{'infer/train':>13}")
    for device in devices:
        rates = throughput(model_config, device, tile, args.batch, args.steps)
        train_rate, infer_rate = rates["train"], rates["inference"]
        if train_rate is None:
            print(f"{device.type:<8}{'-':>15}{infer_rate:>15.1f}{'-':>13}")
        else:
            print(f"{device.type:<8}{train_rate:>15.1f}{infer_rate:>15.1f}{infer_rate / train_rate:>12.1f}x")


if __name__ == "__main__":
    main()
