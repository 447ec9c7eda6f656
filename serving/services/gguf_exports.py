"""GGUF exports of an adapter for local runtimes (llama.cpp, Ollama): request, run on a worker, download.

One export writes up to three files into one storage folder: the base model GGUF, the LoRA adapter GGUF
(llama.cpp applies it to that base file; refused with the reason for DoRA) and the merged model GGUF.
The web process only queues and streams; the files are written by `training.engine.gguf_export` on the
`default` worker, like merges (`operation_execute` dispatches here).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from annotune.errors import ApplicationError
from annotune.storage import ArtifactWriter
from training.engine import local_runtimes
from training.services import folders

from ..models import Adapter, AdapterOperation, GenerationStatus, OperationKind
from .operations import adapter_config, operation_enqueue, operation_finish, require_owner, result_folder

log = logging.getLogger(__name__)

# f16 halves the files against f32 at a precision loss far below what a runtime's own arithmetic adds;
# it is what llama.cpp's converter writes by default too.
DTYPE = "f16"


@transaction.atomic
def gguf_export_request(*, adapter: Adapter, user) -> AdapterOperation:
    """Queue a GGUF export (owners); the adapter's files must be in storage."""
    require_owner(user, adapter.project, "export adapters")
    adapter_config(adapter)  # files present
    operation = AdapterOperation.objects.create(
        project_id=adapter.project_id,
        kind=OperationKind.GGUF,
        adapter=adapter,
        params={"dtype": DTYPE},
        created_by=user,
    )
    operation_enqueue(operation)
    return operation


def gguf_download(*, operation: AdapterOperation, part: str) -> tuple[str, Iterator[bytes]]:
    """(file name, chunks) of one GGUF file of a finished export; a clear error when there is none."""
    if operation.kind != OperationKind.GGUF or operation.status != GenerationStatus.SUCCEEDED:
        raise ApplicationError("This GGUF export has not finished; there is nothing to download yet.")
    if part not in local_runtimes.PARTS:
        raise ApplicationError(
            f"Unknown GGUF file {part!r}.", {"part": [f"Use one of {', '.join(local_runtimes.PARTS)}."]}
        )
    record = local_runtimes.read_record(operation.params)
    entry = record["files"].get(part)
    if entry is None:
        reason = record["adapter_refusal"] if part == "adapter" else "This export has no such file."
        raise ApplicationError(reason or "This export has no such file.", {"part": ["not_available"]})
    if not default_storage.exists(f"{operation.storage_path}/{entry['file']}"):
        raise ApplicationError(f"The {part} GGUF file is missing from storage; export the adapter again.")
    stem = local_runtimes.download_stem(operation.adapter.name if operation.adapter else "", operation.pk)
    filename = local_runtimes.download_name(stem, part, record["dtype"])
    return filename, folders.file_stream(operation.storage_path, entry["file"])


# -- worker side -----------------------------------------------------------------------------------
def run_gguf_export(operation: AdapterOperation) -> None:
    """Write the GGUF files into a temporary folder, then copy them to storage and record them.

    Engine refusals (an architecture or tokenizer it cannot write) raise `EngineError`, which
    `operation_execute` puts on the row with its message.
    """
    from serving.inference.errors import AdapterFilesError
    from training.engine.gguf_export import chat_facts, export_lora, export_model, lora_refusal

    adapter = operation.adapter
    if adapter is None:
        raise AdapterFilesError("The adapter to export was deleted.")
    base_dir = Path(adapter.base_model.source)
    adapter_dir = folders.local_folder(adapter.storage_path)
    dtype = str(operation.params.get("dtype") or DTYPE)
    prefix = result_folder(operation, f"gguf/project-{operation.project_id}/export-{operation.pk}")
    label = adapter.base_model.name
    with tempfile.TemporaryDirectory(prefix="gguf-") as tmp:
        out = Path(tmp)
        files = {"base": export_model(base_dir, out / "base.gguf", dtype=dtype, name=label)}
        refusal = lora_refusal(adapter_config(adapter))
        if not refusal:  # DoRA: no adapter file, the merged model serves it
            files["adapter"] = export_lora(adapter_dir, base_dir, out / "adapter.gguf", name=adapter.name)
        files["merged"] = export_model(
            base_dir, out / "merged.gguf", adapter_dir=adapter_dir, dtype=dtype, name=f"{label} + {adapter.name}"
        )
        chat_template, stop = chat_facts(base_dir)
        record = local_runtimes.export_record(
            dtype=dtype, files=files, adapter_refusal=refusal, chat_template=chat_template, stop=stop
        )
        # The files, then the row: when either fails, the files already written are deleted.
        with ArtifactWriter("the GGUF files") as writer:
            for entry in record["files"].values():
                with open(out / entry["file"], "rb") as handle:
                    writer.save(f"{prefix}/{entry['file']}", File(handle))
            size = sum(entry["size_bytes"] for entry in record["files"].values())
            operation_finish(
                operation, GenerationStatus.SUCCEEDED, storage_path=prefix, size_bytes=size, params=dict(record)
            )
    log.info("exported adapter %s as GGUF into %s (%s)", adapter.pk, prefix, ", ".join(files))
