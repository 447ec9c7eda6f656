"""Run one engine job in a child process and relay what it reports. No Django here.

The Celery task (and the training benchmark) call `run_in_child(spec, ...)`. The child is started with
the `spawn` start method, so it is a fresh interpreter that imports only `training.engine` (never Django,
never the worker's state); the heavy ML imports happen there and die with it. The parent:

- receives progress, log lines and the final result or error over a multiprocessing queue;
- calls `on_tick()` at least every `tick_seconds` while the child is alive (the task writes the heartbeat
  and reads the cancel flag there); when it returns True the parent sets an Event that the engine's
  `should_stop` reads (cooperative stop);
- kills the child when it has not exited `kill_after` seconds after the stop was asked for (watchdog).

The outcome says what happened: `succeeded`, `cancelled`, `failed` (with the engine's error code and
message) or `died` (the child vanished without a word, e.g. SIGKILL or the OOM killer; the caller leaves
such a job to the reaper, which resumes it from its last checkpoint).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import queue as queue_module
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

SUCCEEDED, CANCELLED, FAILED, DIED = "succeeded", "cancelled", "failed", "died"


@dataclass
class ChildOutcome:
    status: str
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    exitcode: int | None = None
    killed: bool = False  # the watchdog killed the child after a stop request
    stop_requested: bool = False
    pid: int | None = None
    wall_seconds: float = 0.0
    last_progress: dict[str, Any] = field(default_factory=dict)


def plain_value(value: Any) -> Any:
    """Dataclasses and paths to plain JSON-friendly values (the parent never unpickles engine classes)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain_value(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_value(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


class _QueueLogHandler(logging.Handler):
    def __init__(self, q) -> None:
        super().__init__(logging.INFO)
        self.q = q
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.q.put(("log", self.format(record)))


# Freed host memory above this size goes straight back to the operating system (see below).
MALLOC_MMAP_THRESHOLD = 4 * 2**20
_M_MMAP_THRESHOLD = -3  # mallopt parameter (glibc's malloc.h)


def limit_heap_growth(threshold: int = MALLOC_MMAP_THRESHOLD) -> bool:
    """Serve host allocations of `threshold` bytes and more with mmap, so they are unmapped when freed.

    glibc raises this threshold each time a large block is freed (up to 32 MiB), after which such
    blocks come from the heap, where freed space mostly stays in the process. On the CPU, QLoRA
    dequantises every 4-bit weight for each use (tens of MiB per layer on a ~1B model) and frees it:
    with the moving threshold a ~0.75B QLoRA run peaked at ~2.9 GiB, with a fixed 4 MiB at ~1.5 GiB,
    for ~15% fewer tokens/s (page faults on fresh mappings); LoRA runs were unchanged. Pass 0 to keep
    glibc's default. Returns whether it applied (Linux with glibc only).
    """
    if threshold <= 0:
        return False
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return False
    return bool(mallopt and mallopt(_M_MMAP_THRESHOLD, threshold))


def exit_with_parent() -> None:
    """In a spawned child: end this process as soon as its parent has gone.

    A worker killed outright (SIGKILL, the OOM killer, Celery's hard time limit) cannot stop its child,
    and an orphaned engine would go on training while the reaper re-queues the job: two attempts at
    once, writing the same checkpoint folder. The parent holds one end of a pipe whose other end the
    child has (`parent_process().sentinel`); the kernel closes it when the parent dies, however it dies.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(PARENT_GONE_EXIT)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


# bitsandbytes looks on the Hugging Face hub for an optional faster CPU 4-bit kernel when it is imported, and
# logs a warning that reads like a failure when the hub is offline (always, here). The job log says what it means.
OFFLINE_KERNEL_LOGGER = "bitsandbytes.backends.cpu.ops"
OFFLINE_KERNEL_NOTE = (
    "bitsandbytes: its optional faster CPU kernel comes from the Hugging Face hub, which is offline here, so the "
    "built-in kernel is used. Harmless: training and answers are the same."
)


def explain_offline_kernel(record: logging.LogRecord) -> bool:
    """Log filter: bitsandbytes' offline-hub warning becomes a plain note (other records pass unchanged)."""
    if "kernels-community" in str(record.msg):
        record.msg, record.args, record.levelno, record.levelname = OFFLINE_KERNEL_NOTE, (), logging.INFO, "INFO"
    return True


PARENT_GONE_EXIT = 75  # a child that ended because its parent died (nobody reads it; ps / logs do)


def _child_main(
    spec: dict[str, Any], q, stop_event, env: dict[str, str], step_delay: float, mmap_threshold: int
) -> None:
    """Entry point of the child process: run the engine, report everything through `q`."""
    exit_with_parent()
    limit_heap_growth(mmap_threshold)
    os.environ.update(env)
    root = logging.getLogger()
    root.handlers[:] = [_QueueLogHandler(q)]
    root.setLevel(logging.INFO)
    logging.getLogger(OFFLINE_KERNEL_LOGGER).addFilter(explain_offline_kernel)
    exitcode = 0
    try:
        import torch

        from training.engine.errors import EngineError
        from training.engine.run import JobSpec, run_job

        logging.getLogger(__name__).info("torch uses %d CPU threads in this process", torch.get_num_threads())

        known = {f.name for f in dataclasses.fields(JobSpec)}
        job_spec = JobSpec(**{k: v for k, v in spec.items() if k in known})

        def on_progress(progress: dict[str, Any]) -> None:
            q.put(("progress", plain_value(progress)))
            if step_delay:
                time.sleep(step_delay)

        try:
            result = run_job(job_spec, on_progress=on_progress, should_stop=stop_event.is_set)
        except EngineError as exc:
            q.put(("error", {"code": exc.code, "message": exc.message, "extra": plain_value(exc.extra)}))
            exitcode = 1
        else:
            q.put(("result", plain_value(result)))
    except MemoryError:
        q.put(("error", {"code": "out_of_memory", "message": "The training process ran out of memory."}))
        exitcode = 1
    except BaseException as exc:  # noqa: BLE001 - the parent must learn about every failure
        message = f"{type(exc).__name__}: {exc}"
        if "out of memory" in str(exc).lower():
            q.put(("error", {"code": "out_of_memory", "message": f"The device ran out of memory ({message})."}))
        else:
            q.put(("error", {"code": "internal", "message": message, "traceback": traceback.format_exc()[-4000:]}))
        exitcode = 1
    finally:
        q.close()
        q.join_thread()
    if exitcode:
        os._exit(exitcode)


@contextlib.contextmanager
def _as_plain_parent():
    """Let a Celery prefork pool process start a child with the standard library's multiprocessing.

    The pool (billiard) marks its processes as daemons, which multiprocessing refuses to give children,
    and stores an authentication key of its own type, which the spawn start method cannot pickle. This
    parent always reaps its child (join / kill in `run_in_child`), so both are lifted while it starts.
    """
    current = multiprocessing.current_process()
    config = current._config  # type: ignore[attr-defined]
    saved = dict(config)
    config["daemon"] = False
    if "authkey" in config:
        config["authkey"] = multiprocessing.process.AuthenticationString(  # type: ignore[attr-defined]
            bytes(config["authkey"])
        )
    try:
        yield
    finally:
        config.clear()
        config.update(saved)


def run_in_child(
    spec: dict[str, Any],
    *,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    on_log: Callable[[str], None] | None = None,
    on_tick: Callable[[], bool] | None = None,
    on_start: Callable[[int], None] | None = None,
    tick_seconds: float = 5.0,
    kill_after: float = 30.0,
    env: dict[str, str] | None = None,
    step_delay: float = 0.0,
    mmap_threshold: int = MALLOC_MMAP_THRESHOLD,
) -> ChildOutcome:
    """Run `training.engine.run.run_job(JobSpec(**spec))` in a spawned child; block until it ends.

    spec: the JobSpec fields as plain values (base model path, data, config dict, output dir, ...).
    on_progress(dict): each progress report (step, max_steps, epoch, loss, learning_rate, ...).
    on_log(line): log lines of the child. on_start(pid): once the child runs.
    on_tick() -> bool: called at least every `tick_seconds` while the child lives; True asks it to stop.
    mmap_threshold: see `limit_heap_growth` (0: glibc's default).
    """
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    stop_event = ctx.Event()
    child_env = {"TOKENIZERS_PARALLELISM": "false", **(env or {})}
    started = time.monotonic()
    with _as_plain_parent():
        process = ctx.Process(
            target=_child_main,
            args=(spec, q, stop_event, child_env, step_delay, mmap_threshold),
            name="annotune-training-child",
            daemon=False,
        )
        process.start()
    assert process.pid is not None  # started
    outcome = ChildOutcome(status=DIED, pid=process.pid)
    if on_start is not None:
        on_start(process.pid)

    def receive(timeout: float) -> tuple | None:
        try:
            return q.get(timeout=timeout)
        except queue_module.Empty:
            return None

    try:
        supervise(
            outcome,
            receive=receive,
            alive=process.is_alive,
            stop=stop_event.set,
            kill=process.kill,
            on_progress=on_progress,
            on_log=on_log,
            on_tick=on_tick,
            tick_seconds=tick_seconds,
            kill_after=kill_after,
        )
    finally:
        if process.is_alive():  # the parent itself is being torn down
            process.kill()
        process.join(10)
        outcome.exitcode = process.exitcode
        outcome.wall_seconds = time.monotonic() - started
        q.close()
        q.cancel_join_thread()
    return conclude(outcome)


def supervise(
    outcome: ChildOutcome,
    *,
    receive: Callable[[float], tuple | None],
    alive: Callable[[], bool],
    stop: Callable[[], None],
    kill: Callable[[], None],
    on_progress: Callable[[dict[str, Any]], None] | None,
    on_log: Callable[[str], None] | None,
    on_tick: Callable[[], bool] | None,
    tick_seconds: float,
    kill_after: float,
) -> None:
    """Relay what the engine sends until its process (or process group) has exited, ticking and
    asking it to stop / killing it as `run_in_child` describes. `receive(timeout)` returns the next
    message, ("progress" | "log" | "result" | "error", payload), or None when none came in time."""
    stop_at: float | None = None
    next_tick = time.monotonic() + tick_seconds

    def handle(message: tuple | None) -> None:
        if message is None:
            return
        kind = message[0]
        if kind == "progress":
            outcome.last_progress = message[1]
            if on_progress is not None:
                on_progress(message[1])
        elif kind == "log":
            if on_log is not None:
                on_log(message[1])
        elif kind == "result":
            outcome.result = message[1]
        elif kind == "error":
            outcome.error = message[1]

    while True:
        handle(receive(min(1.0, tick_seconds)))
        now = time.monotonic()
        running = alive()
        if running and now >= next_tick:
            next_tick = now + tick_seconds
            if on_tick is not None and on_tick() and stop_at is None:
                stop_at = now
                stop()
                outcome.stop_requested = True
                log.info("asked training process %s to stop", outcome.pid)
        if running and stop_at is not None and now - stop_at > kill_after:
            log.warning("training process %s did not stop within %ss; killing it", outcome.pid, kill_after)
            kill()
            outcome.killed = True
        if not running:
            break
    # The process has exited: take what is left.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = receive(0.2)
        if message is None:
            break
        handle(message)


def conclude(outcome: ChildOutcome) -> ChildOutcome:
    """Set the outcome's status from what the engine sent (see the module's docstring)."""
    if outcome.result is not None:
        outcome.status = CANCELLED if outcome.result.get("cancelled") else SUCCEEDED
    elif outcome.error is not None:
        outcome.status = FAILED
    elif outcome.stop_requested:
        outcome.status = CANCELLED
    else:
        outcome.status = DIED
    return outcome
