"""The adapter registry: rename, archive, activate, delete, download; merge and combine requests.

Owners change adapters (rename, archive, activate, delete, merge, combine, register a merged model);
every member may see and download them. Merges and combinations run on a worker (`operation_execute`):
the web process never loads a model.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from annotation.models import Project
from annotune import work
from annotune.errors import ApplicationError
from annotune.heartbeat import beating
from annotune.storage import ArtifactWriter, StorageError
from training.models import BaseModel
from training.services import folders

from ..models import Adapter, AdapterOperation, GenerationStatus, OperationKind
from ..selectors.adapters import adapters_by_id, without_server_paths
from . import vllm_serving
from .operations import (
    OperationTaken,
    adapter_config,
    operation_enqueue,
    operation_finish,
    require_owner,
    result_folder,
)

log = logging.getLogger(__name__)

COMBINE_METHODS = ("linear", "cat", "svd")
MAX_WEIGHT = 10.0  # a combination's weights lie in [-MAX_WEIGHT, MAX_WEIGHT]


def _valid_weight(weight: Any) -> bool:
    return isinstance(weight, int | float) and not isinstance(weight, bool) and -MAX_WEIGHT <= weight <= MAX_WEIGHT


def _clean_name(name: Any) -> str:
    cleaned = name.strip() if isinstance(name, str) else ""
    if not cleaned:
        raise ApplicationError("Give the adapter a name.", {"name": ["Required."]})
    if len(cleaned) > 200:
        raise ApplicationError("Keep the name under 200 characters.", {"name": ["At most 200 characters."]})
    return cleaned


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:80] or "adapter"


# -- registry -------------------------------------------------------------------------------------
@transaction.atomic
def adapter_update(
    *, adapter: Adapter, user, name: Any = None, archived: bool | None = None, active: bool | None = None
) -> Adapter:
    """Rename, archive / unarchive, make active / inactive (one active adapter per project)."""
    require_owner(user, adapter.project, "change adapters")
    locked = Adapter.objects.select_for_update().get(pk=adapter.pk)
    if name is not None:
        locked.name = _clean_name(name)
    if archived is not None:
        locked.archived = bool(archived)
        if locked.archived:
            locked.is_active = False
            vllm_serving.adapter_retire_on_commit(locked.pk)
    if active is not None:
        if active and locked.archived:
            raise ApplicationError("An archived adapter cannot be the active one; unarchive it first.")
        if active:
            Adapter.objects.filter(project_id=locked.project_id, is_active=True).exclude(pk=locked.pk).update(
                is_active=False
            )
        locked.is_active = bool(active)
    locked.save(update_fields=["name", "archived", "is_active"])
    return locked


def adapter_delete(*, adapter: Adapter, user) -> None:
    """Delete the row, then (once committed) the adapter's files in storage."""
    require_owner(user, adapter.project, "delete adapters")
    prefix = adapter.storage_path
    with transaction.atomic():
        vllm_serving.adapter_retire_on_commit(adapter.pk)
        adapter.delete()
        if prefix:
            transaction.on_commit(lambda: folders.delete_folder(prefix))


def adapter_download(*, adapter: Adapter, staff: bool = False) -> tuple[str, Iterator[bytes]]:
    """A streamed zip of the PEFT folder (adapter_config.json, weights, README model card).

    For everyone but staff, a local base's server folder in adapter_config.json and the model card
    reads `./<folder name>` (server paths are shown to staff only). PEFT loads an adapter onto the base
    it is given, so the files work the same; `AutoPeftModel` finds the base next to the adapter.
    """
    files = folders.list_files(adapter.storage_path) if adapter.storage_path else []
    if "adapter_config.json" not in files or not any(f.startswith("adapter_model") for f in files):
        raise ApplicationError(
            f"The files of adapter “{adapter.name}” are missing from storage; it cannot be downloaded.",
            {"adapter": ["missing_files"]},
        )
    extra = {}
    if "README.md" not in files and adapter.model_card:
        extra["README.md"] = adapter.model_card.encode()
    if not staff:
        for name in sorted({"adapter_config.json", "README.md"} & set(files)):
            with folders.open_stream(f"{adapter.storage_path}/{name}") as source:
                extra[name] = source.read()
        extra = {name: without_server_paths(data.decode(), adapter).encode() for name, data in extra.items()}
    root = slug(f"{adapter.name}-{adapter.pk}")
    return f"{root}.zip", folders.zip_stream(adapter.storage_path, root, extra)


