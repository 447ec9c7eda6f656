"""Memory and adapter-size estimates for a launch, computed by the engine.

The engine builds the model on the meta device (no weights), which needs torch; the web process never
imports torch, so `estimate_for` runs `python -m training.processes.estimate_cli` in a subprocess — seconds of
start-up (torch, transformers). That happens in workers only: a web request reads the answers kept on the
base model's row (`known_estimate`, keyed by the inputs the estimate depends on) and, for one not kept
yet, asks a worker for it (`estimates_request`; see training/services/estimating.py for what the user
sees meanwhile). A failed estimate (the model cannot be loaded) is kept too, for a few minutes, so the
page that asked can say why; `estimates_warm` fills in the presets' answers where torch is at hand
(building a tiny model, `make run`'s demo set-up), so a new user's first Train click does not wait.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache

from annotune.errors import ApplicationError

from ..engine.config import PRESETS
from ..models import BaseModel

ESTIMATE_TIMEOUT_SECONDS = 120
GIB = 1024**3
# What the engine's estimate depends on, besides the model (training/engine/estimate.py).
ESTIMATE_INPUTS = ("method", "rank", "target_modules", "batch_size", "max_seq_length", "gradient_checkpointing")
KEPT_PER_MODEL = 64  # estimates kept on one base model's row (the oldest go first)
FAILURE_KEPT_SECONDS = 300  # a failed estimate is answered from the row this long, then tried again
# One request per estimate while a worker computes it (the subprocess's own limit, and then some).
REQUEST_PENDING_SECONDS = ESTIMATE_TIMEOUT_SECONDS + 30


def estimate_inputs(config: dict[str, Any]) -> dict[str, Any]:
    """The fields of `config` the estimate depends on (what a task is sent)."""
    return {name: config[name] for name in ESTIMATE_INPUTS if config.get(name) is not None}


def estimate_key(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(estimate_inputs(config), sort_keys=True).encode()).hexdigest()[:32]


def _keep(base_model: BaseModel, key: str, estimate: dict[str, Any]) -> None:
    """Add one answer to the row (read, merge, write: a concurrent writer's key may be lost, and is then
    simply computed again)."""
    stored = dict(BaseModel.objects.filter(pk=base_model.pk).values_list("estimates", flat=True).first() or {})
    stored.pop(key, None)
    stored[key] = estimate
    while len(stored) > KEPT_PER_MODEL:
        stored.pop(next(iter(stored)))
    BaseModel.objects.filter(pk=base_model.pk).update(estimates=stored)
    base_model.estimates = stored


def _refusal(base_model: BaseModel, answer: dict[str, Any]) -> ApplicationError:
    if answer.get("code") == "model_not_found":
        return ApplicationError(
            f"Base model “{base_model.name}” cannot be loaded: {answer.get('message')}",
            {"base_model": [str(answer.get("message"))]},
        )
    return ApplicationError(f"Could not estimate the memory this job needs: {answer.get('message')}")


def _failed_recently(entry: dict[str, Any]) -> bool:
    return "failed_at" in entry and time.time() - float(entry["failed_at"]) < FAILURE_KEPT_SECONDS


def known_estimate(*, base_model: BaseModel, config: dict[str, Any]) -> dict[str, Any] | None:
    """The kept estimate for this base model and configuration, None when none is kept (never computes).
    Raises ApplicationError when the last try failed a moment ago (the model cannot be loaded, say)."""
    entry = (base_model.estimates or {}).get(estimate_key(config))
    if entry is None or ("failed_at" in entry and not _failed_recently(entry)):
        return None
    if "failed_at" in entry:
        raise _refusal(base_model, entry)
    return entry


def estimate_for(*, base_model: BaseModel, config: dict[str, Any]) -> dict[str, Any]:
    """The engine's estimate for this base model and configuration: the kept one, else computed in a subprocess
    (seconds; workers only) and kept on the model's row, answer or failure."""
    known = known_estimate(base_model=base_model, config=config)
    if known is not None:
        return known
    key = estimate_key(config)
    request = {"model": base_model.source, "config": estimate_inputs(config)}
    env = {**os.environ, "HF_HUB_OFFLINE": "1" if settings.TRAINING_HF_OFFLINE else "0"}
    try:
        completed = subprocess.run(  # noqa: S603 - our own module, arguments as a list
            [sys.executable, "-m", "training.processes.estimate_cli", json.dumps(request)],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=ESTIMATE_TIMEOUT_SECONDS,
            check=False,
        )
        answer = json.loads(completed.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as exc:
        answer = {"ok": False, "code": "estimate_failed", "message": f"the estimate stopped ({type(exc).__name__})"}
    if not answer.get("ok"):
        _keep(base_model, key, {**answer, "failed_at": time.time()})
        raise _refusal(base_model, answer)
    _keep(base_model, key, answer["estimate"])
    return answer["estimate"]


def estimates_request(*, base_model: BaseModel, configs: list[dict[str, Any]]) -> None:
    """Web side: have a worker (default queue) compute these estimates, once the transaction commits; an
    estimate already asked for in the last couple of minutes is not asked for again."""
    from annotune import dispatch

    from ..tasks import fill_estimates

    wanted = [
        estimate_inputs(config)
        for config in configs
        if cache.add(f"estimate-asked:{base_model.pk}:{estimate_key(config)}", 1, REQUEST_PENDING_SECONDS)
    ]
    if wanted:
        dispatch.send_on_commit(fill_estimates, base_model.pk, wanted)


def estimates_fill(*, base_model_id: int, configs: list[dict[str, Any]]) -> int:
    """Worker side of `estimates_request`: compute and keep each estimate not kept yet (a failure is kept too,
    for the page that asked). Returns how many are known now."""
    base_model = BaseModel.objects.filter(pk=base_model_id).first()
    if base_model is None:
        return 0
    known = 0
    for config in configs:
        try:
            estimate_for(base_model=base_model, config=config)
        except ApplicationError:
            continue
        known += 1
    return known


def estimates_warm(base_model: BaseModel) -> int:
    """Compute and keep the estimate of every preset for this model, in this process. Imports torch:
    workers and management commands only. Returns how many were computed."""
    from training.processes.estimate_cli import answer as engine_answer

    from .configs import METHOD_BY_DEVICE, resolve_config

    computed = 0
    configs = [
        {**resolve_config(preset=preset, config=None), "method": method}
        for preset in PRESETS
        for method in sorted(set(METHOD_BY_DEVICE.values()))  # the launch plan weighs both
    ]
    for config in configs:
        key = estimate_key(config)
        kept = (base_model.estimates or {}).get(key)
        if kept is not None and "failed_at" not in kept:
            continue
        answer = engine_answer({"model": base_model.source, "config": estimate_inputs(config)})
        if answer.get("ok"):
            _keep(base_model, key, answer["estimate"])
            computed += 1
    return computed


def total_bytes(estimate: dict[str, Any]) -> int | None:
    for name in ("total_bytes", "peak_bytes", "total"):
        if isinstance(estimate.get(name), int | float):
            return int(estimate[name])
    return None


def memory_refusal(estimate: dict[str, Any], device_memory_mb: int) -> str | None:
    """A message with the numbers when the estimate clearly exceeds the device's memory, else None."""
    needed = total_bytes(estimate)
    available = device_memory_mb * 1024 * 1024
    if needed is None or needed <= available:
        return None
    parts = [
        f"{label} {estimate[name] / GIB:.1f} GiB"
        for name, label in (
            ("base_weights_bytes", "base weights"),
            ("adapter_file_bytes", "adapter"),
            ("optimizer_bytes", "optimizer state"),
            ("gradients_bytes", "gradients"),
            ("activations_bytes", "activations"),
            ("overhead_bytes", "runtime overhead"),
        )
        if isinstance(estimate.get(name), int | float)
    ]
    detail = f" ({', '.join(parts)})" if parts else ""
    return (
        f"This job needs about {needed / GIB:.1f} GiB{detail}, but the training device has "
        f"{available / GIB:.1f} GiB. Use QLoRA, a smaller batch size, a shorter max sequence length "
        "or gradient checkpointing."
    )
