"""Pages rendered from what a real engine run returns, stored through the worker's real writer.

One session fixture trains a tiny model a few steps (and stops / resumes / fails it) in-process, exactly
as the worker's child does, and keeps each run's outcome and output folder. Each test then creates a job
row, replays the engine's progress events through `JobReporter` and ends the job with
`execution.finish_outcome`, the code path the worker runs after the child returns.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from serving.models import Adapter
from tests.serving.adapter_helpers import cached_base
from training.models import BaseModel, JobStatus, TrainingJob
from training.processes import runner
from training.services import execution
from training.services.configs import resolve_config
from training.services.jobs import reap_stale_jobs

# A prompt with markup and a second user turn: the pages must show each turn, escaped.
SYSTEM = "Answer <b>briefly</b> & politely."
FOLLOW_UP = "And <script>alert(1)</script> then?"

CONFIG = {
    "method": "lora",
    "max_steps": 4,
    "batch_size": 4,
    "max_seq_length": 96,
    "logging_steps": 1,
    "save_steps": 1000,  # checkpoints only where a stop asks for one
    "warmup_ratio": 0.0,
    "rank": 4,
    "alpha": 8,
    "eval_fraction": 0.25,  # 8 examples, no validation set: the engine holds 2 out
}
N_EXAMPLES = 8


def conversations() -> list[list[dict[str, str]]]:
    from training.engine.tiny import toy_conversations

    out = []
    for conv in toy_conversations(N_EXAMPLES):
        turns = [m for m in conv if m["role"] != "system"]
        out.append(
            [
                {"role": "system", "content": SYSTEM},
                *turns,
                {"role": "user", "content": FOLLOW_UP},
                {"role": "assistant", "content": "Then it ships & arrives."},
            ]
        )
    return out


@dataclass
class EngineRun:
    outcome: runner.ChildOutcome
    events: list[dict[str, Any]] = field(default_factory=list)
    output_dir: Path | None = None


def run_engine(base: Path, output: Path, *, config: dict, examples: Any, stop_after: int | None = None) -> EngineRun:
    """`run_job` in this process, its outcome shaped as `runner.run_in_child` shapes it for the worker."""
    from training.engine.errors import EngineError
    from training.engine.run import JobSpec, run_job

    events: list[dict[str, Any]] = []
    polls = {"n": 0}

    def should_stop() -> bool:  # polled after every optimizer step
        polls["n"] += 1
        return stop_after is not None and polls["n"] >= stop_after

    spec = JobSpec(str(base), examples, str(output), config, n_samples=2, max_new_tokens=8)
    try:
        result = run_job(spec, on_progress=lambda e: events.append(runner.plain_value(e)), should_stop=should_stop)
    except EngineError as exc:
        error = {"code": exc.code, "message": exc.message, "extra": runner.plain_value(exc.extra)}
        return EngineRun(runner.ChildOutcome(status=runner.FAILED, error=error), events)
    plain = runner.plain_value(result)
    status = runner.CANCELLED if plain["cancelled"] else runner.SUCCEEDED
    return EngineRun(runner.ChildOutcome(status=status, result=plain), events, output)


@pytest.fixture(scope="session")
def tiny_base() -> Path:
    return cached_base()


@pytest.fixture(scope="session")
def engine_runs(tiny_base, tmp_path_factory) -> dict[str, EngineRun]:
    root = tmp_path_factory.mktemp("engine-runs")
    config = resolve_config(preset=None, config=CONFIG)
    data = conversations()
    runs = {"succeeded": run_engine(tiny_base, root / "ok", config=config, examples=data)}
    # Stopped after step 2 (a checkpoint is saved there), then run again on the same folder: it resumes.
    stopped = run_engine(tiny_base, root / "resume", config=config, examples=data, stop_after=2)
    shutil.copytree(root / "resume", root / "stopped")
    runs["cancelled"] = EngineRun(stopped.outcome, stopped.events, root / "stopped")
    runs["resumed"] = run_engine(tiny_base, root / "resume", config=config, examples=data)
    runs["interrupted"] = stopped
    runs["invalid_config"] = run_engine(tiny_base, root / "bad", config={**config, "rank": 0}, examples=data)
    runs["empty_dataset"] = run_engine(tiny_base, root / "empty", config=config, examples=[])
    return runs


@pytest.fixture
def storage(settings, tmp_path):
    root = tmp_path / "storage"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    settings.TRAINING_WORK_DIR = tmp_path / "training"
    return root


@pytest.fixture
def base_model(db, project, tiny_base):
    base = BaseModel.objects.create(name="tiny-llama", source=str(tiny_base), architecture="LlamaForCausalLM")
    project.base_model = base
    project.save(update_fields=["base_model"])
    return base


@pytest.fixture
def make_job(project, owner, base_model):
    def make(**fields: Any) -> TrainingJob:
        values = {
            "project": project,
            "base_model": base_model,
            "train_path": "training/jobs/x/train.jsonl",
            "dataset_sha256": "ab" * 32,
            "train_examples": N_EXAMPLES,
            "validation_examples": 0,
            "method": "lora",
            "preset": "",
            "config": resolve_config(preset=None, config=CONFIG),
            "created_by": owner,
            **fields,
        }
        return TrainingJob.objects.create(**values)

    return make


def claim(job: TrainingJob) -> execution.JobReporter:
    assert execution.job_claim(job.pk) is not None
    row = TrainingJob.objects.select_related("base_model", "project", "dataset_version").get(pk=job.pk)
    reporter = execution.JobReporter(row)
    reporter.on_start(12345)
    return reporter


def replay(reporter: execution.JobReporter, run: EngineRun) -> None:
    for event in run.events:
        reporter.on_progress(event)


@pytest.fixture
def store(storage, tmp_path):
    """`store(job, run)`: the worker's path after the child returned: progress rows, then the finish writer."""

    def finish(job: TrainingJob, run: EngineRun, *, reporter: execution.JobReporter | None = None) -> TrainingJob:
        reporter = reporter or claim(job)
        replay(reporter, run)
        work = tmp_path / f"job-{job.pk}-{reporter.attempt}"
        output = work / "output"
        outcome = run.outcome
        if run.output_dir is not None:  # the writer moves the files and removes the folder: give it a copy
            shutil.copytree(run.output_dir, output)
            if outcome.result and outcome.result.get("adapter_dir"):
                copied = {**outcome.result, "adapter_dir": str(output / "adapter")}
                outcome = dataclasses.replace(outcome, result=copied)
        else:
            output.mkdir(parents=True)
        execution.finish_outcome(reporter, outcome, output)
        return TrainingJob.objects.get(pk=job.pk)

    return finish


@pytest.fixture
def succeeded_job(make_job, store, engine_runs):
    job = store(make_job(), engine_runs["succeeded"])
    assert job.status == JobStatus.SUCCEEDED, (job.error, job.log_tail)
    return job


@pytest.fixture
def adapter(succeeded_job) -> Adapter:
    return Adapter.objects.get(job=succeeded_job)


@pytest.fixture
def pages(owner) -> Client:
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def resume_job(make_job, store, engine_runs):
    """A job whose worker was lost after step 2: the reaper re-queues it, the next attempt resumes."""

    def run() -> TrainingJob:
        job = make_job(max_attempts=3)
        first = claim(job)
        replay(first, engine_runs["interrupted"])  # the child died after its checkpoint at step 2
        TrainingJob.objects.filter(pk=job.pk).update(heartbeat_at=first.job.heartbeat_at)
        assert reap_stale_jobs(stale_after=-1)["requeued"] == [job.pk]
        return store(job, engine_runs["resumed"])

    return run
