"""How an adapter is served by the inference worker's cache, for `backends.WorkerBackend` (which every
caller goes through: the playground, blind evaluations, the OpenAI-compatible API)."""

from __future__ import annotations

from typing import Any

from training.models import Method
from training.services import folders

from ..models import Adapter


def cache_target(adapter: Adapter | None) -> dict[str, Any]:
    """Keyword arguments for `BaseModelCache.serving` / `generate_chat`: the base model alone (None), or the
    adapter's cache name and local files, on the base precision it was trained against (a QLoRA adapter on
    the 4-bit base: NF4 rounding changes the base, and the adapter learned to correct the rounded one)."""
    if adapter is None:
        return {"adapter_name": None, "adapter_path": None, "quantized": False}
    return {
        "adapter_name": f"adapter-{adapter.pk}",
        "adapter_path": folders.local_folder(adapter.storage_path),
        "quantized": adapter.method == Method.QLORA,
    }
