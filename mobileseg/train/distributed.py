"""PyTorch's own distributed engine, as ``torchrun`` sets it up (no home-made processes).

``torchrun --nproc_per_node N -m mobileseg train ...`` sets RANK / WORLD_SIZE / LOCAL_RANK;
:func:`setup` joins the process group (gloo on CPU, nccl on GPU) and :func:`teardown` leaves it.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def setup(device: str) -> Dist:
    """Join the process group when launched by torchrun; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
    return Dist(rank, world, local)


def barrier(env: Dist) -> None:
    if env.enabled:
        dist.barrier()


def mean_over_ranks(env: Dist, value: float) -> float:
    """Average a Python float over all ranks (for logging the loss of the whole batch)."""
    if not env.enabled:
        return value
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / env.world


def teardown(env: Dist) -> None:
    """Leave the process group, after freeing what still wraps it.

    A DDP wrapper that outlives the group (held in a reference cycle) would
    free the last reference to a gloo group while holding the GIL, and gloo's destructor can then
    deadlock with its own threads (PyTorch issue 56297; seen in a two-process test). Collecting
    first frees such wrappers while the group is alive; the group's own destructor releases the GIL.
    """
    if env.enabled and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()
