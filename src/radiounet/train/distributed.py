"""Process-group set-up for multi-GPU and multi-node training with torchrun.

``torchrun --nproc_per_node N radio-unet train CONFIG`` sets ``WORLD_SIZE``,
``RANK`` and ``LOCAL_RANK``; each process then trains on its share of the
data (``DistributedSampler``) with ``DistributedDataParallel``. The backend is
NCCL on GPUs and gloo on CPUs. Without torchrun, training runs in one process.
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from radiounet.errors import RadioUNetError

__all__ = ["DistributedContext", "all_reduce_sum", "setup_distributed", "teardown_distributed"]


@dataclass(frozen=True)
class DistributedContext:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def distributed(self):
        return self.world_size > 1


def _device(preference, local_rank):
    if preference == "cuda" and not torch.cuda.is_available():
        raise RadioUNetError("training.device = 'cuda' but no CUDA device is available")
    if preference in ("cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def setup_distributed(device_preference="auto"):
    """Join the process group if started by torchrun; return this process's rank, world size and device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _device(device_preference, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return DistributedContext(rank=rank, world_size=world_size, device=device)


def teardown_distributed():
    """Leave the process group, if any."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor):
    """Sum a CPU tensor over all processes (moved through the GPU with NCCL); unchanged without a group."""
    if not (dist.is_available() and dist.is_initialized()):
        return tensor
    on_device = tensor.cuda() if dist.get_backend() == "nccl" else tensor.clone()
    dist.all_reduce(on_device)
    return on_device.cpu()
