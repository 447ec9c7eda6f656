"""The worker side of a job: claim it, run the engine in a child process, report, finish.

The job is a work row (annotune/work.py): every write after the claim is fenced by (status RUNNING,
attempts == the claimed attempt), so a worker whose job was re-queued by the reaper (or cancelled) can no
longer change it.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotune import work
from annotune.heartbeat import beat_time, beating
from annotune.storage import ArtifactWriter, StorageError, open_stream, storage_failures
from evaluation.models import ExampleScore
from serving.models import Adapter

from ..engine import artifacts, results
from ..models import JobPhase, JobStatus, TrainingJob, TrainingMetric
from ..processes import launcher, routing, runner
from . import folders, preference_data
from .checkpoints import CheckpointMirror
from .continuation import parent_adapter_dir, parent_lineage, parent_method
from .job_folders import child_environment, download_to, work_dir

log = logging.getLogger(__name__)

PROGRESS_FIELDS = ("step", "max_steps", "epoch", "loss", "eval_loss", "learning_rate", "grad_norm")
PROGRESS_FIELDS += ("tokens_per_second", "eta_seconds")


def job_claim(job_id: int, *, worker: str = "") -> QuerySet | None:
    """Take a queued job (`work.claim`): the job fenced to this attempt, None when someone else took it
    (or it is not queued).

    `worker`: the Celery node name (what the queue and job pages show); host:pid without one. The job
    keeps the start of its first attempt (its page counts the time from there); the engine process of an
    earlier attempt is forgotten."""
    return work.claim(
        TrainingJob,
        job_id,
        ready=~Q(phase=JobPhase.ESTIMATING),  # not placed yet: its estimate task sends it when it is
        started_at=Coalesce(F("started_at"), Value(timezone.now())),
        finished_at=None,
        worker=worker or f"{socket.gethostname()}:{os.getpid()}",
        child_pid=None,
    )


# Errors of a database that is away for a while (they pass); others (a bad value) are bugs and raise.
DATABASE_DOWN = (OperationalError, InterfaceError)


class JobReporter:
    """Writes what the child reports into the job row (fenced by the claimed attempt)."""

    def __init__(self, job: TrainingJob) -> None:
        self.job = job
        self.attempt = job.attempts
        self.lines: collections.deque[str] = collections.deque(
            (job.log_tail or "").splitlines()[-settings.TRAINING_LOG_TAIL_LINES :],
            maxlen=settings.TRAINING_LOG_TAIL_LINES,
        )
        self.lost = False  # the row is no longer ours (re-queued or finished elsewhere)
        self.mirror: CheckpointMirror | None = None  # copies checkpoints to storage (other workers resume)

    def mine(self) -> QuerySet:
        return work.fenced(TrainingJob, self.job.pk, self.attempt)

    def line(self, text: str) -> None:
        stamp = timezone.now().strftime("%H:%M:%S")
        self.lines.append(text if text[:2].isdigit() else f"{stamp} {text}")

    @property
    def tail(self) -> str:
        return "\n".join(self.lines)

    def update(self, **fields: Any) -> bool:
        if self.lost:
            return False
        if not self.mine().update(heartbeat_at=beat_time(), **fields):
            self.lost = True
            log.warning("training job %s is no longer held by this worker", self.job.pk)
        return not self.lost

    def database_down(self, exc: Exception) -> None:
        """A write while the engine runs failed for want of the database (a restart, a network blip,
        SQLite locked by a long write): training goes on. Raising here would kill the child and lose the
        run; if the database stays away, the heartbeat goes stale and the reaper re-queues the job,
        which this worker then finds no longer its own."""
        log.warning("training job %s: progress not written, the database is unavailable (%s)", self.job.pk, exc)
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()  # the next write opens a fresh connection

    def on_start(self, pid: int) -> None:
        nice = yield_cpu(pid)
        self.line(f"engine started in process {pid} (attempt {self.attempt}, CPU priority nice {nice})")
        try:
            self.update(child_pid=pid, log_tail=self.tail)
        except DATABASE_DOWN as exc:
            self.database_down(exc)

    def on_log(self, text: str) -> None:
        self.line(text)

    def on_progress(self, progress: dict[str, Any]) -> None:
        event = progress.get("event")
        fields = {k: progress[k] for k in PROGRESS_FIELDS if progress.get(k) is not None}
        if event == "start" and progress.get("step"):
            fields["resumed_from_step"] = progress["step"]
            self.line(f"resumed from the checkpoint at step {progress['step']}")
        if event == "ranks":
            pids = progress.get("pids") or []
            self.line(f"{len(pids)} training processes (ranks 0-{len(pids) - 1}): pids {', '.join(map(str, pids))}")
        if event in ("log", "eval"):
            if event == "log":
                self.line(
                    f"step {progress.get('step')}/{progress.get('max_steps')} loss {progress.get('loss'):.4f}"
                    if isinstance(progress.get("loss"), int | float)
                    else f"step {progress.get('step')}"
                )
            else:
                self.line(f"step {progress.get('step')} validation loss {progress.get('eval_loss')}")
        try:
            if event in ("log", "eval"):
                self._metric(progress)
            self.update(log_tail=self.tail, **fields)
        except DATABASE_DOWN as exc:
            self.database_down(exc)

    def _metric(self, progress: dict[str, Any]) -> None:
        if self.lost:
            return
        values = {
            k: progress[k]
            for k in ("epoch", "loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_second")
            if progress.get(k) is not None
        }
        metric, created = TrainingMetric.objects.get_or_create(
            job_id=self.job.pk, step=int(progress.get("step") or 0), defaults={**values, "attempt": self.attempt}
        )
        if not created:  # an eval at a logged step, or a step logged again after a resume
            for key, value in values.items():
                setattr(metric, key, value)
            metric.attempt = self.attempt
            metric.save()

    def on_tick(self) -> bool:
        """Heartbeat; True when the child should stop (cancel requested, or the job is no longer ours)."""
        if self.mirror is not None and not self.lost:
            self.stored(self.mirror.poll())
        try:
            if not self.update(log_tail=self.tail):
                return True
            return bool(self.mine().filter(cancel_requested=True).exists())
        except DATABASE_DOWN as exc:
            self.database_down(exc)
            return False

    def stored(self, outcome: tuple[int, str | None] | None) -> None:
        if outcome is not None:
            step, error = outcome
            self.line(f"checkpoint {step} not copied to storage: {error}" if error else f"checkpoint {step} stored")


def misrouted(job_id: int, capacity: routing.Capacity | None) -> str | None:
    """Why this worker (advertising `capacity`) must not take the job, or None. The queues already keep
    jobs to their device class; this catches a message sent to the wrong queue by hand or by an older
    release. The job stays queued and the reaper sends its message again, to the job's own queue."""
    if capacity is None:  # not a training worker that advertised itself (eager mode, tests)
        return None
    row = (
        TrainingJob.objects.filter(pk=job_id, status=JobStatus.QUEUED)
        .values("device_type", "devices", "memory_mb", "method")
        .first()
    )
    if row is None:
        return None
    needs = routing.Needs(row["device_type"], row["devices"], row["memory_mb"], row["method"])
    return routing.refusal(needs, capacity)


