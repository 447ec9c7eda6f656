"""A job over two machines, played by two workers on this one: the main node (machine rank 0) claims
the job and asks its peer, which launches its share of the ranks; they meet at the main node's
address through accelerate's static rendezvous (what each node's `accelerate config` file says)."""

from __future__ import annotations

import socket
from pathlib import Path

import psutil
import pytest

from serving.models import Adapter
from tests.workers import celery_worker, wait_for
from training.models import BaseModel, JobStatus

from .conftest import TINY_CONFIG
from .test_multiprocess import rank_pids
from .test_worker import WORKER_ENV, finished, job_row, launch

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def node_config(folder: Path, machine_rank: int, port: int) -> str:
    path = folder / f"node{machine_rank}.yaml"
    path.write_text(
        "compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\nmixed_precision: 'no'\n"
        f"num_machines: 2\nmachine_rank: {machine_rank}\nnum_processes: 2\n"
        f"main_process_ip: 127.0.0.1\nmain_process_port: {port}\nrdzv_backend: static\nsame_network: true\n",
        encoding="utf-8",
    )
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_job_spans_two_nodes_and_the_peer_cleans_up(
    api, project, owner, approve, tiny_models, training_folders, tmp_path
):
    project.base_model = BaseModel.objects.create(name="tiny-llama", source=tiny_models("llama"))
    project.save()
    approve(project, owner, 24)
    port = free_port()
    main_env = {
        **WORKER_ENV,
        **training_folders,
        "ANNOTUNE_TRAINING_DIR": str(tmp_path / "node0"),
        "ANNOTUNE_WORKER_DEVICES": "cpu:2",  # the group: two processes, one per machine
        "ANNOTUNE_ACCELERATE_CONFIG": node_config(tmp_path, 0, port),
        "ANNOTUNE_TRAINING_PEERS": "node1",
        "ANNOTUNE_TRAINING_STEP_DELAY_MS": "300",
    }
    peer_env = {
        **WORKER_ENV,
        **training_folders,
        "ANNOTUNE_TRAINING_DIR": str(tmp_path / "node1"),
        "ANNOTUNE_ACCELERATE_CONFIG": node_config(tmp_path, 1, port),
    }
    with celery_worker("training", env=main_env), celery_worker("training.peer.node1", env=peer_env) as peer:
        pk = launch(api(owner), project, config={**TINY_CONFIG, "num_processes": 2, "device": "cpu", "save_steps": 2})
        job = wait_for(lambda: (j := job_row(pk)).step >= 2 and rank_pids(j) and j, 300, message="both ranks")
        rank0, rank1 = rank_pids(job)
        # Rank 1 runs under the peer worker, rank 0 under the main one.
        assert peer.pid in [p.pid for p in psutil.Process(rank1).parents()]
        assert peer.pid not in [p.pid for p in psutil.Process(rank0).parents()]
        # Each node keeps the checkpoints (a resumed job finds them on every node).
        peer_checkpoint = tmp_path / "node1" / f"job-{pk}" / "output" / "checkpoints" / "checkpoint-2"
        wait_for(
            lambda: (peer_checkpoint / "adapter_model.safetensors").is_file(), 120, message="the peer's checkpoint"
        )
        job = wait_for(lambda: finished(pk), 300, message="the job to finish")
        wait_for(lambda: not (tmp_path / "node1" / f"job-{pk}").exists(), 60, message="the peer to clean up")
        log = Path(peer.log_path).read_text()
    assert job.status == JobStatus.SUCCEEDED, (job.error, job.log_tail, log[-3000:])
    assert "asked peers training.peer.node1 to start their ranks" in job.log_tail
    assert "join_training_job" in log
    assert "'done'" in log
    assert Adapter.objects.filter(job_id=pk).exists()
