"""The training child's process set-up (training/runner.py)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from tests.workers import ROOT


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_heap_limit_applies_with_glibc_and_zero_keeps_the_default():
    code = (
        "from training.runner import limit_heap_growth, MALLOC_MMAP_THRESHOLD;"
        "print(limit_heap_growth(0), limit_heap_growth(MALLOC_MMAP_THRESHOLD), MALLOC_MMAP_THRESHOLD)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", str(4 * 2**20)]
    # Importing the runner must not pull in torch or Django (the child starts from it).
    code = "import sys, training.runner; print('torch' in sys.modules, 'django' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
