"""Register base models: a local folder or an HF hub id, described by the engine (config only, no weights)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from annotune.errors import ApplicationError

from ..models import BaseModel


def describe_in_subprocess(source: str) -> dict[str, Any]:
    """The engine's `describe_model` in a process of its own (callers may be web processes: no torch here)."""
    code = (
        "import json, sys; from training.engine.tiny import describe_model; "
        "print(json.dumps(describe_model(sys.argv[1])))"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1" if settings.TRAINING_HF_OFFLINE else "0"}
    completed = subprocess.run(
        [sys.executable, "-c", code, source],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise ApplicationError(f"Cannot read a model at {source}: {last}", {"source": [last]})
    return json.loads(completed.stdout.strip().splitlines()[-1])


@transaction.atomic
def base_model_register(*, name: str, source: str, facts: dict[str, Any] | None = None) -> BaseModel:
    """Create or update the base model row `name` with what the engine says about `source`."""
    facts = facts if facts is not None else describe_in_subprocess(source)
    model, _ = BaseModel.objects.update_or_create(
        name=name,
        defaults={
            "source": source,
            "architecture": facts.get("architecture", ""),
            "parameter_count": facts.get("parameter_count"),
            "has_chat_template": bool(facts.get("has_chat_template")),
        },
    )
    return model


def tiny_model_create(*, arch: str, size: str = "test", name: str | None = None) -> BaseModel:
    """Build a tiny random-weight model with the engine under TRAINING_MODELS_DIR and register it.

    Imports torch: call it from a management command or a worker, never from a web request.
    """
    from ..engine.tiny import ARCHITECTURES, SIZES, build_tiny_model

    if arch not in ARCHITECTURES:
        raise ApplicationError(f"Unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}.")
    if size not in SIZES:
        raise ApplicationError(f"Unknown size {size!r}; choose one of {', '.join(SIZES)}.")
    name = name or f"tiny-{arch}-{size}"
    folder = Path(settings.TRAINING_MODELS_DIR) / name
    facts = build_tiny_model(folder, arch=arch, size=size)
    return base_model_register(name=name, source=str(folder), facts=facts)
