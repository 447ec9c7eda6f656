"""Run one engine job as several processes (one per device) under `accelerate launch`. No Django here.

`run_launched(spec, num_processes=N, run_dir=...)` is the multi-process sibling of
`runner.run_in_child`, with the same callbacks and the same outcome. Its parent side:

- writes the spec to `run_dir/spec.json` and starts `accelerate launch --multi_gpu --num_processes N
  -m training.processes.launcher run_dir` in a process group of its own. `--multi_gpu` only picks accelerate's
  torchrun launcher; on a CPU worker the ranks train on the CPU over gloo, on CUDA over nccl;
- relays what the ranks append to their events files, `run_dir/events-<rank>.jsonl` (rank 0:
  progress, log lines, the result; any rank: an error). A file per rank: a rank killed in the middle
  of a line leaves that line partial in its own file only, never joined to another rank's next line;
  ticks like `run_in_child` (heartbeat, cancel flag) and asks for a stop by creating `run_dir/stop`;
  rank 0 reads it after each optimizer step and broadcasts the answer, so all ranks stop on the same
  step and save one checkpoint together;
- kills the whole group when the stop is not honoured within `kill_after`.

Every rank is covered by the launcher's liveness: torchrun ends all ranks and exits non-zero when one
of them dies, so a killed rank makes the attempt `died` like a killed single child, and the reaper
resumes the job from its last checkpoint. A rank that only lost its peer reports `peer_lost`, not an
error, for the same reason. The launcher's own output goes to `run_dir/launcher.log`; its last lines
join the outcome when the attempt died.

`python -m training.processes.launcher RUN_DIR` is each rank's entry point (the launcher runs it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .runner import DIED, MALLOC_MMAP_THRESHOLD, ChildOutcome, conclude, limit_heap_growth, plain_value, supervise

log = logging.getLogger(__name__)

SPEC, STOP, LAUNCHER_LOG = "spec.json", "stop", "launcher.log"
EVENTS_GLOB = "events-*.jsonl"
KINDS = ("progress", "log", "result", "error")


def events_file(run_dir: Path, rank: int) -> Path:
    """The file rank `rank` appends its events to."""
    return run_dir / f"events-{rank}.jsonl"


# What the ranks get of the worker's environment: what Python, torch (CUDA, NCCL, gloo, threads),
# accelerate, transformers and the Hugging Face caches read; never the worker's credentials (database,
# broker, storage keys, secret key, tokens), which a rank has no use for and would hand to every
# library and subprocess it runs. The caller's `env` (offline flags, the devices) is added on top.
RANK_ENV_NAMES = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR", "TEMP", "TMP"}
    | {"PYTHONPATH", "PYTHONHOME", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "VIRTUAL_ENV"}
    | {"LD_LIBRARY_PATH", "LD_PRELOAD", "MALLOC_ARENA_MAX", "MASTER_ADDR", "MASTER_PORT", "TOKENIZERS_PARALLELISM"}
)
RANK_ENV_PREFIXES = (
    *("LC_", "XDG_", "CUDA_", "NVIDIA_", "NCCL_", "GLOO_", "TORCH", "PYTORCH_", "CUBLAS", "CUDNN_", "TRITON_"),
    *("OMP_", "MKL_", "KMP_", "OPENBLAS_", "GOTO_", "HF_", "HUGGINGFACE_", "TRANSFORMERS_", "ACCELERATE_"),
    *("BNB_", "BITSANDBYTES_", "SAFETENSORS_", "PEFT_"),
)
# Names with one of these words are credentials even under an allowed prefix (HF_TOKEN: the ranks load
# the base model offline, from files the worker already has).
SECRET_WORDS = frozenset({"TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIALS", "AUTH"})


def rank_environment(environ: Mapping[str, str], extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the launcher and its ranks run with: `environ`'s allowed names, then `extra`."""
    kept = {
        name: value
        for name, value in environ.items()
        if (name in RANK_ENV_NAMES or name.startswith(RANK_ENV_PREFIXES))
        and not SECRET_WORDS.intersection(name.upper().split("_"))
    }
    return {**kept, "TOKENIZERS_PARALLELISM": "false", **(extra or {})}


