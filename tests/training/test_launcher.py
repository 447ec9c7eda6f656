"""Several training processes under `accelerate launch` (training/processes/launcher.py), on CPU over gloo.

The tiny "test" model is enough here: the question is whether two processes train exactly like one,
not how well. Two processes with batch 2 each take the same 4 examples per optimizer step as one
process with batch 2 and 2 accumulation steps: the sampler draws one shuffled order (same seed), the
two ranks take alternate batches of it, and the loss is normalised by the tokens of the whole global
batch either way (Trainer's num_items_in_batch, gathered across ranks). LoRA dropout is off, because
each rank draws its own dropout masks where one process draws them in sequence. What remains is the
order of floating-point sums (gradients all-reduced vs accumulated), hence a tolerance.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training.processes import launcher, runner

# Per logged step, on losses around 7: far below what one different example in a batch changes.
LOSS_TOLERANCE = 1e-4
WEIGHT_TOLERANCE = 1e-5

CONFIG = {
    "method": "lora",
    "max_steps": 8,  # 8 steps x 4 examples = 32 of the 36 training examples: one epoch, full batches
    "batch_size": 2,
    "max_seq_length": 64,
    "logging_steps": 1,
    "save_steps": 1000,
    "warmup_ratio": 0.0,
    "learning_rate": 1e-2,  # a curve that moves, so a different update would show
    "rank": 4,
    "alpha": 8,
    "dropout": 0.0,
    "eval_fraction": 0.1,
}


@pytest.fixture(scope="module")
def job_files(tmp_path_factory):
    from training.engine.tiny import build_tiny_model, toy_conversations

    root = tmp_path_factory.mktemp("launched")
    build_tiny_model(root / "model", arch="llama", size="test")
    data = root / "train.jsonl"
    data.write_text("\n".join(json.dumps({"messages": c}) for c in toy_conversations(40)), encoding="utf-8")
    return root


def spec(root, name: str, **config) -> dict:
    return {
        "base_model_path": str(root / "model"),
        "train_examples": str(root / "train.jsonl"),
        "output_dir": str(root / name),
        "config": {**CONFIG, **config},
        "score_examples": False,
        "n_samples": 1,
        "max_new_tokens": 4,
    }


def test_launch_command_runs_the_rank_entry_point_through_accelerate(tmp_path):
    command = launcher.launch_command(tmp_path, 4)
    assert command[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert command[command.index("--num_processes") + 1] == "4"
    assert command[command.index("--main_process_port") + 1] == "0"  # a free port for each launch
    assert command[-3:] == ["-m", "training.processes.launcher", str(tmp_path)]
    configured = launcher.launch_command(tmp_path, 8, config_file="/etc/annotune/nodes.yaml")
    assert configured[3:5] == ["--config_file", "/etc/annotune/nodes.yaml"]
    assert "--num_machines" not in configured  # the file says where the ranks run


@pytest.mark.slow
def test_two_processes_train_like_one_with_twice_the_accumulation(job_files):
    from safetensors.torch import load_file

    def losses(outcome: runner.ChildOutcome, events: list[dict]) -> list[tuple[int, float]]:
        assert outcome.status == runner.SUCCEEDED, (outcome.error, outcome.exitcode)
        return [(e["step"], e["loss"]) for e in events if e.get("event") == "log"]

    two: list[dict] = []
    launched = launcher.run_launched(
        spec(job_files, "two"),
        num_processes=2,
        run_dir=job_files / "two-run",
        on_progress=two.append,
        env={"CUDA_VISIBLE_DEVICES": ""},
    )
    one: list[dict] = []
    single = runner.run_in_child(
        spec(job_files, "one", num_processes=1, gradient_accumulation_steps=2),
        on_progress=one.append,
        env={"CUDA_VISIBLE_DEVICES": ""},
    )

    curve_two, curve_one = losses(launched, two), losses(single, one)
    assert [step for step, _ in curve_two] == list(range(1, 9))
    assert [step for step, _ in curve_one] == list(range(1, 9))
    assert curve_one[-1][1] < curve_one[0][1] - 0.05  # it learned something
    for (step, loss_two), (_, loss_one) in zip(curve_two, curve_one, strict=True):
        assert loss_two == pytest.approx(loss_one, abs=LOSS_TOLERANCE), f"step {step}"
    ranks = [e for e in two if e.get("event") == "ranks"]
    assert len(ranks) == 1
    assert len(set(ranks[0]["pids"])) == 2  # two processes, one report (rank 0's)
    assert launched.result["metrics"]["global_step"] == single.result["metrics"]["global_step"] == 8

    weights_two = load_file(str(job_files / "two" / "adapter" / "adapter_model.safetensors"))
    weights_one = load_file(str(job_files / "one" / "adapter" / "adapter_model.safetensors"))
    assert weights_two.keys() == weights_one.keys()
    for name, tensor in weights_two.items():
        assert (tensor - weights_one[name]).abs().max().item() <= WEIGHT_TOLERANCE, name


# A stand-in for the training worker: it launches two ranks on the tiny model (slowed down), prints
# the launcher's and the ranks' pids once rank 0 reports them, and waits; the test kills it outright.
SUPERVISOR = """
import json, sys
from training.processes import launcher