# -- merge and combine (requests) -------------------------------------------------------------------
@transaction.atomic
def merge_request(*, adapter: Adapter, user) -> AdapterOperation:
    require_owner(user, adapter.project, "merge adapters")
    adapter_config(adapter)  # files present
    operation = AdapterOperation.objects.create(
        project_id=adapter.project_id, kind=OperationKind.MERGE, adapter=adapter, created_by=user
    )
    operation_enqueue(operation)
    return operation


@transaction.atomic
def combine_request(
    *, project: Project, user, sources: list[dict[str, Any]], method: str, name: Any, svd_rank: int | None = None
) -> AdapterOperation:
    """Check the combination now (same base model, ranks for linear, LoRA only) and queue it."""
    from serving.inference.combine import check_combination
    from serving.inference.errors import InferenceError

    require_owner(user, project, "combine adapters")
    name = _clean_name(name)
    if method not in COMBINE_METHODS:
        raise ApplicationError(f"Unknown method {method!r}.", {"method": [f"Use one of {', '.join(COMBINE_METHODS)}."]})
    ids = [s.get("adapter_id") for s in sources]
    if len(ids) < 2 or len(set(ids)) != len(ids):
        raise ApplicationError("Pick at least two different adapters to combine.", {"sources": ["Two or more."]})
    weights = [s.get("weight", 1.0) for s in sources]
    if not all(_valid_weight(w) for w in weights):  # the API's range, for the page's float() too (inf, nan)
        raise ApplicationError(
            f"Each weight must be a number from {-MAX_WEIGHT:g} to {MAX_WEIGHT:g}.",
            {"sources": [f"weight: {-MAX_WEIGHT:g} to {MAX_WEIGHT:g}."]},
        )
    adapters = adapters_by_id(project, ids)
    missing = [i for i in ids if i not in adapters]
    if missing:
        raise ApplicationError(f"No adapter {missing[0]} in this project.", {"sources": ["Unknown adapter."]})
    bases = {adapters[i].base_model.name for i in ids}
    if len(bases) > 1:
        raise ApplicationError(
            f"These adapters belong to different base models ({', '.join(sorted(bases))}); "
            "only adapters of one base model can be combined.",
            {"sources": ["base_model_mismatch"]},
        )
    try:
        check_combination([adapter_config(adapters[i]) for i in ids], method)
    except InferenceError as exc:
        raise ApplicationError(exc.message, {"sources": [exc.code]}) from exc
    if svd_rank is not None and (not isinstance(svd_rank, int) or not 1 <= svd_rank <= 1024):
        raise ApplicationError("The SVD rank must be between 1 and 1024.", {"svd_rank": ["1 to 1024."]})
    operation = AdapterOperation.objects.create(
        project=project,
        kind=OperationKind.COMBINE,
        sources=[
            {"adapter_id": i, "name": adapters[i].name, "weight": float(w)} for i, w in zip(ids, weights, strict=True)
        ],
        params={"method": method, "name": name, "svd_rank": svd_rank},
        created_by=user,
    )
    operation_enqueue(operation)
    return operation