def launch_command(run_dir: str | Path, num_processes: int, *, config_file: str | None = None) -> list[str]:
    """The `accelerate launch` command line for `num_processes` ranks on this machine.

    With `config_file` (an `accelerate config` file: several machines, this one's machine rank, the
    main process's address and port, rendezvous), that file says where the ranks run and only the
    process count (over all machines) comes from the job. `--multi_gpu` always: it picks torchrun,
    and the job's own `distributed` setting chooses DDP or FSDP inside the Trainer.
    """
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    if config_file:
        command += ["--config_file", config_file, "--multi_gpu", "--num_processes", str(num_processes)]
    else:
        # Port 0: a free port per launch, so several jobs (workers) on one machine never collide.
        command += ["--multi_gpu", "--num_processes", str(num_processes), "--num_machines", "1"]
        command += ["--machine_rank", "0", "--main_process_port", "0"]
    command += ["--mixed_precision", "no", "--dynamo_backend", "no", "-m", "training.processes.launcher", str(run_dir)]
    return command


def parse_event(line: bytes) -> tuple | None:
    """(kind, payload) of one events line, or None. A line that does not parse as a whole may be the
    tail of a partial line a killed writer left, followed by a complete event: that event is read."""
    at = 0
    while at >= 0:
        with contextlib.suppress(ValueError):
            event = json.loads(line[at:])
            if isinstance(event, dict) and event.get("kind") in KINDS:
                return event["kind"], event.get("payload")
        at = line.find(b'{"kind"', at + 1)  # where the next event may start
    return None


class _EventReader:
    """Reads the complete lines the ranks appended to their events files since the last call."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.offsets: dict[Path, int] = {}
        self.pending: list[tuple] = []

    def __call__(self, timeout: float) -> tuple | None:
        deadline = time.monotonic() + timeout
        while not self.pending:
            self._read()
            if self.pending or time.monotonic() >= deadline:
                break
            time.sleep(min(0.1, timeout))
        return self.pending.pop(0) if self.pending else None

    def _read(self) -> None:
        for path in sorted(self.folder.glob(EVENTS_GLOB), key=lambda p: (len(p.name), p.name)):  # rank order
            offset = self.offsets.get(path, 0)
            try:
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
            except FileNotFoundError:
                continue
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self.offsets[path] = offset + len(complete)
            for line in complete.splitlines():
                event = parse_event(line)
                if event is not None:
                    self.pending.append(event)


def process_identity(pid: int) -> str:
    """`pid` with its start time (Linux): a later process given the same pid is not taken for it."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return str(pid)
    return f"{pid}:{fields[19]}" if len(fields) > 19 and fields[0] != "Z" else ""


def _alive(identity: str) -> bool:
    pid = int(identity.split(":", 1)[0])
    if ":" in identity:
        return process_identity(pid) == identity
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def exit_with_supervisor(identity: str | None, every: float = 1.0) -> None:
    """In a rank: end this process once the worker that launched the job has gone.

    The launcher runs in a session of its own (so that one kill ends the group), which also means a
    worker killed outright (SIGKILL, the OOM killer, Celery's hard time limit) leaves it and its ranks
    behind: they would train on beside the attempt the reaper re-queues, in the same folders. Each rank
    watches the worker's pid and start time; once every rank has gone the launcher exits too.
    """
    if not identity:
        return

    def watch() -> None:
        while _alive(identity):
            time.sleep(every)
        os._exit(SUPERVISOR_GONE_EXIT)

    threading.Thread(target=watch, name="exit-with-supervisor", daemon=True).start()


