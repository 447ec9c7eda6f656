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


# What a rank reads when another rank vanished mid-collective (killed, the OOM killer): gloo's and the
# store's socket errors, NCCL's aborted communicator or a remote process gone.
PEER_LOST_MARKERS = (
    "connection closed by peer",
    "connection reset by peer",
    "broken pipe",
    "nccl communicator was aborted",
    "remote process exited",
    "ncclremoteerror",
)
# Errors of setting the group up, which no lost peer explains and a resumed attempt would meet again:
# each surfaces with its own message (and code), never as a lost peer.
SETUP_FAILURES = (
    (
        ("address already in use", "eaddrinuse"),
        "address_in_use",
        "The training processes could not open their port, which another program uses (address already in "
        "use): free it, or set another main_process_port in the accelerate config.",
    ),
    (
        (
            "rendezvous",
            "waiting for clients",
            "clients joined",
            "socket timeout",
            "socket has timed out",
            "wait timeout after",
            "diststoreerror",
        ),
        "rendezvous_failed",
        "The training processes did not all join within the time allowed (rendezvous timed out): check that "
        "every machine of the group runs a training worker and can reach the main one's address and port.",
    ),
)


def setup_failure(exc: BaseException) -> tuple[str, str] | None:
    """(code, explanation) when `exc` is a failure to set the process group up (a port in use, a
    rendezvous that timed out) rather than a peer lost later, else None."""
    if world_size() < 2:
        return None
    text = f"{type(exc).__name__}: {exc}".lower()
    for markers, code, explanation in SETUP_FAILURES:
        if any(marker in text for marker in markers):
            return code, explanation
    return None


def is_peer_lost(exc: BaseException) -> bool:
    """True for the error a rank gets when another rank vanished mid-collective (killed, OOM killer):
    the attempt died, it did not fail, so the job is resumed from its checkpoint rather than failed.

    Only errors that say a peer went away: any other distributed error (a rendezvous that timed out,
    a port already in use, a bad configuration) is a failure with its own message, not a lost peer."""
    if world_size() < 2 or setup_failure(exc) is not None:
        return False
    text = str(exc).lower()
    return any(marker in text for marker in PEER_LOST_MARKERS)
