"""Start a real Celery worker process against the test database and the configured broker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """The URL of the database the tests run on (pytest-django's test database)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    if connection.vendor == "postgresql":
        auth = db["USER"] or ""
        if db.get("PASSWORD"):
            auth += f":{db['PASSWORD']}"
        host = f"{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}"
        return f"postgres://{host}/{db['NAME']}"
    raise RuntimeError(f"no worker support for {connection.vendor}")


@contextlib.contextmanager
def celery_worker(
    queues: str = "default",
    *,
    concurrency: int = 1,
    env: dict[str, str] | None = None,
    ready_timeout: float = 90,
    beat: bool = False,
) -> Iterator[subprocess.Popen]:
    """Run `celery worker` in its own process group until the block ends; its log goes to a temp file.

    `beat`: with the embedded scheduler (`-B`), which sends the periodic reaper (`annotune.reap`)."""
    from annotune.celery import app

    broker_env = isolated_broker(app)
    app.control.purge()  # nothing left over from an earlier run
    worker_env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "DEBUG": "1",
        "PYTHONUNBUFFERED": "1",
        **broker_env,
        **(env or {}),
    }
    log = tempfile.NamedTemporaryFile("w+", prefix="celery-worker-", suffix=".log", delete=False)  # noqa: SIM115
    name = f"test-{uuid.uuid4().hex[:8]}@%h"
    command = [sys.executable, "-m", "celery", "-A", "annotune", "worker", "-Q", queues, "-n", name]
    command += ["--concurrency", str(concurrency), "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
    if beat:
        command += ["--beat", "--schedule", f"{log.name}.beat-schedule"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + ready_timeout
        while "ready." not in Path(log.name).read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Celery worker did not start:\n{Path(log.name).read_text()[-4000:]}")
            time.sleep(0.2)
        process.log_path = log.name  # type: ignore[attr-defined]
        yield process
    finally:
        stop_process_group(process)
        log.close()


_broker_env: dict[str, str] | None = None


def isolated_broker(app) -> dict[str, str]:
    """The file-system broker gets a folder of its own per test run; Redis is used as configured.

    Called once at session start (tests/conftest.py), before anything connects to the broker.
    """
    global _broker_env
    if _broker_env is not None:
        return _broker_env
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        _broker_env = {}
        return _broker_env
    folder = Path(tempfile.mkdtemp(prefix="broker-"))
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir()
    app.conf.broker_transport_options = {
        **app.conf.broker_transport_options,
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
    }
    _broker_env = {"ANNOTUNE_BROKER_DIR": str(folder)}
    return _broker_env


def stop_process_group(process: subprocess.Popen, timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def wait_for(predicate, timeout: float = 60, interval: float = 0.2, message: str = "condition"):
    """Poll until predicate() is truthy; return its value or fail with `message`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
