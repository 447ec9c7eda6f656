"""Where a job will run: what it needs, the device class and queue it waits in, or why no worker ever could.

The advertised training workers decide. A job fits a worker when `routing.refusal` finds nothing
against it; `device: auto` takes CUDA when a CUDA worker fits (a live one first), else the CPU. A
job that fits no advertised worker is refused at launch with each worker's reason. Before any
training worker has advertised itself (a fresh install whose worker is still starting), the job
waits in the configured default device class and only the configured device memory is checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from ..processes import routing
from ..selectors import workers as worker_selectors
from .estimates import memory_refusal


@dataclass
class Candidate:
    row: worker_selectors.WorkerRow
    reason: str | None  # why it could never take the job; None: it can

    @property
    def fits(self) -> bool:
        return self.reason is None


@dataclass
class Placement:
    needs: routing.Needs  # with the device class chosen (when one fits)
    queue: str  # "" when refused
    refusal: str | None
    candidates: list[Candidate] = field(default_factory=list)  # every advertised worker, fitting first
    waiting: int = 0  # jobs queued in `queue` now
    advertised: bool = True  # False: no training worker has advertised itself yet

    @property
    def takers(self) -> list[Candidate]:
        return [c for c in self.candidates if c.fits and c.row.capacity.device_type == self.needs.device_type]


def place(*, config: dict[str, Any], estimate: dict[str, Any]) -> Placement:
    """The placement of a job with this validated configuration and memory estimate (no writes)."""
    needs = routing.needs_for(config, estimate)
    rows = worker_selectors.worker_list()
    waiting = worker_selectors.waiting_by_queue()
    if not rows:
        device = settings.TRAINING_DEFAULT_DEVICE if needs.device_type == "auto" else needs.device_type
        queue = routing.queue_name(device, needs.devices)
        refusal = memory_refusal(estimate, settings.TRAINING_DEVICE_MEMORY_MB)
        return Placement(needs.on(device), queue if not refusal else "", refusal, [], waiting.get(queue, 0), False)
    candidates = [Candidate(row, routing.refusal(needs, row.capacity)) for row in rows]
    candidates.sort(key=lambda c: (not c.fits, not c.row.live, c.row.worker.name))
    order = routing.DEVICE_TYPES if needs.device_type == "auto" else (needs.device_type,)
    fitting = [c for c in candidates if c.fits and c.row.capacity.device_type in order]
    if fitting:
        # A live worker's device class first, then the preference order.
        best = min(fitting, key=lambda c: (not c.row.live, order.index(c.row.capacity.device_type)))
        device = best.row.capacity.device_type
        queue = routing.queue_name(device, needs.devices)
        return Placement(needs.on(device), queue, None, candidates, waiting.get(queue, 0))
    reasons = "; ".join(f"{c.row.worker.name}: {c.reason}" for c in candidates)
    refusal = f"No training worker could ever take this job ({needs.describe()}). {reasons}."
    return Placement(needs, "", refusal, candidates, 0)
