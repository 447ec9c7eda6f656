"""Reads of GGUF exports: the adapter page's downloads, Ollama Modelfile and llama.cpp command."""

from __future__ import annotations

from typing import Any

from training.engine import local_runtimes, results

from ..models import Adapter, AdapterOperation, GenerationStatus, OperationKind


def latest_export(adapter: Adapter) -> AdapterOperation | None:
    return AdapterOperation.objects.filter(adapter=adapter, kind=OperationKind.GGUF).order_by("-id").first()


def gguf_view(operation: AdapterOperation | None) -> dict[str, Any]:
    """What the page shows of an export: its row, one download row per part (a file, or the reason there
    is none), and — once it succeeded — the Modelfile and llama.cpp lines naming the downloaded files."""
    if operation is None:
        return {"operation": None, "downloads": [], "modelfile": "", "llama_cpp": ""}
    record = local_runtimes.read_record(operation.params)
    done = operation.status == GenerationStatus.SUCCEEDED
    stem = local_runtimes.download_stem(operation.adapter.name if operation.adapter else "", operation.pk)
    downloads = []
    for part in local_runtimes.PARTS if done else ():
        entry = record["files"].get(part)
        downloads.append(
            {
                "part": part,
                "label": local_runtimes.PART_LABELS[part],
                "filename": local_runtimes.download_name(stem, part, record["dtype"]) if entry else "",
                "size": results.format_bytes(entry["size_bytes"]) if entry else "",
                "refusal": "" if entry else (record["adapter_refusal"] if part == "adapter" else "Not written."),
            }
        )
    return {
        "operation": operation,
        "downloads": downloads,
        "modelfile": local_runtimes.ollama_modelfile(record, stem) if done else "",
        "llama_cpp": local_runtimes.llama_cpp_command(record, stem) if done else "",
    }
