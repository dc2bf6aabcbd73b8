"""Data-parallel training through PyTorch's own engine, kept out of the model (style.md, torchtitan).

``setup()`` reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT)
and joins the process group: gloo on CPU, NCCL on GPU; without torchrun it is a world of one.
Every rank draws the same global batch and keeps its own rows (``shard``), so a run on N ranks sees
exactly the examples one process would, and the mean of the ranks' losses is the global loss
whenever every row carries the same number of targets (true of every task and of text windows).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import nn

from personal_nl.tasks import Batch

log = logging.getLogger(__name__)

Parallel = Literal["ddp", "fsdp"]


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    local_rank: int
    device: torch.device


def setup(device: str | None = None) -> World:
    """Join torchrun's process group if launched by it; otherwise a single process on ``device``."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if size <= 1:
        return World(0, 1, 0, torch.device(device))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    target = torch.device(device)
    if target.type == "cuda":
        target = torch.device("cuda", local_rank)
        torch.cuda.set_device(target)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if target.type == "cuda" else "gloo")
    log.info("rank %d of %d on %s", rank, size, target)
    return World(rank, size, local_rank, target)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def is_main() -> bool:
    """True on rank 0, and in a single process: the rank that writes checkpoints and prints."""
    return not dist.is_initialized() or dist.get_rank() == 0


def is_distributed() -> bool:
    return dist.is_initialized() and dist.get_world_size() > 1


def wrap(module: nn.Module, kind: Parallel = "ddp", *, blocks: list[nn.Module] | None = None) -> nn.Module:
    """DDP (gradients all-reduced and averaged) or FSDP2 (``fully_shard`` on each of ``blocks``, then
    the root); a single process gets the module back unchanged. Build optimizers after this call:
    FSDP replaces parameters by sharded DTensors."""
    if kind not in ("ddp", "fsdp"):
        raise ValueError(f"kind must be 'ddp' or 'fsdp', got {kind!r}")
    if not is_distributed():
        return module
    if kind == "ddp":
        device = next(module.parameters()).device
        return nn.parallel.DistributedDataParallel(module, device_ids=[device] if device.type == "cuda" else None)
    from torch.distributed.fsdp import fully_shard
    for block in blocks or []:
        fully_shard(block)
    fully_shard(module)
    return module


def shard(batch: Batch, world: World) -> Batch:
    """This rank's contiguous rows of a global batch (equal shares)."""
    B = batch.ids.shape[0]
    if B % world.size:
        raise ValueError(f"global batch of {B} rows doesn't divide over {world.size} ranks")
    n = B // world.size
    rows = slice(world.rank * n, (world.rank + 1) * n)
    return Batch(*(None if x is None else x[rows] for x in batch))


def mean(value: float) -> float:
    """The mean of a number over ranks (itself in a single process)."""
    if not is_distributed():
        return value
    t = torch.tensor([value], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def _is_fsdp(module: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule
    return isinstance(module, FSDPModule)


def model_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A full, unsharded state dict (collective under FSDP; rank 0 gets it on CPU)."""
    if not _is_fsdp(module):
        return module.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    return get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def optimizer_state(module: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer's state in a form that reloads into a fresh run (collective under FSDP)."""
    if not _is_fsdp(module):
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict
    return get_optimizer_state_dict(module, optimizer,
                                    options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_optimizer_state(module: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    if not _is_fsdp(module):
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict
    set_optimizer_state_dict(module, optimizer, state, options=StateDictOptions(full_state_dict=True))


def full_tensor(x: torch.Tensor) -> torch.Tensor:
    """A sharded DTensor gathered whole (collective); a plain tensor as it is."""
    return x.full_tensor() if hasattr(x, "full_tensor") else x


def like(full: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """A whole tensor laid out like ``param`` (sharded again when ``param`` is a DTensor)."""
    if hasattr(param, "device_mesh"):
        from torch.distributed.tensor import distribute_tensor
        return distribute_tensor(full.to(param.device, param.dtype), param.device_mesh, param.placements)
    return full.to(param.device, param.dtype).clone()