@transaction.atomic
def merged_register(*, operation: AdapterOperation, user, name: Any) -> BaseModel:
    """Register a finished merge as a base model (loaded from its storage folder, which must be local)."""
    require_owner(user, operation.project, "register base models")
    # The row as it is now, locked until the registration commits: the same registration sent twice (a
    # double click, a retry) registers one base model; the second is told it is registered already.
    operation = AdapterOperation.objects.select_for_update(of=("self",)).select_related("project").get(pk=operation.pk)
    if operation.kind != OperationKind.MERGE or operation.status != GenerationStatus.SUCCEEDED:
        raise ApplicationError("Only a finished merge can be registered as a base model.")
    if operation.registered_base_model_id:
        raise ApplicationError(f"Already registered as “{operation.registered_base_model}”.")
    name = _clean_name(name)
    if BaseModel.objects.filter(name=name).exists():
        raise ApplicationError(f"A base model named “{name}” exists already.", {"name": ["Choose another name."]})
    try:
        source = str(folders.local_folder(operation.storage_path))
    except Exception as exc:  # noqa: BLE001 - any storage failure is reported the same way
        raise ApplicationError(f"The merged model's files cannot be reached: {exc}") from exc
    config = json.loads(folders.read_text(operation.storage_path, "config.json") or "{}")
    template = folders.read_text(operation.storage_path, "chat_template.jinja") or ""
    tokenizer_config = json.loads(folders.read_text(operation.storage_path, "tokenizer_config.json") or "{}")
    try:
        with transaction.atomic():  # a name taken meanwhile by another registration: the same refusal
            base = BaseModel.objects.create(
                name=name,
                source=source,
                architecture=(config.get("architectures") or [""])[0],
                parameter_count=operation.params.get("parameter_count"),
                has_chat_template=bool(template or tokenizer_config.get("chat_template")),
            )
    except IntegrityError:
        raise ApplicationError(
            f"A base model named “{name}” exists already.", {"name": ["Choose another name."]}
        ) from None
    operation.registered_base_model = base
    operation.save(update_fields=["registered_base_model"])
    return base


def merged_download(*, operation: AdapterOperation) -> tuple[str, Iterator[bytes]]:
    if operation.kind != OperationKind.MERGE or operation.status != GenerationStatus.SUCCEEDED:
        raise ApplicationError("This merge has not finished; there is nothing to download yet.")
    # As adapter downloads: a merge whose files are gone (deleted, another storage) is refused with the
    # reason; streamed, it was an empty zip answered 200.
    stored = folders.list_files(operation.storage_path) if operation.storage_path else []
    names = {path.rsplit("/", 1)[-1] for path in stored}
    expected = operation.params.get("files") or ["config.json"]  # the merge recorded its file names
    if not stored or any(name not in names for name in expected):
        raise ApplicationError(
            "The files of this merged model are missing from storage; it cannot be downloaded. Merge the adapter "
            "again.",
            {"operation": ["missing_files"]},
        )
    root = slug(f"merged-{operation.adapter.name if operation.adapter else 'adapter'}-{operation.pk}")
    return f"{root}.zip", folders.zip_stream(operation.storage_path, root)


# -- merge and combine (worker side) ----------------------------------------------------------------
def operation_execute(operation_id: int) -> str:
    """Claim a queued operation and run it; the outcome (and a readable error) goes on the row."""
    from serving.inference.errors import InferenceError
    from training.engine.errors import EngineError

    mine = work.claim(AdapterOperation, operation_id, error="", error_code="")
    if mine is None:
        return "skipped"
    operation = AdapterOperation.objects.select_related("adapter__base_model", "project").get(pk=operation_id)
    # The worker beats on the row while it runs; one whose worker died is queued again by the reaper.
    try:
        with beating(mine, settings.ANNOTUNE_JOB_HEARTBEAT_SECONDS):
            if operation.kind == OperationKind.MERGE:
                _run_merge(operation)
            elif operation.kind == OperationKind.GGUF:
                from .gguf_exports import run_gguf_export

                run_gguf_export(operation)
            else:
                _run_combine(operation)
    except OperationTaken:  # the reaper took it back meanwhile: its result was deleted, the reaper's write stays
        log.warning(
            "adapter operation %s was taken back by the reaper before it finished; result discarded", operation_id
        )
        return "superseded"
    except (InferenceError, EngineError) as exc:
        operation_finish(operation, GenerationStatus.FAILED, error_code=exc.code, error=exc.message)
        return "failed"
    except StorageError as exc:  # nothing of the result was kept
        operation_finish(operation, GenerationStatus.FAILED, error_code="storage", error=exc.message)
        return "failed"
    except Exception as exc:
        log.exception("adapter operation %s failed", operation_id)
        operation_finish(
            operation, GenerationStatus.FAILED, error_code="internal", error=f"{type(exc).__name__}: {exc}"
        )
        return "failed"
    return "succeeded"