def job_execute(job_id: int, *, worker: str = "", capacity: routing.Capacity | None = None) -> str:
    """Run a queued job to its end. Returns what happened (for logs and tests).

    `worker`: this worker's node name; `capacity`: what it advertised (a job that does not fit is left queued)."""
    reason = misrouted(job_id, capacity)
    if reason:
        log.error("training job %s reached worker %s, which cannot take it: %s", job_id, worker, reason)
        return "does-not-fit"
    if job_claim(job_id, worker=worker) is None:
        log.info("training job %s was not queued (already claimed, cancelled or gone)", job_id)
        return "not-claimed"
    job = TrainingJob.objects.select_related("base_model", "project", "dataset_version").get(pk=job_id)
    reporter = JobReporter(job)
    try:
        return _execute(job, reporter)
    except SoftTimeLimitExceeded:  # Celery's soft limit, a minute before the hard one kills the worker process
        hours = settings.TRAINING_TIME_LIMIT_SECONDS / 3600
        return _finish_failed(
            reporter,
            "time_limit",
            f"The job ran longer than the training time limit ({hours:.4g} h) and was stopped. Train fewer "
            "steps (epochs, max_steps) or ask an administrator to raise ANNOTUNE_TRAINING_TIME_LIMIT_SECONDS.",
        )
    except Exception as exc:  # a bug on the platform side: fail the job visibly instead of leaving it running
        log.exception("training job %s crashed in the worker", job_id)
        return _finish_failed(reporter, "internal", f"The worker failed: {type(exc).__name__}: {exc}")