SUPERVISOR_GONE_EXIT = 75  # a rank that ended because its worker died


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _tail(path: Path, lines: int = 8) -> list[str]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def run_launched(
    spec: dict[str, Any],
    *,
    num_processes: int,
    run_dir: str | Path,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    on_log: Callable[[str], None] | None = None,
    on_tick: Callable[[], bool] | None = None,
    on_start: Callable[[int], None] | None = None,
    tick_seconds: float = 5.0,
    kill_after: float = 30.0,
    env: dict[str, str] | None = None,
    step_delay: float = 0.0,
    mmap_threshold: int = MALLOC_MMAP_THRESHOLD,
    config_file: str | None = None,
) -> ChildOutcome:
    """Run `training.engine.run.run_job` on `num_processes` ranks; block until the launcher ends.

    Same arguments and outcome as `runner.run_in_child`; `on_start(pid)` gets the launcher's pid
    (the ranks are its children). `run_dir` is emptied of an earlier attempt's files first.
    """
    folder = Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for path in (*folder.glob(EVENTS_GLOB), folder / STOP, folder / LAUNCHER_LOG):
        path.unlink(missing_ok=True)
    (folder / SPEC).write_text(
        json.dumps(
            {
                "spec": plain_value(spec),
                "step_delay": step_delay,
                "mmap_threshold": mmap_threshold,
                "supervisor": process_identity(os.getpid()),
            }
        ),
        encoding="utf-8",
    )
    child_env = rank_environment(os.environ, env)
    started = time.monotonic()
    with open(folder / LAUNCHER_LOG, "wb") as launcher_log:
        process = subprocess.Popen(
            launch_command(folder, num_processes, config_file=config_file),
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=launcher_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the launcher and its ranks: one group to kill
        )
    outcome = ChildOutcome(status=DIED, pid=process.pid)
    if on_start is not None:
        on_start(process.pid)
    try:
        supervise(
            outcome,
            receive=_EventReader(folder),
            alive=lambda: process.poll() is None,
            stop=lambda: (folder / STOP).touch(),
            kill=lambda: _kill_group(process),
            on_progress=on_progress,
            on_log=on_log,
            on_tick=on_tick,
            tick_seconds=tick_seconds,
            kill_after=kill_after,
        )
    finally:
        _kill_group(process)  # ranks left behind (or the parent itself is being torn down)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
        outcome.exitcode = process.returncode
        outcome.wall_seconds = time.monotonic() - started
    conclude(outcome)
    if outcome.status == DIED and on_log is not None:
        for line in _tail(folder / LAUNCHER_LOG):
            on_log(f"launcher: {line}")
    return outcome


# Each rank ------------------------------------------------------------------------------------------


class _EventWriter:
    """Appends one JSON line per event to this rank's own file, each line in one `write` (O_APPEND)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, kind: str, payload: Any) -> None:
        line = (json.dumps({"kind": kind, "payload": plain_value(payload)}, default=str) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(line)
            while view:  # a regular file takes it whole; a short write only when the disk is full
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)


class _EventLogHandler(logging.Handler):
    def __init__(self, write: _EventWriter) -> None:
        super().__init__(logging.INFO)
        self.write = write
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.write("log", self.format(record))


def main(run_dir: str) -> int:
    """One rank: run the engine; rank 0 reports through the events file. Returns the exit status."""
    from training.engine import distributed

    folder = Path(run_dir)
    job = json.loads((folder / SPEC).read_text(encoding="utf-8"))
    exit_with_supervisor(job.get("supervisor"))
    limit_heap_growth(int(job.get("mmap_threshold", MALLOC_MMAP_THRESHOLD)))
    write = _EventWriter(events_file(folder, distributed.rank()))
    main_rank = distributed.is_main()
    root = logging.getLogger()
    if main_rank:
        root.handlers[:] = [_EventLogHandler(write)]
        root.setLevel(logging.INFO)
    else:
        root.setLevel(logging.WARNING)  # the other ranks' warnings go to the launcher's log
    step_delay = float(job.get("step_delay") or 0)
    stop_file = folder / STOP
    try:
        from training.engine.errors import EngineError
        from training.engine.run import JobSpec, run_job

        def on_progress(progress: dict[str, Any]) -> None:
            if main_rank:
                write("progress", progress)
                if step_delay:
                    time.sleep(step_delay)

        def should_stop() -> bool:
            return main_rank and stop_file.exists()

        known = set(JobSpec.__dataclass_fields__)
        spec = JobSpec(**{k: v for k, v in job["spec"].items() if k in known})
        try:
            result = run_job(spec, on_progress=on_progress, should_stop=should_stop)
        except EngineError as exc:
            write("error", {"code": exc.code, "message": exc.message, "extra": exc.extra, "rank": distributed.rank()})
            return 1
        if main_rank:
            write("result", result.to_dict())
        return 0
    except BaseException as exc:  # noqa: BLE001 - the parent must learn about every failure
        if distributed.is_peer_lost(exc):
            # Another rank vanished: the attempt died (resumable), it did not fail.
            log.warning("rank %s lost a peer: %s", distributed.rank(), exc)
            return 1
        message = f"{type(exc).__name__}: {exc}"
        setup = distributed.setup_failure(exc)
        if setup is not None:  # the group could not be formed: its own code and what to do
            error = {"code": setup[0], "message": f"{setup[1]} ({message})"}
        elif "out of memory" in str(exc).lower():
            error = {"code": "out_of_memory", "message": f"The device ran out of memory ({message})."}
        else:
            error = {"code": "internal", "message": message, "traceback": traceback.format_exc()[-4000:]}
        write("error", {**error, "rank": distributed.rank()})
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
