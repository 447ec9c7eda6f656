"""Device classes, queues and the fit check between a job's needs and a worker's advert (no database)."""

from __future__ import annotations

import pytest

from training.processes.routing import Capacity, Needs, needs_for, parse_capacity, queue_name, queues_for, refusal

GIB_MB = 1024
CUDA_2X80 = Capacity("cuda", 2, 80 * GIB_MB)
CPU_HOST = Capacity("cpu", 1, 32 * GIB_MB, methods=("lora", "dora"))


def test_queue_names_follow_device_class_and_process_count():
    assert queue_name("cpu") == "training.cpu"
    assert queue_name("cuda", 1) == "training.cuda"
    assert queue_name("cuda", 4) == "training.cuda.x4"
    assert queues_for(Capacity("cuda", 3, 1)) == ["training.cuda", "training.cuda.x2", "training.cuda.x3"]
    assert queues_for(CPU_HOST) == ["training.cpu"]


def test_needs_take_the_estimate_per_process_and_split_the_base_under_fsdp():
    estimate = {"total_bytes": 10 * 2**30, "base_weights_bytes": 8 * 2**30}
    ddp = needs_for({"method": "lora", "device": "cuda", "num_processes": 4, "distributed": "ddp"}, estimate)
    assert ddp == Needs("cuda", 4, 10 * GIB_MB, "lora")
    fsdp = needs_for({"method": "qlora", "device": "auto", "num_processes": 4, "distributed": "fsdp"}, estimate)
    assert fsdp == Needs("auto", 4, 4 * GIB_MB, "qlora")  # 2 GiB of the rest + a quarter of the 8 GiB base


@pytest.mark.parametrize(
    ("needs", "capacity", "reason"),
    [
        (Needs("cuda", 1, 1000, "lora"), CPU_HOST, "it has CPU devices, the job needs CUDA"),
        (Needs("cpu", 1, 1000, "qlora"), CPU_HOST, "it cannot train qlora"),
        (Needs("cuda", 4, 1000, "lora"), CUDA_2X80, "it runs at most 2 CUDA devices, the job needs 4"),
        (Needs("cuda", 2, 90 * GIB_MB, "lora"), CUDA_2X80, "80.0 GiB, the job needs about 90.0 GiB per device"),
        # CPU processes share the host's memory: two of 20 GiB do not fit 32 GiB.
        (Needs("cpu", 2, 20 * GIB_MB, "lora"), Capacity("cpu", 2, 32 * GIB_MB), "needs about 40.0 GiB"),
    ],
)
def test_a_job_that_does_not_fit_gets_the_reason(needs, capacity, reason):
    assert reason in (refusal(needs, capacity) or "")


@pytest.mark.parametrize(
    ("needs", "capacity"),
    [
        (Needs("cuda", 2, 80 * GIB_MB, "qlora"), CUDA_2X80),
        (Needs("auto", 1, 1000, "lora"), CPU_HOST),
        (Needs("cpu", 2, 16 * GIB_MB, "dora"), Capacity("cpu", 2, 32 * GIB_MB)),
    ],
)
def test_a_job_that_fits_gets_no_reason(needs, capacity):
    assert refusal(needs, capacity) is None


def test_device_override_parses_and_says_what_to_fix():
    assert parse_capacity("cuda:2:81920") == Capacity("cuda", 2, 81920)
    assert parse_capacity(" cpu:2 ", host_memory_mb=4096) == Capacity("cpu", 2, 4096)
    assert parse_capacity("cuda:1:24576:lora,dora").methods == ("lora", "dora")
    for text, message in [
        ("gpu:1:100", "the type is one of cuda, cpu"),
        ("cuda:2", "give the memory in MiB"),
        ("cpu:two", "whole numbers"),
        ("cpu:0:100", "at least 1 device"),
        ("cuda:1:100:full", "methods are among"),
        ("cuda", "TYPE:DEVICES"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_capacity(text, host_memory_mb=4096)


def test_capacity_round_trips_through_its_dict():
    capacity = Capacity("cuda", 2, 81920, ("qlora", "lora"), ("H100", "H100"))
    assert Capacity.from_dict(capacity.to_dict()) == capacity
    assert capacity.describe() == "2 × CUDA, 80 GiB each"