def _prepare(job: TrainingJob, reporter: JobReporter, folder: Path) -> dict[str, Any] | str:
    """The engine's spec with its files fetched, or the job's final status when they could not be."""
    try:
        data_dir = folder / "data"
        train = download_to(job.train_path, data_dir / "train.jsonl")
        validation = download_to(job.validation_path, data_dir / "validation.jsonl") if job.validation_path else None
    except OSError as exc:
        return _finish_failed(reporter, "invalid_data", f"The dataset files could not be read: {exc}")
    output_dir = folder / "output"
    output_dir.mkdir(parents=True, exist_ok=True)
    reporter.update(checkpoint_dir=str(output_dir))
    if settings.TRAINING_SHARE_CHECKPOINTS:
        reporter.mirror = CheckpointMirror(job.pk, output_dir / "checkpoints")
        try:
            step = reporter.mirror.restore()
        except storage_failures() as exc:
            return _finish_failed(reporter, "storage", f"The stored checkpoint could not be fetched: {exc}")
        if step is not None:
            reporter.line(f"checkpoint {step} fetched from storage (an earlier attempt ran elsewhere)")
    spec = {
        "base_model_path": job.base_model.source,
        "train_examples": train,
        "validation_examples": validation,
        "config": job.config,
        "output_dir": str(output_dir),
        "dataset_hash": job.dataset_sha256,
        "quantized_cache_dir": str(settings.TRAINING_QUANTIZED_DIR),
        **_example_facts(job),
        "control_examples": _project_control_set(job, data_dir),
        "init_adapter_path": parent_adapter_dir(job, folder),  # continue training: the parent adapter's files
        "init_adapter_method": parent_method(job),
        "system_prompt": job.project.default_system_prompt,
    }
    if job.method == "dpo":
        try:
            spec.update(preference_data.download_for_job(job, data_dir))
        except OSError as exc:
            return _finish_failed(reporter, "invalid_data", f"The preference pairs could not be read: {exc}")
    return spec


def _execute(job: TrainingJob, reporter: JobReporter) -> str:
    folder = work_dir(job)
    # Fetching the data, a stored checkpoint or a parent adapter may take minutes on a slow storage, and
    # the engine's ticks only start after it: the row beats from a thread meanwhile, or the reaper would
    # take each attempt for dead before it trains (and the job would fail after its last attempt).
    with beating(reporter.mine(), settings.TRAINING_HEARTBEAT_SECONDS):
        spec = _prepare(job, reporter, folder)
    if isinstance(spec, str):
        return spec
    output_dir = Path(spec["output_dir"])
    outcome = run_spec(spec, reporter=reporter)
    status = finish_outcome(reporter, outcome, output_dir)
    if reporter.mirror is not None:
        if status == "died":  # the reaper re-queues it: the newest checkpoint must be in storage
            reporter.stored(reporter.mirror.finish())
            reporter.mine().update(log_tail=reporter.tail)
        elif status != "lost":  # ended here; a lost job belongs to another attempt now
            reporter.mirror.discard()
    return status


# Jobs launched before every launch read a dataset version saved their data in their own folder, with this
# manifest of example ids next to it (their rows and adapters remain).
MANIFEST_NAME = "manifest.jsonl"

# A project's own control set for the forgetting check replaces the built-in one when this file exists.
CONTROL_SET_PATH = "control-sets/project-{project_id}.jsonl"


def example_ids(job: TrainingJob) -> dict[str, list[int]]:
    """Example ids per data file ("train" / "validation"), in line order: from the dataset version's
    manifest, or the manifest an older launch wrote next to the data it saved. Empty when there is none."""
    if job.dataset_version is not None:
        path = job.dataset_version.manifest_path
    else:
        path = f"{job.train_path.rsplit('/', 1)[0]}/{MANIFEST_NAME}"
    ids: dict[str, list[int]] = {"train": [], "validation": []}
    try:
        with open_stream(path) as handle:
            for line in handle:
                if line.strip():
                    row = json.loads(line)
                    ids.setdefault(row["split"], []).append(int(row["id"]))
    except (OSError, ValueError, KeyError):
        return {}
    return ids


