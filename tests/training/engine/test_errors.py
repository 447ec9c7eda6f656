"""Error translation at the run_job boundary."""

from __future__ import annotations

import pytest

from training.engine import EngineError, JobSpec, OutOfMemoryError, run_job
from training.engine import run as run_module


@pytest.mark.parametrize(
    "exc",
    [
        "torch_oom",
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried 9 GB"),
    ],
)
def test_out_of_memory_becomes_a_clear_engine_error(monkeypatch, tmp_path, exc):
    import torch

    error = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB") if exc == "torch_oom" else exc

    def boom(*args, **kwargs):
        raise error

    monkeypatch.setattr(run_module, "_run", boom)
    with pytest.raises(OutOfMemoryError, match="lower batch_size or max_seq_length") as info:
        run_job(JobSpec(base_model_path="x", train_examples=[], output_dir=str(tmp_path)))
    assert isinstance(info.value, EngineError)
    assert info.value.code == "out_of_memory"


def test_other_errors_pass_through(monkeypatch, tmp_path):
    def boom(*args, **kwargs):
        raise KeyError("bug")

    monkeypatch.setattr(run_module, "_run", boom)
    with pytest.raises(KeyError):
        run_job(JobSpec(base_model_path="x", train_examples=[], output_dir=str(tmp_path)))
