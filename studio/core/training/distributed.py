"""Data-parallel training under ``torchrun`` (torch.distributed: gloo on CPUs, NCCL on GPUs).

Every process draws the same *global* batch from the same seeded generator (indices, times,
noise, class dropout), takes its contiguous shard of it, like ``DistributedSampler`` over a fixed
global order, and computes the mean loss of its shard. The gradients are summed across processes
and divided by the world size, which is the gradient of the global batch's mean loss because the
shards are equally large; every process then makes the same optimiser step, so all ranks hold the
same weights, and those equal (to float rounding) the weights a single process gets training the
same global batch.

::

    torchrun --nproc_per_node 2 -m studio train config.json --out model.safetensors
    torchrun --nnodes 4 --nproc_per_node 8 --rdzv-endpoint HOST:29500 -m studio train ...

Rank 0 alone writes checkpoints, the model file and progress. Limits: dropout layers draw from
each process's own global RNG (their masks differ from a one-process run), and batch norm would
see per-shard statistics; the bundled architectures use neither in training.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Optional

import torch

from ..errors import StudioError


@dataclass
class DistContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str = ""
    #: whether this context initialised the process group (and so destroys it)
    owned: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: int, where: str = "optim.batch") -> slice:
        """This rank's contiguous slice of a global batch of ``batch`` items."""
        if batch % self.world:
            raise StudioError(f"the global batch {batch} does not split evenly over {self.world} "
                              "processes; make it a multiple of the process count", where)
        n = batch // self.world
        return slice(self.rank * n, (self.rank + 1) * n)

    def average_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Sum every gradient over the ranks (one flattened all-reduce) and divide by the world."""
        if self.world == 1:
            return
        import torch.distributed as dist

        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.world
        offset = 0
        for g in grads:
            n = g.numel()
            g.copy_(flat[offset:offset + n].view_as(g))
            offset += n

    def mean(self, value: float) -> float:
        if self.world == 1:
            return value
        import torch.distributed as dist

        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return float(t) / self.world

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist
            dist.barrier()

    def close(self) -> None:
        if self.owned:
            import torch.distributed as dist
            if dist.is_initialized():
                dist.destroy_process_group()
            self.owned = False


def from_env(device: str = "cpu") -> tuple[DistContext, str]:
    """The context ``torchrun`` describes in the environment (WORLD_SIZE, RANK, LOCAL_RANK,
    MASTER_ADDR/PORT), with the process group initialised, and the device this rank uses
    (``cuda`` -> ``cuda:LOCAL_RANK``). Without torchrun: one process, nothing initialised."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return DistContext(), device
    import torch.distributed as dist

    if not dist.is_available():
        raise StudioError("this torch build has no torch.distributed", "torchrun")
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise StudioError("CUDA was asked for but torch sees no CUDA device", "--device")
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
        backend = "nccl"
    else:
        backend = "gloo"
    owned = False
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
        owned = True
    return DistContext(rank, world, local, backend, owned), device


__all__ = ["DistContext", "from_env"]
