"""The training child's process set-up (training/processes/runner.py)."""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import subprocess
import sys
import time

import pytest

from tests.workers import ROOT


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_heap_limit_applies_with_glibc_and_zero_keeps_the_default():
    code = (
        "from training.processes.runner import limit_heap_growth, MALLOC_MMAP_THRESHOLD;"
        "print(limit_heap_growth(0), limit_heap_growth(MALLOC_MMAP_THRESHOLD), MALLOC_MMAP_THRESHOLD)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", str(4 * 2**20)]
    # Importing the runner must not pull in torch or Django (the child starts from it).
    code = "import sys, training.processes.runner; print('torch' in sys.modules, 'django' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# A stand-in for the Celery worker: it runs a job through `run_in_child`, prints the engine child's pid
# and waits; the test then kills it outright. The spawned child imports this script as `__mp_main__`
# before `_child_main` runs, which lets the engine block there instead of training a model.
SUPERVISOR = """
import sys
import time

if __name__ == "__mp_main__":
    import training.engine.run

    def run_job(spec, on_progress, should_stop):
        while True:
            time.sleep(1)

    training.engine.run.run_job = run_job

if __name__ == "__main__":
    from training.processes.runner import run_in_child

    spec = {"base_model_path": "unused", "train_examples": [], "output_dir": sys.argv[1], "config": {}}
    run_in_child(spec, on_start=lambda pid: print(pid, flush=True), tick_seconds=0.5)
"""


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's parent may never reap it in a container)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_engine_child_ends_when_its_worker_is_killed(tmp_path):
    script = tmp_path / "supervisor.py"
    script.write_text(SUPERVISOR)
    worker = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "out")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        child = int(worker.stdout.readline())
        time.sleep(1.0)
        assert _running(child), "the engine child should be running its (blocked) job"
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        deadline = time.monotonic() + 15
        while _running(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _running(child), "an orphaned engine would train on beside the re-queued attempt"
    finally:
        worker.kill()
        worker.wait(10)
        with contextlib.suppress(ProcessLookupError, NameError):
            os.kill(child, signal.SIGKILL)


def test_bitsandbytes_offline_hub_warning_reads_as_a_harmless_note():
    import logging

    from training.processes.runner import OFFLINE_KERNEL_NOTE, explain_offline_kernel

    warning = logging.LogRecord(
        "bitsandbytes.backends.cpu.ops",
        logging.WARNING,
        __file__,
        1,
        "Failed to load CPU gemm_4bit_forward from kernels-community: %s. Please make sure ...",
        ("Hub is in offline mode",),
        None,
    )
    assert explain_offline_kernel(warning)
    assert (warning.getMessage(), warning.levelname) == (OFFLINE_KERNEL_NOTE, "INFO")
    other = logging.LogRecord("bitsandbytes", logging.WARNING, __file__, 1, "something else %s", ("x",), None)
    assert explain_offline_kernel(other)
    assert other.getMessage() == "something else x"
