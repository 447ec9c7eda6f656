"""Memory and adapter-size estimates for a launch, computed by the engine.

The engine builds the model on the meta device (no weights), which needs torch; the web process never
imports torch, so `estimate_for` runs `python -m training.estimate_cli` in a subprocess — seconds of
start-up (torch, transformers). Each answer is kept on the base model's row (`BaseModel.estimates`,
keyed by the inputs the estimate depends on), so every web process and every later click reuses it;
`estimates_warm` fills in the presets' answers where torch is at hand (building a tiny model, `make
run`'s demo set-up), so a new user's first Train click does not wait for one.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from typing import Any

from django.conf import settings

from annotune.errors import ApplicationError

from ..engine.config import PRESETS
from ..models import BaseModel

ESTIMATE_TIMEOUT_SECONDS = 120
GIB = 1024**3
# What the engine's estimate depends on, besides the model (training/engine/estimate.py).
ESTIMATE_INPUTS = ("method", "rank", "target_modules", "batch_size", "max_seq_length", "gradient_checkpointing")
KEPT_PER_MODEL = 64  # estimates kept on one base model's row (the oldest go first)


def _inputs(config: dict[str, Any]) -> dict[str, Any]:
    return {name: config[name] for name in ESTIMATE_INPUTS if config.get(name) is not None}


def estimate_key(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(_inputs(config), sort_keys=True).encode()).hexdigest()[:32]


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


def estimate_for(*, base_model: BaseModel, config: dict[str, Any]) -> dict[str, Any]:
    """The engine's estimate for this base model and configuration (kept on the model's row)."""
    key = estimate_key(config)
    known = (base_model.estimates or {}).get(key)
    if known is not None:
        return known
    request = {"model": base_model.source, "config": _inputs(config)}
    env = {**os.environ, "HF_HUB_OFFLINE": "1" if settings.TRAINING_HF_OFFLINE else "0"}
    try:
        completed = subprocess.run(  # noqa: S603 - our own module, arguments as a list
            [sys.executable, "-m", "training.estimate_cli", json.dumps(request)],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=ESTIMATE_TIMEOUT_SECONDS,
            check=False,
        )
        answer = json.loads(completed.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as exc:
        raise ApplicationError(f"Could not estimate the memory this job needs ({type(exc).__name__}).") from exc
    if not answer.get("ok"):
        raise _refusal(base_model, answer)
    _keep(base_model, key, answer["estimate"])
    return answer["estimate"]


def estimates_warm(base_model: BaseModel) -> int:
    """Compute and keep the estimate of every preset for this model, in this process. Imports torch:
    workers and management commands only. Returns how many were computed."""
    from training.estimate_cli import answer as engine_answer

    from .configs import METHOD_BY_DEVICE, resolve_config

    computed = 0
    configs = [
        {**resolve_config(preset=preset, config=None), "method": method}
        for preset in PRESETS
        for method in sorted(set(METHOD_BY_DEVICE.values()))  # the launch plan weighs both
    ]
    for config in configs:
        key = estimate_key(config)
        if key in (base_model.estimates or {}):
            continue
        answer = engine_answer({"model": base_model.source, "config": _inputs(config)})
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
