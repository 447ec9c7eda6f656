"""The vLLM backend: a vLLM server started with `--enable-lora` answers instead of the inference worker.

With ANNOTUNE_INFERENCE_BACKEND=vllm the playground, the generate API and /v1/ ask the server at
ANNOTUNE_VLLM_URL over HTTP (serving/inference/vllm_client.py; no torch here). The server serves
one base model under the Annotune base model's name (`--served-model-name <name>`), and the adapter
registry stays the source of truth for the rest:

- an adapter is loaded as `adapter-<id>` (the /v1/ model id too) from its folder in artifact storage
  the first time it is asked for (through `POST /v1/load_lora_adapter`; already loaded is fine);
- archiving or deleting an adapter unloads it; `vllm_sync` (manage.py vllm_sync) unloads whatever the
  server holds that the registry no longer serves, and can preload each project's active adapter;
- DoRA adapters are refused with the reason (vLLM applies plain LoRA only).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Generator
from pathlib import PurePosixPath
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction

from serving.inference.errors import (
    AdapterFilesError,
    AdapterNotServableError,
    BackendModelNotFoundError,
    BackendUnavailableError,
)
from serving.inference.outputs import Answer
from serving.inference.vllm_client import ChatChunk, VllmClient
from training.models import BaseModel
from training.services import folders

from ..models import Adapter
from ..selectors.adapters import vllm_refusal

log = logging.getLogger(__name__)

LORA_NAME = re.compile(r"^adapter-(\d+)$")
T = TypeVar("T")


def enabled() -> bool:
    return settings.ANNOTUNE_INFERENCE_BACKEND == "vllm"


def client() -> VllmClient:
    return VllmClient(
        settings.ANNOTUNE_VLLM_URL,
        api_key=settings.ANNOTUNE_VLLM_API_KEY,
        timeout=float(settings.ANNOTUNE_VLLM_TIMEOUT_SECONDS),
    )


def lora_name(adapter: Adapter) -> str:
    return f"adapter-{adapter.pk}"


def lora_path(adapter: Adapter) -> str:
    """The adapter's PEFT folder as the vLLM server sees it: under ANNOTUNE_VLLM_ADAPTER_ROOT (the
    server's mount of the storage root) when set, else the folder on this machine."""
    if not adapter.storage_path:
        raise AdapterFilesError(f"The files of adapter “{adapter.name}” are missing from storage.")
    root = settings.ANNOTUNE_VLLM_ADAPTER_ROOT
    if root:
        return str(PurePosixPath(root) / adapter.storage_path)
    return str(folders.local_folder(adapter.storage_path))


def _refuse_unservable(adapter: Adapter) -> None:
    refusal = vllm_refusal(adapter)
    if refusal:
        raise AdapterNotServableError(f"Adapter “{adapter.name}”: {refusal}")


def _base_not_served(vllm: VllmClient, base_model: BaseModel, cards: list[dict[str, Any]]) -> BackendModelNotFoundError:
    served = ", ".join(sorted(c["id"] for c in cards if not c.get("parent"))) or "nothing"
    return BackendModelNotFoundError(
        f"The vLLM server at {vllm.base_url} serves {served}, not the base model “{base_model.name}”: start it "
        f"on that model with --served-model-name {base_model.name} (README, “vLLM backend”)."
    )


def adapter_load(adapter: Adapter, *, vllm: VllmClient | None = None) -> bool:
    """Load the adapter into the vLLM server (False: it was loaded already); the server must serve its base."""
    _refuse_unservable(adapter)
    vllm = vllm or client()
    path = lora_path(adapter)
    cards = vllm.models()
    if adapter.base_model.name not in {c["id"] for c in cards if not c.get("parent")}:
        raise _base_not_served(vllm, adapter.base_model, cards)
    return vllm.load_lora(lora_name(adapter), path)


def adapter_unload(adapter_id: int, *, vllm: VllmClient | None = None) -> bool:
    """Unload `adapter-<id>` (archived or deleted); False when the server did not hold it."""
    return (vllm or client()).unload_lora(f"adapter-{adapter_id}")


