"""Reads of the adapter registry, playground and operations (pages and API alike)."""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404

from annotation.models import Project
from training.engine import results
from training.selectors.configuration import config_label, config_value
from training.services.base_model_probe import looks_like_path

from ..models import Adapter, AdapterOperation, GenerationRequest


def adapter_list(project: Project, *, include_archived: bool = False) -> QuerySet[Adapter]:
    qs = Adapter.objects.filter(project=project).select_related("base_model", "created_by", "job")
    if not include_archived:
        qs = qs.filter(archived=False)
    return qs.defer("model_card", "behaviour").order_by("-is_active", "-id")


def adapter_get(project: Project, adapter_id: Any) -> Adapter:
    try:
        return Adapter.objects.select_related("base_model", "created_by", "project").get(
            project=project, pk=int(adapter_id)
        )
    except (Adapter.DoesNotExist, TypeError, ValueError):
        raise Http404("No such adapter.") from None


def adapter_config_view(adapter: Adapter) -> dict[str, Any]:
    """A flat view of an adapter's configuration for display and comparison."""
    lineage = adapter.lineage or {}
    config = dict(lineage.get("config") or {})
    flat: dict[str, Any] = {
        "method": adapter.method or lineage.get("method", ""),
        "base_model": adapter.base_model.name,
    }
    flat.update({k: v for k, v in sorted(config.items()) if not isinstance(v, dict)})
    if lineage.get("dataset_version"):
        flat["dataset_version"] = f"v{lineage['dataset_version']['number']}"
    if lineage.get("dataset_sha256"):
        flat["dataset_sha256"] = lineage["dataset_sha256"]
    if lineage.get("seed") is not None:
        flat["seed"] = lineage["seed"]
    kept = lineage.get("kept_unquantized") or []
    if kept:  # QLoRA: layers whose shape the 4-bit kernels cannot run stayed in the compute dtype
        kinds = sorted({str(name).rsplit(".", 1)[-1] for name in kept})
        flat["kept_unquantized"] = f"{len(kept)} layers ({', '.join(kinds)})"
    if lineage.get("parent_adapter"):
        flat["continued_from"] = f"{lineage['parent_adapter']['name']} (adapter {lineage['parent_adapter']['id']})"
    if lineage.get("combination"):
        flat["combination"] = lineage["combination"].get("method")
        flat["parents"] = ", ".join(f"{p['name']} × {p['weight']}" for p in lineage.get("parents", []))
    return flat


def _scalar_metrics(adapter: Adapter) -> dict[str, Any]:
    return {k: v for k, v in (adapter.metrics or {}).items() if isinstance(v, int | float | str | None)}


def adapter_chains(project: Project) -> dict[int, list[dict[str, Any]]]:
    """Continue-training ancestry of every adapter of the project, in one query: adapter id -> the
    adapters its training started from, oldest first (`{"id", "name"}`; empty for a fresh adapter)."""
    rows = Adapter.objects.filter(project=project).values_list("pk", "name", "job__parent_adapter_id")
    names = {pk: name for pk, name, _ in rows}
    parents = {pk: parent for pk, _, parent in rows}
    chains: dict[int, list[dict[str, Any]]] = {}
    for pk in names:
        chain, seen, parent = [], {pk}, parents.get(pk)
        while parent is not None and parent in names and parent not in seen:
            chain.append({"id": parent, "name": names[parent]})
            seen.add(parent)
            parent = parents.get(parent)
        chains[pk] = chain[::-1]
    return chains