spec = json.loads(sys.argv[1])
seen = []

def on_start(pid):
    seen.append(pid)

def on_progress(event):
    if event.get("event") == "ranks":
        print(json.dumps([*seen, *event["pids"]]), flush=True)

launcher.run_launched(spec, num_processes=2, run_dir=sys.argv[2], on_start=on_start, on_progress=on_progress,
                      env={"CUDA_VISIBLE_DEVICES": ""}, step_delay=2.0)
"""


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's new parent may never reap it in a container)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_launcher_and_its_ranks_end_when_their_worker_is_killed(job_files):
    from tests.workers import ROOT

    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SUPERVISOR,
            json.dumps(spec(job_files, "orphan", max_steps=50)),
            str(job_files / "orph"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    pids: list[int] = []
    try:
        pids = json.loads(worker.stdout.readline())
        assert len(pids) == 3  # the launcher and two ranks
        assert all(_running(pid) for pid in pids)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        deadline = time.monotonic() + 60
        while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not [pid for pid in pids if _running(pid)], "orphaned ranks would train beside the next attempt"
    finally:
        worker.kill()
        worker.wait(10)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# What a worker's environment holds in production, none of which a rank needs.
CREDENTIALS = {
    "DATABASE_URL": "postgres://annotune:pw@db.internal:5432/annotune",
    "CELERY_BROKER_URL": "redis://:pw@redis.internal:6379/0",
    "SECRET_KEY": "k8s-not-for-ranks",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "HF_TOKEN": "hf_secret",
}


def test_rank_environment_keeps_what_the_libraries_read_and_no_credentials():
    worker = {**CREDENTIALS, "PATH": "/usr/bin", "HF_HOME": "/cache/hf", "OMP_NUM_THREADS": "4"}
    worker |= {"NCCL_SOCKET_IFNAME": "eth0", "CUDA_VISIBLE_DEVICES": "0,1", "TOKENIZERS_PARALLELISM": "true"}
    env = launcher.rank_environment(worker, {"HF_HUB_OFFLINE": "1"})
    assert not set(CREDENTIALS) & set(env)
    assert env["PATH"] == "/usr/bin"
    assert env["HF_HOME"] == "/cache/hf"
    assert env["OMP_NUM_THREADS"] == "4"
    assert env["NCCL_SOCKET_IFNAME"] == "eth0"
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert env["TOKENIZERS_PARALLELISM"] == "false"
    assert env["HF_HUB_OFFLINE"] == "1"  # the caller's own variables on top


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ranks_do_not_receive_the_workers_credentials(job_files, monkeypatch):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    seen: dict[int, dict[str, str]] = {}

    def on_progress(event: dict) -> None:
        if event.get("event") == "ranks":
            for pid in event["pids"]:
                raw = Path(f"/proc/{pid}/environ").read_bytes()
                seen[pid] = dict(item.decode().split("=", 1) for item in raw.split(b"\0") if b"=" in item)

    outcome = launcher.run_launched(
        spec(job_files, "clean-env", max_steps=50),
        num_processes=2,
        run_dir=job_files / "clean-env-run",
        on_progress=on_progress,
        on_tick=lambda: bool(seen),  # stop once the ranks were seen
        tick_seconds=0.5,
        env={"CUDA_VISIBLE_DEVICES": ""},
        step_delay=0.5,
    )
    assert outcome.status == runner.CANCELLED, (outcome.error, outcome.exitcode)
    assert len(seen) == 2
    for environ in seen.values():
        assert not set(CREDENTIALS) & set(environ)
        assert environ["CUDA_VISIBLE_DEVICES"] == ""
        assert environ["WORLD_SIZE"] == "2"
