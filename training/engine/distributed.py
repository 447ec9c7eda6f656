"""Facts about this process's rank when several train one job together, and the few collectives the
engine needs around the Trainer.

`accelerate launch` (torchrun underneath) starts one process per device and tells each its place
through the environment (RANK, LOCAL_RANK, WORLD_SIZE); the Trainer sets up the process group (gloo on
CPU, nccl on CUDA) and DDP / FSDP from them. One process alone sees none of these and every helper
here answers as rank 0 of 1, so the single-process path is unchanged.
"""

from __future__ import annotations

import os
from typing import Any


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def local_world_size() -> int:
    """Processes on this machine (fewer than world_size when a job spans several machines)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size())))


def is_main() -> bool:
    """Rank 0: the one that reports progress, reads the stop request and writes the final adapter."""
    return rank() == 0


def _group() -> Any:
    """torch.distributed when a process group is up (inside and after the Trainer's set-up), else None."""
    if world_size() < 2:
        return None
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def agree_to_stop(asked: bool) -> bool:
    """Rank 0's answer on every rank: only rank 0 reads the stop request, and ranks that stopped apart
    would wait for each other forever in the next gradient all-reduce."""
    dist = _group()
    if dist is None:
        return asked
    import torch

    device = torch.device("cuda", local_rank()) if dist.get_backend() == "nccl" else torch.device("cpu")
    flag = torch.tensor([1 if asked else 0], dtype=torch.int32, device=device)
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def all_pids() -> list[int]:
    """Every rank's process id, in rank order (rank 0 reports them, so a page or a test can find them)."""
    dist = _group()
    if dist is None:
        return [os.getpid()]
    pids: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(pids, os.getpid())
    return [int(p) for p in pids]


def leave() -> None:
    """After the last optimizer step: wait for every rank, then drop the process group. Rank 0 goes on
    alone (evaluation, samples, saving), which needs no collectives; the other ranks exit."""
    dist = _group()
    if dist is None:
        return
    dist.barrier()
    dist.destroy_process_group()


def is_peer_lost(exc: BaseException) -> bool:
    """True for the error a rank gets when another rank vanished mid-collective (killed, OOM killer):
    the attempt died, it did not fail, so the job is resumed from its checkpoint rather than failed."""
    if world_size() < 2:
        return False
    try:
        import torch.distributed as dist

        if isinstance(exc, dist.DistError):
            return True
    except (ImportError, AttributeError):
        pass
    text = str(exc).lower()
    return any(
        marker in text
        for marker in ("connection closed by peer", "connection reset by peer", "broken pipe", "nccl communicator")
    )
