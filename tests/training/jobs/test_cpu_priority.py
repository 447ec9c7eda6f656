"""The engine process runs at a lower CPU priority than the web and the database on a shared host."""

from __future__ import annotations

import os
import subprocess
import sys

from training.services.execution import yield_cpu


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])


def test_the_engine_process_gets_the_configured_priority(settings):
    settings.TRAINING_CPU_NICE = 10
    child = _sleeper()
    try:
        assert yield_cpu(child.pid) == 10
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == 10
    finally:
        child.kill()
        child.wait()


def test_zero_keeps_the_worker_priority_and_values_are_capped(settings):
    settings.TRAINING_CPU_NICE = 0
    child = _sleeper()
    try:
        assert yield_cpu(child.pid) == os.getpriority(os.PRIO_PROCESS, 0)
        settings.TRAINING_CPU_NICE = 40
        assert yield_cpu(child.pid) == 19
    finally:
        child.kill()
        child.wait()


def test_a_process_already_gone_is_reported_not_raised(settings):
    settings.TRAINING_CPU_NICE = 10
    child = _sleeper()
    child.kill()
    child.wait()
    assert yield_cpu(child.pid) is None