def _run_merge(operation: AdapterOperation) -> None:
    from serving.inference.errors import AdapterFilesError
    from serving.inference.merge import merge_adapter

    adapter = operation.adapter
    if adapter is None:
        raise AdapterFilesError("The adapter to merge was deleted.")
    prefix = result_folder(operation, f"merged/project-{operation.project_id}/merge-{operation.pk}")
    writer = ArtifactWriter("the merged model")
    with tempfile.TemporaryDirectory(prefix="merge-") as tmp:
        info = merge_adapter(adapter.base_model.source, folders.local_folder(adapter.storage_path), Path(tmp) / "m")
        params = {"parameter_count": info.get("parameter_count"), "files": info.get("files", [])}
        try:  # the files, then the row: when either fails, the files written are deleted
            size = folders.save_folder(Path(tmp) / "m", prefix, writer)
            operation_finish(operation, GenerationStatus.SUCCEEDED, storage_path=prefix, size_bytes=size, params=params)
        except BaseException:
            writer.discard()
            raise
    log.info("merged adapter %s into %s (%s parameters)", adapter.pk, prefix, info.get("parameter_count"))


def _run_combine(operation: AdapterOperation) -> None:
    from serving.inference.combine import combine_adapters
    from serving.inference.errors import AdapterFilesError, BaseModelMismatchError

    ids = [s["adapter_id"] for s in operation.sources]
    adapters = {a.pk: a for a in Adapter.objects.filter(pk__in=ids).select_related("base_model")}
    if len(adapters) != len(ids):
        raise AdapterFilesError("An adapter of this combination was deleted before it ran.")
    bases = {adapters[i].base_model_id for i in ids}
    if len(bases) != 1:
        raise BaseModelMismatchError("The adapters belong to different base models.")
    first = adapters[ids[0]]
    params = operation.params
    prefix = result_folder(operation, f"adapters/project-{operation.project_id}/combined-{operation.pk}")
    writer = ArtifactWriter("the combined adapter")
    with tempfile.TemporaryDirectory(prefix="combine-") as tmp:
        out = Path(tmp) / "c"
        info = combine_adapters(
            first.base_model.source,
            [(folders.local_folder(adapters[s["adapter_id"]].storage_path), s["weight"]) for s in operation.sources],
            params["method"],
            out,
            svd_rank=params.get("svd_rank"),
        )
        parents = [
            {
                "adapter_id": s["adapter_id"],
                "name": adapters[s["adapter_id"]].name,
                "weight": s["weight"],
                "dataset_sha256": adapters[s["adapter_id"]].lineage.get("dataset_sha256"),
            }
            for s in operation.sources
        ]
        card = _combined_card(params, parents, first.base_model, info)
        (out / "README.md").write_text(card)
        try:  # the files, then the row: when either fails, the files written are deleted
            size = folders.save_folder(out, prefix, writer)
            _record_combined(operation, first, parents, info, card, prefix, size)
        except BaseException:
            writer.discard()
            raise


def _record_combined(
    operation: AdapterOperation, first: Adapter, parents: list[dict], info: dict, card: str, prefix: str, size: int
) -> None:
    params = operation.params
    with transaction.atomic():
        adapter = Adapter.objects.create(
            project_id=operation.project_id,
            base_model_id=first.base_model_id,
            name=params["name"],
            method=first.method,
            storage_path=prefix,
            size_bytes=size,
            lineage={
                "base_model": {"name": first.base_model.name, "source": first.base_model.source},
                "parents": parents,
                "combination": {"method": params["method"], "svd_rank": params.get("svd_rank")},
                "config": {"rank": info.get("rank"), "target_modules": info.get("target_modules")},
                "operation_id": operation.pk,
                "worker": socket.gethostname(),
            },
            model_card=card,
            created_by=operation.created_by,
        )
        operation_finish(
            operation, GenerationStatus.SUCCEEDED, result_adapter=adapter, storage_path=prefix, size_bytes=size
        )


def _combined_card(params: dict[str, Any], parents: list[dict[str, Any]], base: BaseModel, info: dict) -> str:
    lines = [
        f"# {params['name']}",
        "",
        f"A LoRA adapter combined from {len(parents)} adapters of base model `{base.name}` "
        f"(method `{params['method']}`, rank {info.get('rank')}).",
        "",
        "| parent | weight | dataset sha256 |",
        "| --- | --- | --- |",
        *(f"| {p['name']} (#{p['adapter_id']}) | {p['weight']} | {p['dataset_sha256'] or '—'} |" for p in parents),
        "",
        "Load it with `PeftModel.from_pretrained(base_model, folder)`.",
        "",
    ]
    return "\n".join(lines)
