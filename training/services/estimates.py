"""Memory and adapter-size estimates for a launch, computed by the engine in a subprocess.

The engine builds the model on the meta device (no weights), which needs torch; the web process never
imports torch, so `estimate_for` runs `python -m training.estimate_cli` and caches the answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from typing import Any

from django.conf import settings
from django.core.cache import cache

from annotune.errors import ApplicationError

from ..models import BaseModel

ESTIMATE_TIMEOUT_SECONDS = 120
GIB = 1024**3


def estimate_for(*, base_model: BaseModel, config: dict[str, Any]) -> dict[str, Any]:
    """The engine's estimate for this base model and configuration (cached per model and config)."""
    request = {"model": base_model.source, "config": config}
    key = "training-estimate:" + hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
    cached = cache.get(key)
    if cached is not None:
        return cached
    env = {**os.environ, "HF_HUB_OFFLINE": "1" if settings.TRAINING_HF_OFFLINE else "0"}
    try:
        completed = subprocess.run(
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
        if answer.get("code") == "model_not_found":
            raise ApplicationError(
                f"Base model “{base_model.name}” cannot be loaded: {answer.get('message')}",
                {"base_model": [str(answer.get("message"))]},
            )
        raise ApplicationError(f"Could not estimate the memory this job needs: {answer.get('message')}")
    estimate = answer["estimate"]
    cache.set(key, estimate, 3600)
    return estimate


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
