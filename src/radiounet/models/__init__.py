"""The networks, their size and cost, and loading and saving them."""

from radiounet.models.gated import GatedConfig, GatedUNet, gate_model
from radiounet.models.store import (available_models, benchmark_headlines, load_model, model_table, read_model_card,
                                    save_model)
from radiounet.models.summary import count_parameters, flops_per_tile, throughput
from radiounet.models.unet import CompactSourceFilter, UNet, UNetConfig

__all__ = ["CompactSourceFilter", "GatedConfig", "GatedUNet", "UNet", "UNetConfig", "available_models",
           "benchmark_headlines", "count_parameters", "flops_per_tile",
           "gate_model", "load_model", "model_table", "read_model_card", "save_model", "throughput"]
