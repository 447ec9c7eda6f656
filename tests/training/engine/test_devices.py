"""Device detection for a training worker's advert (runs torch here, as the worker's subprocess does)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from training.engine import devices

ROOT = Path(__file__).resolve().parents[3]


def test_numa_nodes_count_nodes_with_cpus(tmp_path):
    for name, cpus in (("node0", "0-7\n"), ("node1", "8-15\n"), ("node2", "\n")):  # node2: memory only
        (tmp_path / name).mkdir()
        (tmp_path / name / "cpulist").write_text(cpus)
    assert devices.numa_nodes(tmp_path) == 2
    assert devices.numa_nodes(tmp_path / "missing") == 1


def test_this_machine_is_detected_in_a_subprocess():
    """What the worker runs at start-up: a CPU machine here (CUDA hidden), with its memory and methods."""
    out = subprocess.run(
        [sys.executable, "-m", "training.engine.devices"],
        cwd=ROOT,
        env={"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["device_type"] == "cpu"
    assert found["devices"] == devices.numa_nodes() >= 1
    assert 0 < found["memory_mb"] == devices.host_memory_mb()
    assert {"lora", "dora"} <= set(found["methods"])
    assert ("qlora" in found["methods"]) == (devices.importlib.util.find_spec("bitsandbytes") is not None)


def test_torch_is_asked_only_where_nvidia_devices_are_visible(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert not devices.nvidia_present(tmp_path)
    (tmp_path / "nvidia0").touch()
    assert devices.nvidia_present(tmp_path)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert not devices.nvidia_present(tmp_path)  # the worker was given no GPU


def test_torch_threads_leave_a_core_to_the_web_and_the_database():
    assert devices.torch_threads(0, cores=1) == 1
    assert devices.torch_threads(0, cores=2) == 1
    assert devices.torch_threads(0, cores=8) == 7
    assert devices.torch_threads(0, cores=16) == 14
    assert devices.torch_threads(3, cores=16) == 3  # the setting wins
    assert devices.torch_threads() >= 1