def adapter_retire_on_commit(adapter_id: int) -> None:
    """After an archive or delete commits, unload the adapter from vLLM; a server that is down is only
    logged (it loses its adapters on restart, and `vllm_sync` tidies up what is left)."""
    if not enabled():
        return

    def retire() -> None:
        try:
            adapter_unload(adapter_id)
        except BackendUnavailableError as exc:
            log.warning("adapter-%s not unloaded from vLLM: %s", adapter_id, exc.message)

    transaction.on_commit(retire)


def vllm_sync(*, load_active: bool = False) -> dict[str, list[str]]:
    """Make the server's Annotune adapters match the registry: unload the ones deleted, archived, not
    servable or loaded from another folder; with `load_active`, load each project's active adapter."""
    vllm = client()
    cards = vllm.models()
    loaded = {c["id"]: c for c in cards if c.get("parent") and LORA_NAME.match(c["id"])}
    ids = [int(LORA_NAME.match(name).group(1)) for name in loaded]  # type: ignore[union-attr]
    query = Adapter.objects.filter(archived=False).select_related("base_model")
    registry = {lora_name(a): a for a in query.filter(pk__in=ids)}
    unloaded = []
    for name, card in loaded.items():
        adapter = registry.get(name)
        stale = adapter is None or vllm_refusal(adapter) or card.get("root") not in (None, lora_path(adapter))
        if stale and vllm.unload_lora(name):
            unloaded.append(name)
    loaded_now = []
    if load_active:
        bases = {c["id"] for c in cards if not c.get("parent")}
        for adapter in query.filter(is_active=True, base_model__name__in=bases).order_by("pk"):
            if vllm_refusal(adapter) or not adapter.storage_path:
                continue
            if vllm.load_lora(lora_name(adapter), lora_path(adapter)):
                loaded_now.append(lora_name(adapter))
    return {"unloaded": unloaded, "loaded": loaded_now}


# -- answers ----------------------------------------------------------------------------------------
def _served(base_model: BaseModel, adapter: Adapter | None, call: Callable[[VllmClient, str], T]) -> T:
    """`call(client, model name)` for the adapter (loaded into vLLM on first use) or the base model."""
    if adapter is not None:
        _refuse_unservable(adapter)
    vllm = client()
    model = base_model.name if adapter is None else lora_name(adapter)
    try:
        return call(vllm, model)
    except BackendModelNotFoundError:
        if adapter is None:
            raise _base_not_served(vllm, base_model, vllm.models()) from None
    adapter_load(adapter, vllm=vllm)  # not loaded yet, or the server restarted since
    return call(vllm, model)


def sampling(params: dict[str, Any]) -> dict[str, Any]:
    """Annotune's generation settings (GenerationRequest.params) in OpenAI's names."""
    return {
        "max_tokens": params["max_new_tokens"],
        "temperature": params["temperature"],
        "top_p": params["top_p"],
        "seed": params["seed"],
        "stop": list(params.get("stop") or []),
    }


def chat(
    *, base_model: BaseModel, adapter: Adapter | None, messages: list[dict[str, str]], params: dict[str, Any]
) -> Answer:
    """A whole answer from vLLM; InferenceError subclasses say what went wrong."""
    return _served(base_model, adapter, lambda vllm, model: vllm.chat(model, messages, **sampling(params)))


def chat_stream(
    *, base_model: BaseModel, adapter: Adapter | None, messages: list[dict[str, str]], params: dict[str, Any]
) -> Generator[ChatChunk, None, None]:
    """The answer as vLLM streams it. The request is sent (and the adapter loaded) before this returns,
    so a refusal raises here, not halfway through a response."""

    def started(vllm: VllmClient, model: str) -> Generator[ChatChunk, None, None]:
        stream = vllm.chat_stream(model, messages, **sampling(params))
        first = next(stream, None)

        def rest() -> Generator[ChatChunk, None, None]:
            try:
                if first is not None:
                    yield first
                yield from stream
            finally:
                stream.close()  # a reader that stops early closes the connection to vLLM

        return rest()

    return _served(base_model, adapter, started)