def _example_facts(job: TrainingJob) -> dict[str, Any]:
    """The spec's general_examples (line indices of general-category examples) and example_categories (each
    line's category, for the behavioural evaluation's per-category rates): one read of the manifest, one query."""
    from annotation.models import Example

    ids = example_ids(job)
    if not ids:
        return {"general_examples": None, "example_categories": None}
    categories = dict(
        Example.objects.filter(pk__in=[pk for part in ids.values() for pk in part]).values_list("pk", "category")
    )
    general = job.project.general_category
    return {
        "general_examples": {
            part: [i for i, pk in enumerate(pks) if categories.get(pk) == general] for part, pks in ids.items()
        }
        if general
        else None,
        "example_categories": {part: [categories.get(pk) or "" for pk in pks] for part, pks in ids.items()},
    }


def _project_control_set(job: TrainingJob, data_dir: Path) -> str | None:
    path = CONTROL_SET_PATH.format(project_id=job.project_id)
    return download_to(path, data_dir / "control.jsonl") if default_storage.exists(path) else None


SHORT_METHOD_NAMES = {"qlora": "QLoRA", "lora": "LoRA", "dora": "DoRA", "dpo": "DPO"}


def default_adapter_name(job: TrainingJob) -> str:
    """What differs between a project's adapters, so pickers tell them apart: "LoRA r16 · v3 · job 12"
    (method, rank, dataset version, job)."""
    parts = [f"{SHORT_METHOD_NAMES.get(job.method, job.method)} r{(job.config or {}).get('rank', '?')}"]
    if job.dataset_version_id:
        parts.append(f"v{job.dataset_version.number}")
    parts.append(f"job {job.pk}")
    return " · ".join(parts)[:200]


def _score_rows(job: TrainingJob, scores: list[dict[str, Any]]) -> list[ExampleScore]:
    """ExampleScore rows for the engine's per-example scores whose example is known (one query for categories)."""
    from annotation.models import Example

    ids = example_ids(job)
    mapped = []
    for score in scores:
        part = ids.get(score.get("source", ""), [])
        if 0 <= score.get("index", -1) < len(part):
            mapped.append((part[score["index"]], score))
    facts = {
        pk: (category, author_id, check_warnings(findings))
        for pk, category, author_id, findings in Example.objects.filter(pk__in=[pk for pk, _ in mapped]).values_list(
            "pk", "category", "author_id", "findings"
        )
    }
    rows, seen = [], set()
    for pk, score in mapped:
        if pk in seen:
            continue
        seen.add(pk)
        adapter_loss, base_loss = score.get("adapter_loss"), score.get("base_loss")
        category, author_id, warnings = facts.get(pk, ("", None, 0))
        rows.append(
            ExampleScore(
                job_id=job.pk,
                example_id=pk if pk in facts else None,
                split=score.get("split_used") or score.get("source", ""),
                adapter_loss=adapter_loss,
                base_loss=base_loss,
                loss_drop=None if adapter_loss is None or base_loss is None else base_loss - adapter_loss,
                tokens=int(score.get("tokens") or 0),
                truncated_tokens=int(score.get("truncated_tokens") or 0),
                category=category or "",
                author_id=author_id,
                check_warnings=warnings,
            )
        )
    return rows


def check_warnings(findings: Any) -> int:
    """Distinct check codes that warned about an example (severity warning or error, the project's policy
    applied), from its stored findings."""
    if not isinstance(findings, list):
        return 0
    codes = {f.get("code") for f in findings if isinstance(f, dict) and f.get("severity") in ("warning", "error")}
    return min(len(codes - {None}), 32767)


def finish_outcome(reporter: JobReporter, outcome: runner.ChildOutcome, output_dir: Path) -> str:
    """Store how the engine run ended on the job (and its adapter); `output_dir` is the engine's output folder."""
    job, folder = reporter.job, output_dir.parent
    if reporter.lost:
        return "lost"
    if outcome.status == runner.SUCCEEDED:
        return _finish_succeeded(reporter, outcome, output_dir)
    if outcome.status == runner.CANCELLED:
        step = (outcome.result or {}).get("metrics", {}).get("global_step")
        reporter.line(
            "cancelled"
            + (f" at step {step}" if step is not None else "")
            + (" (killed after the grace period)" if outcome.killed else "")
        )
        _finish(reporter, JobStatus.CANCELLED, result=_stored_result(outcome.result or {}))
        shutil.rmtree(folder, ignore_errors=True)
        return "cancelled"
    if outcome.status == runner.FAILED:
        error = outcome.error or {}
        status = _finish_failed(reporter, error.get("code", "internal"), error.get("message", "Training failed."))
        if error.get("traceback"):
            log.error("training job %s failed:\n%s", job.pk, error["traceback"])
        shutil.rmtree(folder, ignore_errors=True)
        return status
    # The child died without a word (killed, OOM killer): stop the heartbeat and leave the job to the
    # reaper, which re-queues it to resume from its last checkpoint.
    reporter.line(f"the engine process exited abnormally (exit code {outcome.exitcode}); waiting for the reaper")
    reporter.mine().update(log_tail=reporter.tail)
    log.error("training job %s: engine process died with exit code %s", job.pk, outcome.exitcode)
    return "died"