def adapter_row(adapter: Adapter, chain: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An adapter with its display-ready figures (the registry list); `chain`: its continue-training ancestry."""
    return {
        "adapter": adapter,
        "chain": chain or [],
        "metrics": results.display_metrics(adapter.metrics, keys=results.HEADLINE_METRICS),
        "size": results.format_bytes(adapter.size_bytes),
        "samples": len(results.samples(adapter.samples)),
    }


def adapter_display(adapter: Adapter) -> dict[str, Any]:
    """The adapter page's figures: metric rows (with a note when the validation split is too small to trust),
    samples as conversation turns, size, and the behavioural evaluation's tables."""
    return {
        "metrics": results.display_metrics(adapter.metrics),
        "validation_note": results.validation_note(adapter.metrics),
        "samples": results.samples(adapter.samples),
        "size": results.format_bytes(adapter.size_bytes),
        "behaviour": results.behaviour_view(adapter.behaviour),
    }


def behaviour_prefill(adapter: Adapter) -> dict[str, Any] | None:
    """The blind evaluation form's initial values for "Compare blind on these prompts": the behavioural
    evaluation's validation prompts (their last user turn, one per line), the base and this adapter, the
    same answer length. None when the adapter has no such prompts."""
    view = results.behaviour_view(adapter.behaviour, examples=0)
    if view is None or not view.prompt_lines:
        return None
    return {
        "name": f"Blind: {adapter.name} against the base, behavioural prompts"[:200],
        "base": True,
        "adapters": [adapter.pk],
        "prompts": "\n".join(view.prompt_lines),
        "max_new_tokens": view.max_new_tokens or 128,
    }


def behaviour_compare(a: Adapter, b: Adapter) -> dict[str, Any] | None:
    """The two adapters' behavioural evaluations side by side: one row per check either reports (the
    overall row first), each side's base and adapter pass rates; None when neither has one."""
    views = results.behaviour_view(a.behaviour, examples=0), results.behaviour_view(b.behaviour, examples=0)
    if views == (None, None):
        return None
    sides = [{} if v is None else {r.code: r for r in [v.overall, *v.checks, *v.clean]} for v in views]
    codes = list(
        dict.fromkeys(code for v in views if v is not None for code in [v.overall.code] + [r.code for r in v.checks])
    )
    rows = [
        {
            "code": code,
            "label": next(s[code].label for s in sides if code in s),
            "a": sides[0].get(code),
            "b": sides[1].get(code),
        }
        for code in codes
    ]
    return {"rows": rows, "a": views[0], "b": views[1]}


def adapters_by_id(project: Project, ids: list[int]) -> dict[int, Adapter]:
    """The project's adapters among `ids`, by id, with their base model. An id beyond the id column's
    range is no adapter (SQLite raises OverflowError on it), so callers report it as unknown."""
    in_range = [i for i in ids if 0 < i < 2**63]
    return {a.pk: a for a in Adapter.objects.filter(project=project, pk__in=in_range).select_related("base_model")}


def is_dora(adapter: Adapter) -> bool:
    """A DoRA adapter (magnitude vectors besides A and B): vLLM and Ollama cannot serve it, nor can it
    be combined; the one test of it for every page and backend."""
    return adapter.method == "dora" or (adapter.lineage or {}).get("config", {}).get("method") == "dora"


def vllm_refusal(adapter: Adapter) -> str:
    """Why a vLLM server cannot serve this adapter, or "" (the adapter page and the vLLM backend)."""
    return "vLLM cannot serve DoRA adapters: merge it into the base model instead." if is_dora(adapter) else ""


def serving_refusal(adapter: Adapter) -> str:
    """Why the selected inference backend cannot serve this adapter (vLLM: DoRA), or ""."""
    return vllm_refusal(adapter) if settings.ANNOTUNE_INFERENCE_BACKEND == "vllm" else ""


def recipe_base(adapter: Adapter, *, staff: bool) -> str:
    """The base model as a serving recipe names it: its hub id; a local folder by its path for staff, and for
    everyone else as `./<folder name>` (server paths are shown to staff only; the recipe runs elsewhere anyway)."""
    source = adapter.base_model.shown_source
    if staff or not looks_like_path(source):
        return source
    return f"./{PurePath(source.rstrip('/')).name or 'base-model'}"


def shown_model_card(adapter: Adapter, *, staff: bool) -> str:
    """The adapter's model card as this person may see it: a local base's server folder becomes `./<folder
    name>` for everyone but staff (server paths are shown to staff only)."""
    card = adapter.model_card or ""
    return card if staff else without_server_paths(card, adapter)


def without_server_paths(text: str, adapter: Adapter) -> str:
    """`text` with the adapter's local base folder written `./<folder name>` (as the recipes name it)."""
    base = adapter.base_model
    for source in sorted({base.source, base.requested_source} - {""}, key=len, reverse=True):
        if looks_like_path(source):
            text = text.replace(source.rstrip("/"), f"./{PurePath(source.rstrip('/')).name}")
    return text


def shown_lineage(adapter: Adapter, *, staff: bool) -> dict[str, Any]:
    """The adapter's lineage as this person may see it: a local base's server folder reads "local folder"
    for everyone but staff."""
    lineage = dict(adapter.lineage or {})
    base = lineage.get("base_model")
    if not staff and isinstance(base, dict) and looks_like_path(str(base.get("source") or "")):
        lineage["base_model"] = {**base, "source": "local folder"}
    return lineage


def serving_recipes(
    adapter: Adapter, gguf: dict[str, Any] | None = None, *, staff: bool = False
) -> list[dict[str, str]]:
    """How to serve the adapter elsewhere: vLLM's multi-LoRA server (PEFT zip), llama.cpp and Ollama (GGUF).

    `gguf` is `gguf_exports.gguf_view` of the adapter's latest GGUF export: once one succeeded, the
    llama.cpp and Ollama recipes name its downloaded files; before, Ollama gets the safetensors-folder
    Modelfile and a `note` points at the export. `then`, where present, is the command run after writing
    `lines` to a file. Each recipe has `refusal` when that runtime cannot serve
    this adapter (vLLM has no DoRA; llama.cpp and Ollama serve a DoRA adapter only as the merged GGUF), so
    the page says so instead of offering a recipe that fails.
    """
    base = recipe_base(adapter, staff=staff)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", adapter.name).strip("-").lower() or f"adapter-{adapter.pk}"
    folder = f"./{name}"  # where the downloaded zip was unpacked
    config = (adapter.lineage or {}).get("config", {})
    dora = is_dora(adapter)
    rank = config.get("rank") if isinstance(config.get("rank"), int) else 64
    max_rank = next((r for r in (8, 16, 32, 64, 128, 256, 320, 512) if r >= rank), rank)  # vLLM's allowed values
    modelfile = (gguf or {}).get("modelfile", "")
    llama_cpp = (gguf or {}).get("llama_cpp", "")
    export_note = "Export it as GGUF (button above) to get the files this runtime loads."
    merged_note = "DoRA adapter: served as the merged model GGUF (llama.cpp has no DoRA adapters)." if dora else ""
    return [
        {
            "runtime": "vLLM (OpenAI-compatible server, adapters by name; unpack the PEFT zip)",
            "lines": f"vllm serve {base} --enable-lora --max-lora-rank {max_rank} --lora-modules {name}={folder}",
            "refusal": vllm_refusal(adapter),
            "note": "",
        },
        {
            "runtime": "llama.cpp (llama-server, OpenAI-compatible; the GGUF downloads in the current folder)",
            "lines": llama_cpp,
            "refusal": "",
            "note": merged_note if llama_cpp else export_note,
        },
        {
            "runtime": "Ollama (a Modelfile in the folder of the downloads)",
            "then": f"ollama create {name} -f Modelfile && ollama run {name}",
            "lines": modelfile or ("" if dora else f"FROM {base}\nADAPTER {folder}"),
            "refusal": "Ollama applies LoRA adapters only: merge a DoRA adapter into the base model or export "
            "it as GGUF (its merged model serves it)."
            if dora and not modelfile
            else "",
            "note": merged_note
            if modelfile
            else "Llama, Mistral and Gemma bases take the unpacked safetensors adapter folder. " + export_note,
        },
    ]


def adapter_compare(a: Adapter, b: Adapter) -> dict[str, list[dict[str, Any]]]:
    """Config rows (with a `differs` flag) and metric rows side by side (raw values and display text), and
    a note per adapter whose validation figures come from too few examples (`validation_notes`)."""
    config_a, config_b = adapter_config_view(a), adapter_config_view(b)
    config = [
        {
            "key": key,
            "label": config_label(key),
            "a": None if key not in config_a else config_value(key, config_a[key]),
            "b": None if key not in config_b else config_value(key, config_b[key]),
            "differs": config_a.get(key) != config_b.get(key),
        }
        for key in dict.fromkeys([*config_a, *config_b])
    ]
    metrics_a, metrics_b = _scalar_metrics(a), _scalar_metrics(b)
    keys = sorted(set(metrics_a) | set(metrics_b), key=results.metric_order)
    metrics = [
        {
            "key": k,
            "label": results.metric_label(k),
            "a": metrics_a.get(k),
            "b": metrics_b.get(k),
            "a_text": results.format_metric(k, metrics_a.get(k)),
            "b_text": results.format_metric(k, metrics_b.get(k)),
        }
        for k in keys
    ]
    notes = [
        {"adapter": adapter.name, "note": note}
        for adapter in (a, b)
        if (note := results.validation_note(adapter.metrics))
    ]
    return {"config": config, "metrics": metrics, "validation_notes": notes}


def operation_list(project: Project) -> QuerySet[AdapterOperation]:
    return AdapterOperation.objects.filter(project=project).select_related(
        "adapter", "result_adapter", "registered_base_model", "created_by"
    )


def operation_get(project: Project, operation_id: Any) -> AdapterOperation:
    try:
        return operation_list(project).get(pk=int(operation_id))
    except (AdapterOperation.DoesNotExist, TypeError, ValueError):
        raise Http404("No such operation.") from None


def generation_get(project: Project, request_id: Any) -> GenerationRequest:
    try:
        return GenerationRequest.objects.select_related("base_model").get(project=project, pk=int(request_id))
    except (GenerationRequest.DoesNotExist, TypeError, ValueError):
        raise Http404("No such generation request.") from None
