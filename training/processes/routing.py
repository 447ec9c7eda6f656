"""Which training worker can take which job: device classes, their queues, and the fit check. No Django.

A training worker advertises a `Capacity` (what it has); a job declares `Needs` (what it takes). Jobs
wait in the queue of their device class and process count, `training.cpu`, `training.cuda`,
`training.cuda.x2`, ...; a worker with N devices of a type consumes that type's queues for 1..N
processes, so a job only ever reaches a worker that has its device type and enough devices. Memory,
methods and the rest are checked at launch against the advertised workers (`refusal`), and once more
by the worker before it claims a job.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

DEVICE_TYPES = ("cuda", "cpu")  # the order `device: auto` tries them in
TRAINING_QUEUE = "training"  # a worker started with -Q training consumes the queues of what it has
METHODS = ("qlora", "lora", "dora", "dpo")
MIB = 1024 * 1024


@dataclass(frozen=True)
class Capacity:
    """What a training worker has. CUDA: `memory_mb` per device. CPU: one device per NUMA node (socket)
    and `memory_mb` is the host's, shared by every process of a job."""

    device_type: str
    devices: int
    memory_mb: int
    methods: tuple[str, ...] = METHODS
    device_names: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Capacity:
        return cls(
            device_type=str(data["device_type"]),
            devices=int(data["devices"]),
            memory_mb=int(data["memory_mb"]),
            methods=tuple(data.get("methods") or METHODS),
            device_names=tuple(data.get("device_names") or ()),
        )

    def describe(self) -> str:
        memory = f"{self.memory_mb / 1024:.0f} GiB"
        if self.device_type == "cuda":
            return f"{self.devices} × CUDA, {memory} each"
        return f"CPU ({self.devices} {'process' if self.devices == 1 else 'processes'}), {memory} of memory"


@dataclass(frozen=True)
class Needs:
    """What a job takes: `device_type` "cpu" | "cuda" (or "auto" before a class is chosen), `devices`
    processes, `memory_mb` per process (from the memory estimate)."""

    device_type: str
    devices: int
    memory_mb: int
    method: str

    def on(self, device_type: str) -> Needs:
        return Needs(device_type, self.devices, self.memory_mb, self.method)

    def describe(self) -> str:
        kind = self.device_type.upper() if self.device_type != "auto" else "any device"
        each = " each" if self.devices > 1 else ""
        return f"{self.devices} × {kind}, about {self.memory_mb / 1024:.1f} GiB{each}"


def queue_name(device_type: str, devices: int = 1) -> str:
    """The queue of jobs of this device class: `training.cuda`, `training.cuda.x4`, `training.cpu`."""
    return f"{TRAINING_QUEUE}.{device_type}" + (f".x{devices}" if devices > 1 else "")


def queues_for(capacity: Capacity) -> list[str]:
    """The queues a worker with this capacity consumes: its device type, 1..devices processes."""
    return [queue_name(capacity.device_type, n) for n in range(1, capacity.devices + 1)]


def needs_for(config: dict[str, Any], estimate: dict[str, Any]) -> Needs:
    """A validated job configuration and its memory estimate -> what the job takes.

    Every process holds a replica (DDP), so each needs the whole estimate; with FSDP the base weights
    are split over the processes and the rest (adapter, optimizer, activations) stays per process.
    """
    total = int(estimate.get("total_bytes") or 0)
    processes = int(config.get("num_processes") or 1)
    if config.get("distributed") == "fsdp" and processes > 1:
        base = int(estimate.get("base_weights_bytes") or 0)
        total = total - base + math.ceil(base / processes)
    return Needs(
        device_type=str(config.get("device") or "auto"),
        devices=processes,
        memory_mb=math.ceil(total / MIB),
        method=str(config.get("method") or "lora"),
    )


def refusal(needs: Needs, capacity: Capacity) -> str | None:
    """Why a worker with `capacity` could never run a job with `needs`; None when it could."""
    kind = capacity.device_type.upper()
    if needs.device_type not in ("auto", capacity.device_type):
        return f"it has {kind} devices, the job needs {needs.device_type.upper()}"
    if needs.method not in capacity.methods:
        return f"it cannot train {needs.method} (it offers {', '.join(capacity.methods)})"
    if needs.devices > capacity.devices:
        unit = "processes" if capacity.device_type == "cpu" else "devices"
        return f"it runs at most {capacity.devices} {kind} {unit}, the job needs {needs.devices}"
    if capacity.device_type == "cpu":
        needed = needs.memory_mb * needs.devices
        if needed > capacity.memory_mb:
            return f"it has {capacity.memory_mb / 1024:.1f} GiB of memory, the job needs about {needed / 1024:.1f} GiB"
    elif needs.memory_mb > capacity.memory_mb:
        return (
            f"each of its devices has {capacity.memory_mb / 1024:.1f} GiB, the job needs about "
            f"{needs.memory_mb / 1024:.1f} GiB per device"
        )
    return None


def parse_capacity(text: str, *, host_memory_mb: int = 0) -> Capacity:
    """`TYPE:DEVICES[:MEMORY_MB[:METHOD,METHOD...]]`, e.g. `cpu:2`, `cuda:2:81920`, `cuda:1:24576:lora,dora`.

    The worker's device override (ANNOTUNE_WORKER_DEVICES): tests fake capacities with it; a CPU entry
    without memory takes `host_memory_mb`. Raises ValueError with what to fix.
    """
    parts = [part.strip() for part in text.strip().split(":")]
    usage = "write TYPE:DEVICES[:MEMORY_MB[:METHODS]], e.g. cpu:2 or cuda:2:81920"
    if len(parts) < 2 or len(parts) > 4:
        raise ValueError(f"device override {text!r}: {usage}")
    device_type = parts[0].lower()
    if device_type not in DEVICE_TYPES:
        raise ValueError(f"device override {text!r}: the type is one of {', '.join(DEVICE_TYPES)}")
    try:
        devices = int(parts[1])
        memory_mb = int(parts[2]) if len(parts) > 2 and parts[2] else 0
    except ValueError:
        raise ValueError(f"device override {text!r}: DEVICES and MEMORY_MB are whole numbers; {usage}") from None
    if devices < 1:
        raise ValueError(f"device override {text!r}: at least 1 device")
    if not memory_mb:
        if device_type == "cuda" or not host_memory_mb:
            raise ValueError(f"device override {text!r}: give the memory in MiB, e.g. {device_type}:{devices}:81920")
        memory_mb = host_memory_mb
    methods = tuple(m.strip() for m in parts[3].split(",") if m.strip()) if len(parts) > 3 else METHODS
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"device override {text!r}: methods are among {', '.join(METHODS)}")
    return Capacity(device_type=device_type, devices=devices, memory_mb=memory_mb, methods=methods)
