"""What training devices this machine has, for a training worker's advert. No Django here.

CUDA when torch sees GPUs: their count (what CUDA_VISIBLE_DEVICES leaves visible), the smallest
one's memory and their names. Otherwise the CPU: one device per NUMA node (a data-parallel CPU run
puts one process per socket; more would fight over the same cores) and the host's memory. QLoRA
needs bitsandbytes. The worker runs `python -m training.engine.devices` in a subprocess: asking CUDA
for device properties initialises it, which a worker that later forks its pool must not do.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


def host_memory_mb() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // MIB)
    except (ValueError, OSError, AttributeError):
        return 0


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)


def torch_threads(requested: int = 0, cores: int | None = None) -> int:
    """Threads for torch in an engine process: `requested` when above 0, else the usable cores less
    those the web and the database need beside it (one on hosts of up to 8 cores, two above), at least 1.

    Measured on a shared 2-core host: torch's default (one thread per core) trained 4-10 times slower
    than one thread, because its threads wait on each other while the web and the database take a core.
    """
    if requested > 0:
        return requested
    cores = usable_cores() if cores is None else cores
    return max(cores - (1 if cores <= 8 else 2), 1)


def numa_nodes(root: str | Path = "/sys/devices/system/node") -> int:
    """NUMA nodes with CPUs (Linux); 1 where the system does not say."""
    try:
        nodes = [p for p in Path(root).glob("node[0-9]*") if (p / "cpulist").read_text().strip()]
    except OSError:
        return 1
    return max(1, len(nodes))


def methods() -> list[str]:
    found = ["lora", "dora"]
    if importlib.util.find_spec("bitsandbytes") is not None:
        found.insert(0, "qlora")
    if importlib.util.find_spec("trl") is not None:  # preference training runs through TRL's DPOTrainer
        found.append("dpo")
    return found


def nvidia_present(dev: str | Path = "/dev") -> bool:
    """NVIDIA device nodes exist and CUDA_VISIBLE_DEVICES does not hide them all: only then is torch
    asked (importing it takes seconds, which every CPU worker would wait at start-up)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    return any(Path(dev).glob("nvidia[0-9]*"))


def detect() -> dict[str, Any]:
    """{device_type, devices, memory_mb, methods, device_names} of this machine (see the module)."""
    if nvidia_present():
        import torch

        if torch.cuda.is_available() and torch.cuda.device_count() > 0:
            return _cuda(torch)
    return {
        "device_type": "cpu",
        "devices": numa_nodes(),
        "memory_mb": host_memory_mb(),
        "methods": methods(),
        "device_names": [],
    }


def _cuda(torch: Any) -> dict[str, Any]:
    properties = [torch.cuda.get_device_properties(i) for i in range(torch.cuda.device_count())]
    return {
        "device_type": "cuda",
        "devices": len(properties),
        "memory_mb": min(p.total_memory for p in properties) // MIB,
        "methods": methods(),
        "device_names": [p.name for p in properties],
    }


if __name__ == "__main__":
    print(json.dumps(detect()))