def yield_cpu(pid: int) -> int | None:
    """Lower the engine process's CPU priority to TRAINING_CPU_NICE, so that on a shared host the web,
    the database and the other workers are served first and training takes the CPU they leave.

    Called right after the start, before the engine has imported torch: the threads and the ranks it
    starts later inherit the priority. Never raises the priority (a worker already niced keeps its own).
    Returns the process's priority, None when it could not be read.
    """
    try:
        nice = min(max(settings.TRAINING_CPU_NICE, os.getpriority(os.PRIO_PROCESS, 0)), 19)
        os.setpriority(os.PRIO_PROCESS, pid, nice)
        return os.getpriority(os.PRIO_PROCESS, pid)
    except OSError as exc:  # the process is gone already, or the system refuses: train at normal priority
        log.warning("could not lower the CPU priority of engine process %s: %s", pid, exc)
        return None


def run_spec(spec: dict[str, Any], *, reporter: JobReporter) -> runner.ChildOutcome:
    """One process in a spawned child, or several (num_processes) under `accelerate launch`."""
    processes = int((spec.get("config") or {}).get("num_processes") or 1)
    env = child_environment(processes)
    if reporter.job.device_type == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # a CPU job stays on the CPU on a machine with GPUs too
    common: dict[str, Any] = dict(
        on_progress=reporter.on_progress,
        on_log=reporter.on_log,
        on_tick=reporter.on_tick,
        on_start=reporter.on_start,
        tick_seconds=settings.TRAINING_HEARTBEAT_SECONDS,
        kill_after=settings.TRAINING_CANCEL_GRACE_SECONDS,
        env=env,
        step_delay=settings.TRAINING_STEP_DELAY_MS / 1000,
        mmap_threshold=settings.TRAINING_MALLOC_MMAP_THRESHOLD,
    )
    if processes < 2:
        return runner.run_in_child(spec, **common)
    if settings.TRAINING_PEERS:  # a group of machines: the peers launch their ranks too
        from .peers import ask_peers

        reporter.line(f"asked peers {', '.join(ask_peers(reporter.job, reporter.attempt))} to start their ranks")
    return launcher.run_launched(
        spec,
        num_processes=processes,
        run_dir=Path(spec["output_dir"]).parent / "launch",
        config_file=settings.TRAINING_ACCELERATE_CONFIG or None,
        **common,
    )


def _finish(reporter: JobReporter, status: str, **fields: Any) -> bool:
    return reporter.update(status=status, finished_at=timezone.now(), log_tail=reporter.tail, **fields)


def _finish_failed(reporter: JobReporter, code: str, message: str) -> str:
    reporter.line(f"failed: {message}")
    _finish(reporter, JobStatus.FAILED, error_code=code[:50], error=message)
    return "failed"


def _stored_result(result: dict[str, Any]) -> dict[str, Any]:
    """The engine's JobResult as stored on the job: samples and histories normalised through the schema."""
    stored = dict(result)
    stored["samples"] = results.samples(result.get("samples"))
    stored["loss_history"] = [
        results.loss_point(p["step"], p["loss"]) for p in result.get("loss_history") or [] if p.get("loss") is not None
    ]
    stored["eval_history"] = [
        results.eval_point(p["step"], p["eval_loss"])
        for p in result.get("eval_history") or []
        if p.get("eval_loss") is not None
    ]
    stored["metrics"] = dict(result.get("metrics") or {})
    stored.pop("example_scores", None)  # stored as ExampleScore rows
    stored.pop("behaviour", None)  # stored, with the checks' results, on the adapter (Adapter.behaviour)
    return stored


