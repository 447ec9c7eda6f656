"""Which distributed errors mean a lost peer (training/engine/distributed.py).

A rank whose peer died mid-collective reports the attempt as died (resumed from its checkpoint). A
port already in use or a rendezvous that timed out is no lost peer: it would fail again on resume,
so it surfaces with its own code and explanation. The messages are the ones torch, gloo and NCCL give.
"""

from __future__ import annotations

import pytest
import torch.distributed as dist

from training.engine import distributed

PEER_LOST = [
    RuntimeError("[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer [127.0.0.1]:6218"),
    dist.DistBackendError(
        "[../third_party/gloo/gloo/transport/tcp/pair.cc:589] Read error [10.0.0.2]:4188: Connection reset by peer"
    ),  # fmt: skip
    dist.DistNetworkError("Broken pipe"),
    dist.DistBackendError("NCCL communicator was aborted on rank 1."),
    dist.DistBackendError(
        "NCCL error in: ProcessGroupNCCL.cpp:1970, remote process exited or there was a network "
        "error, NCCL version 2.21.5 ncclRemoteError"
    ),  # fmt: skip
]
ADDRESS_IN_USE = [
    dist.DistNetworkError(
        "The server socket has failed to listen on any local network address. port: 29500, "
        "useIpv6: 0, code: -98, name: EADDRINUSE, message: address already in use"
    ),  # fmt: skip
    OSError(98, "Address already in use"),
]
RENDEZVOUS = [
    dist.DistStoreError("Timed out after 901 seconds waiting for clients. 1/2 clients joined."),
    dist.DistStoreError("wait timeout after 300000ms, keys: /default_pg/0//cuda//0"),
    dist.DistNetworkError("The client socket has timed out after 900s while trying to connect to (10.0.0.1, 29500)."),
    RuntimeError("Socket Timeout"),
]
OTHER = [
    dist.DistBackendError("NCCL error in: ProcessGroupNCCL.cpp:1970, invalid usage, NCCL version 2.21.5"),
    ValueError("Default process group has not been initialized"),
    RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
]


@pytest.fixture
def two_ranks(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")


@pytest.mark.parametrize("exc", PEER_LOST, ids=str)
def test_a_peer_that_went_away_is_a_lost_peer(two_ranks, exc):
    assert distributed.is_peer_lost(exc)
    assert distributed.setup_failure(exc) is None


@pytest.mark.parametrize("exc", ADDRESS_IN_USE, ids=str)
def test_a_port_in_use_is_its_own_failure(two_ranks, exc):
    assert not distributed.is_peer_lost(exc)
    code, explanation = distributed.setup_failure(exc)
    assert code == "address_in_use"
    assert "already in use" in explanation


@pytest.mark.parametrize("exc", RENDEZVOUS, ids=str)
def test_a_rendezvous_that_timed_out_is_its_own_failure(two_ranks, exc):
    assert not distributed.is_peer_lost(exc)
    code, explanation = distributed.setup_failure(exc)
    assert code == "rendezvous_failed"
    assert "did not all join" in explanation


@pytest.mark.parametrize("exc", OTHER, ids=str)
def test_other_distributed_errors_are_neither(two_ranks, exc):
    assert not distributed.is_peer_lost(exc)
    assert distributed.setup_failure(exc) is None


def test_one_process_never_loses_a_peer(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not distributed.is_peer_lost(PEER_LOST[0])
    assert distributed.setup_failure(ADDRESS_IN_USE[0]) is None