def _behaviour(reporter: JobReporter, raw: Any, card: Path) -> results.BehaviourReport | None:
    """The behavioural evaluation's report: the project's checks on the engine's answers, also written into
    the model card (`card`). None without answers; a failure of the checks is logged and leaves the job
    successful without a report."""
    from evaluation.services import behaviour as behaviour_services

    run = results.behaviour_run(raw)
    if run is None:
        return None
    try:
        with beating(reporter.mine(), settings.TRAINING_HEARTBEAT_SECONDS):  # a knowledge base may take a while
            report = behaviour_services.behaviour_report(reporter.job.project, run)
    except Exception as exc:  # a check's bug must not lose the trained adapter
        log.exception("training job %s: the behavioural checks failed", reporter.job.pk)
        reporter.line(f"behavioural checks not run: {type(exc).__name__}: {exc}")
        return None
    reporter.line(behaviour_services.summary(report))
    if card.is_file():
        card.write_text(artifacts.card_with_behaviour(card.read_text(encoding="utf-8"), report), encoding="utf-8")
    return report


def _finish_succeeded(reporter: JobReporter, outcome: runner.ChildOutcome, output_dir: Path) -> str:
    job, result = reporter.job, _stored_result(outcome.result or {})
    scores = (outcome.result or {}).get("example_scores") or []
    source = Path(result.get("adapter_dir") or output_dir)  # JobResult.adapter_dir, set by every successful run
    if not (source / "adapter_config.json").is_file():
        return _finish_failed(reporter, "internal", f"The engine reported success but wrote no adapter in {source}.")
    behaviour = _behaviour(reporter, (outcome.result or {}).get("behaviour"), source / "README.md")
    prefix = f"adapters/project-{job.project_id}/job-{job.pk}"
    size = 0
    # Files, then the row: a failed copy (full or read-only storage) or a lost job deletes the copies.
    writer = ArtifactWriter("the adapter")
    try:
        # The engine has exited (no more ticks): the row beats while the files go to a possibly slow storage.
        with beating(reporter.mine(), settings.TRAINING_HEARTBEAT_SECONDS):
            # Files an earlier attempt left there when its worker died mid-copy (no row names them): with
            # their names taken, the storage would save these under other names and the adapter, read
            # from the fixed names under `prefix`, would be the earlier attempt's, maybe half-written.
            try:
                folders.delete_folder(prefix)
            except storage_failures() as exc:
                raise writer.error(exc) from exc
            for path in sorted(p for p in source.rglob("*") if p.is_file()):
                relative = path.relative_to(source).as_posix()
                with open(path, "rb") as handle:
                    writer.save(f"{prefix}/{relative}", File(handle))
                if path.name.startswith("adapter_model"):
                    size += path.stat().st_size
    except StorageError as exc:
        writer.discard()
        shutil.rmtree(output_dir.parent, ignore_errors=True)
        return _finish_failed(reporter, "storage", exc.message)
    model_card = (source / "README.md").read_text() if (source / "README.md").is_file() else ""
    version = job.dataset_version
    lineage = {
        "dataset_version": {"id": version.pk, "number": version.number} if version else None,
        "dataset_sha256": job.dataset_sha256,
        "train_path": job.train_path,
        "validation_path": job.validation_path,
        "base_model": {"name": job.base_model.name, "source": job.base_model.source},
        "method": job.method,
        "config": job.config,
        "seed": job.config.get("seed"),
        "package_versions": result.get("package_versions", {}),
        "job_id": job.pk,
        "attempts": reporter.attempt,
        "kept_unquantized": result.get("kept_unquantized", []),
        "forgetting": result.get("forgetting"),
        "parent_adapter": parent_lineage(job),
    }
    try:
        with transaction.atomic():
            if not _finish(reporter, JobStatus.SUCCEEDED, result=result, eta_seconds=0):
                transaction.set_rollback(True)
                writer.discard()
                return "lost"
            Adapter.objects.create(
                project_id=job.project_id,
                job=job,
                base_model_id=job.base_model_id,
                name=default_adapter_name(job),
                method=job.method,
                storage_path=prefix,
                size_bytes=int(result.get("adapter_size_bytes") or size),
                metrics=result["metrics"],
                samples=result["samples"],
                lineage=lineage,
                model_card=model_card,
                behaviour=behaviour or {},
                created_by=job.created_by,
            )
            ExampleScore.objects.bulk_create(_score_rows(job, scores), batch_size=2000)
    except BaseException:
        writer.discard()  # no Adapter row: no adapter files either
        raise
    shutil.rmtree(output_dir.parent, ignore_errors=True)
    return "succeeded"
