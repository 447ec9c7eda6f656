"""Register base models: a local folder or an HF hub id checked by a worker (in a child process), or a
tiny model built by a worker. The web process never imports torch and starts no check itself: a request
queues a row, a Celery task checks or builds it (or a management command does).

Who may add what: `model_sources` (staff any folder outside the server's own data; owners hub ids, and
folders under ANNOTUNE_MODEL_ROOTS only)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation import permissions
from annotune import dispatch
from annotune.errors import ApplicationError

from ..models import BaseModel, BaseModelStatus
from . import model_sources
from .base_model_probe import looks_like_path
from .estimates import estimates_warm

log = logging.getLogger(__name__)

S = BaseModelStatus
# A build that has said "building" for this long lost its worker: it may be requested again.
STALE_BUILD = timedelta(minutes=30)
# What each tiny size is for (the engine's SIZES say how big; this says why you would pick one).
SIZE_DESCRIPTIONS = {
    "test": "~0.2M parameters, builds in a second; for automated tests, learns nothing useful",
    "small": "~4M parameters, builds in a few seconds; trains on a CPU in about a minute (the default)",
    "bench": "~100M parameters, builds in about a minute; slow to train without a GPU",
    "large": "~0.75B parameters, several minutes and ~3 GB of disk; for memory benchmarks",
}


def size_description(size: str) -> str:
    from ..engine.tiny import SIZES

    if size in SIZE_DESCRIPTIONS:
        return SIZE_DESCRIPTIONS[size]
    hidden, layers, *_ = SIZES[size]
    return f"hidden size {hidden}, {layers} layers"


def tiny_size_choices() -> list[dict[str, str]]:
    """[{"size", "description"}] for every size the engine can build, smallest first."""
    from ..engine.tiny import SIZES

    return [{"size": size, "description": size_description(size)} for size in SIZES]


def default_tiny_name() -> str:
    from ..engine.tiny import DEFAULT_ARCH, DEFAULT_SIZE

    return f"tiny-{DEFAULT_ARCH}-{DEFAULT_SIZE}"


# --- checking a model in a child process -----------------------------------------------------------


def describe_in_subprocess(source: str, *, prepared_dir: str | Path | None = None) -> dict[str, Any]:
    """Check `source` with `base_model_probe` in a process of its own (callers may be web processes).

    Returns the facts (architecture, parameter_count, has_chat_template, template_note, load_path);
    raises ApplicationError naming the problem ("no config.json in /x", "tokenizer could not be read: …").
    """
    command = [sys.executable, "-m", "training.services.base_model_probe", source]
    if settings.TRAINING_HF_OFFLINE:
        command.append("--offline")
    if prepared_dir is not None:
        command += ["--prepared-dir", str(prepared_dir)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1" if settings.TRAINING_HF_OFFLINE else "0"}
    try:
        completed = subprocess.run(  # noqa: S603 - our own module, arguments as a list
            command, cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300, check=False
        )
    except subprocess.TimeoutExpired:
        raise ApplicationError(
            f"Checking {source} took more than 5 minutes; nothing was added.", {"source": ["The check timed out."]}
        ) from None
    lines = completed.stdout.strip().splitlines()
    answer: dict[str, Any] | None = None
    if completed.returncode == 0 and lines:
        try:
            answer = json.loads(lines[-1])
        except json.JSONDecodeError:
            answer = None
    if answer is None:
        last = (completed.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise ApplicationError(f"Cannot read a model at {source}: {last}", {"source": [last]})
    if not answer.get("ok"):
        message = answer.get("message") or "unknown problem"
        raise ApplicationError(f"Cannot use {source}: {message}", {answer.get("field") or "source": [message]})
    return answer["facts"]


def _prepared_dir(name: str) -> Path:
    """Where a model without chat template gets its prepared folder (one per name, never shared)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:60] or "model"
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return Path(settings.TRAINING_MODELS_DIR) / "prepared" / f"{slug}-{digest}"


# Hub ids as the hub writes them (org/name); the child process checks them fully.
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?")


def _clean_add(name: Any, source: Any, *, staff: bool) -> tuple[str, str]:
    """The name and the source to check: a hub id, or a local folder resolved (symlinks and `..`) and
    allowed for this user (`model_sources`). Refusals name no server path."""
    errors: dict[str, list[str]] = {}
    source = source.strip() if isinstance(source, str) else ""
    name = name.strip() if isinstance(name, str) else ""
    if not source:
        errors["source"] = ["Give a Hugging Face hub id (like org/model) or the path of a local model folder."]
    elif len(source) > 450 or "\x00" in source or "\n" in source or "\r" in source:
        errors["source"] = ["A hub id or folder path of at most 450 characters, on one line."]
    elif looks_like_path(source):
        folder = Path(source).expanduser()
        folder = folder if folder.is_absolute() else Path(settings.BASE_DIR) / folder
        refusal = model_sources.folder_refusal(str(folder), staff=staff)
        if refusal:
            errors["source"] = [refusal]
        else:
            source = str(model_sources.real(folder))
    elif not HUB_ID.fullmatch(source) or ".." in source or "--" in source:
        errors["source"] = ["That is neither a Hugging Face hub id (like org/model) nor the path of a folder."]
    if source and "source" not in errors and not name:
        name = source.rstrip("/\\").replace("\\", "/").split("/")[-1]
    if len(name) > 200 or "\x00" in name:
        errors["name"] = ["A name of at most 200 characters."]
    if errors:
        first = next(iter(errors.values()))[0]
        raise ApplicationError(f"The base model was not added: {first}", errors)
    return name, source


def _name_taken(name: str) -> ApplicationError:
    return ApplicationError(
        f"The base model was not added: a base model named “{name}” exists already; choose another name.",
        {"name": [f"A base model named “{name}” exists already; choose another name."]},
    )


def base_model_add(*, user, name: Any = "", source: Any) -> BaseModel:
    """Queue the check of `source` (a hub id in the local cache, or an allowed folder): the row is
    "queued" at once and a worker checks it (`base_model_check_run`), so no web request starts a
    process that imports torch. Refused input creates nothing; a failed check leaves a failed row
    with the reason (no server path in it), which a new add under the same name replaces.
    """
    from ..tasks import check_base_model

    permissions.require(permissions.can_manage_base_models(user), "Only staff and project owners can add base models.")
    name, source = _clean_add(name, source, staff=model_sources.is_staff(user))
    now = timezone.now()
    fields = {
        "source": source,
        "requested_source": "",
        "architecture": "",
        "parameter_count": None,
        "has_chat_template": False,
        "template_note": "",
        "status": S.QUEUED,
        "status_changed_at": now,
        "error": "",
        "build_arch": "",
        "build_size": "",
        "estimates": {},
    }
    try:
        with transaction.atomic():
            row = BaseModel.objects.select_for_update().filter(name=name).first()
            if row is None:
                row = BaseModel.objects.create(name=name, **fields)
            else:
                stale = row.status_changed_at is not None and now - row.status_changed_at > STALE_BUILD
                if not (row.status == S.FAILED or (row.is_pending and stale)):
                    raise _name_taken(name)
                BaseModel.objects.filter(pk=row.pk).update(**fields)
                row.refresh_from_db()
            dispatch.send_on_commit(check_base_model, row.pk, user.pk)
    except IntegrityError:  # the same name added at the same moment
        raise _name_taken(name) from None
    return row


def base_model_check_run(*, base_model_id: int, user_id: int | None) -> str:
    """Worker: claim the queued check, check the source again for the person who added it (the folder
    may have changed since), describe it in a child process, end "ready" or "failed" with the reason.

    The reason is stored without server paths (owners read it); the full one goes to the worker's log.
    """
    claimed = BaseModel.objects.filter(pk=base_model_id, status=S.QUEUED, build_size="").update(
        status=S.BUILDING, status_changed_at=timezone.now(), error=""
    )
    if claimed != 1:
        return "not queued"
    row = BaseModel.objects.get(pk=base_model_id)
    # Sent again by the reaper, the message has no adder: the folder is then checked as for an owner.
    user = get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None
    try:
        if user_id is not None and (user is None or not user.is_active or not permissions.can_manage_base_models(user)):
            raise ApplicationError("The person who added this model may no longer add base models.")
        if looks_like_path(row.source):
            staff = user is not None and model_sources.is_staff(user)
            refusal = model_sources.folder_refusal(row.source, staff=staff)
            if refusal:
                raise ApplicationError(refusal)
        facts = describe_in_subprocess(row.source, prepared_dir=_prepared_dir(row.name))
    except ApplicationError as exc:
        reason = exc.message
    except Exception as exc:  # noqa: BLE001 - any failure ends the row failed, the details in the log
        log.exception("checking base model %s failed", base_model_id)
        reason = f"The check failed unexpectedly ({type(exc).__name__}); the worker's log has the details."
    else:
        load_path = facts.get("load_path") or ""
        updated = BaseModel.objects.filter(pk=row.pk, status=S.BUILDING, source=row.source).update(
            source=load_path or row.source,
            requested_source=row.source if load_path else "",
            architecture=(facts.get("architecture") or "")[:100],
            parameter_count=facts.get("parameter_count"),
            has_chat_template=bool(facts.get("has_chat_template")),
            template_note=(facts.get("template_note") or "")[:500],
            status=S.READY,
            status_changed_at=timezone.now(),
        )
        if updated != 1:  # replaced meanwhile (a new add under this name): its own check decides
            return "replaced"
        try:
            estimates_warm(BaseModel.objects.get(pk=row.pk))
        except Exception:  # a launch computes what is missing; the check itself succeeded
            log.exception("estimates for base model %s were not computed", row.pk)
        return "ready"
    log.info("base model %s (%s) failed its check: %s", row.pk, row.source, reason)
    known = (row.source, str(model_sources.real(row.source))) if looks_like_path(row.source) else ()
    shown = model_sources.scrub_paths(reason, *known)
    BaseModel.objects.filter(pk=row.pk, status=S.BUILDING, source=row.source).update(
        status=S.FAILED, status_changed_at=timezone.now(), error=shown[:2000]
    )
    return "failed"


def source_label(model: BaseModel, *, staff: bool) -> str:
    """What a person sees as the model's source: staff the path or hub id; others a hub id, or
    "local folder" (server paths are shown to staff only)."""
    shown = model.shown_source
    if staff:
        return shown
    return "local folder" if looks_like_path(shown) else shown


# --- registering what the engine describes ---------------------------------------------------------


@transaction.atomic
def base_model_register(
    *, name: str, source: str, facts: dict[str, Any] | None = None, arch: str = "", size: str = ""
) -> BaseModel:
    """Create or update the base model row `name` with what the engine says about `source` (ready)."""
    facts = facts if facts is not None else describe_in_subprocess(source)
    model, _ = BaseModel.objects.update_or_create(
        name=name,
        defaults={
            "source": facts.get("load_path") or source,
            "requested_source": source if facts.get("load_path") else "",
            "architecture": facts.get("architecture", ""),
            "parameter_count": facts.get("parameter_count"),
            "has_chat_template": bool(facts.get("has_chat_template")),
            "template_note": (facts.get("template_note") or "")[:500],
            "status": S.READY,
            "status_changed_at": timezone.now(),
            "error": "",
            "build_arch": arch,
            "build_size": size,
            "estimates": {},  # another model under this name: the old one's estimates no longer hold
        },
    )
    return model


def _clean_tiny(arch: Any, size: Any) -> tuple[str, str]:
    from ..engine.tiny import ARCHITECTURES, SIZES

    if arch not in ARCHITECTURES:
        raise ApplicationError(
            f"Unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}.",
            {"arch": [f"Choose one of {', '.join(ARCHITECTURES)}."]},
        )
    if size not in SIZES:
        choices = ", ".join(SIZES)
        raise ApplicationError(
            f"Unknown size {size!r}; choose one of {choices}.", {"size": [f"Choose one of {choices}."]}
        )
    return arch, size


def tiny_model_create(*, arch: str, size: str = "test", name: str | None = None) -> BaseModel:
    """Build a tiny random-weight model with the engine under TRAINING_MODELS_DIR and register it.

    Imports torch: call it from a management command or a worker, never from a web request.
    """
    from ..engine.tiny import build_tiny_model

    arch, size = _clean_tiny(arch, size)
    name = name or f"tiny-{arch}-{size}"
    folder = Path(settings.TRAINING_MODELS_DIR) / name
    facts = build_tiny_model(folder, arch=arch, size=size)
    return base_model_register(name=name, source=str(folder), facts=facts, arch=arch, size=size)


def default_tiny_model_ensure() -> tuple[BaseModel, bool]:
    """The default tiny model (DEFAULT_ARCH / DEFAULT_SIZE), built once: (row, built now?).

    A ready row whose folder still holds its config is reused; anything else is (re)built here.
    Imports torch: management commands and workers only.
    """
    from ..engine.tiny import DEFAULT_ARCH, DEFAULT_SIZE

    row = BaseModel.objects.filter(name=default_tiny_name()).first()
    built = False
    if row is None or not row.is_ready or not (Path(row.source) / "config.json").is_file():
        row, built = tiny_model_create(arch=DEFAULT_ARCH, size=DEFAULT_SIZE), True
    estimates_warm(row)  # the presets' estimates: a new user's first Train click answers at once
    return row, built


# --- building a tiny model in a worker -------------------------------------------------------------


def tiny_build_request(*, user, size: Any, arch: Any = None) -> BaseModel:
    """Queue a tiny model build (row "queued"; the task runs after the commit). Web-safe: no torch."""
    from ..engine.tiny import DEFAULT_ARCH
    from ..tasks import build_tiny_base_model

    permissions.require(
        permissions.can_manage_base_models(user), "Only staff and project owners can build base models."
    )
    arch, size = _clean_tiny(DEFAULT_ARCH if arch in (None, "") else arch, size)
    name = f"tiny-{arch}-{size}"
    now = timezone.now()
    with transaction.atomic():
        row = BaseModel.objects.select_for_update().filter(name=name).first()
        if row is not None and row.is_ready:
            raise ApplicationError(
                f"“{name}” is built already and ready: choose it as the base model in a project's settings.",
                {"size": ["Built already; pick another size to build a second model."]},
            )
        stale = row is not None and row.status_changed_at is not None and now - row.status_changed_at > STALE_BUILD
        if row is not None and row.is_pending and not stale:
            raise ApplicationError(f"“{name}” is being built already; its status below updates by itself.")
        fields = {
            "source": str(Path(settings.TRAINING_MODELS_DIR) / name),
            "requested_source": "",
            "status": S.QUEUED,
            "status_changed_at": now,
            "error": "",
            "build_arch": arch,
            "build_size": size,
            "estimates": {},
        }
        if row is None:
            row = BaseModel.objects.create(name=name, **fields)
        else:
            BaseModel.objects.filter(pk=row.pk).update(**fields)
            row.refresh_from_db()
        row_id = row.pk
        dispatch.send_on_commit(build_tiny_base_model, row_id)
    return row


def tiny_build_run(*, base_model_id: int) -> str:
    """Worker: claim the queued build, build with the engine, end "ready" or "failed" with the reason."""
    from ..engine.tiny import build_tiny_model

    claimed = (
        BaseModel.objects.filter(pk=base_model_id, status=S.QUEUED)
        .exclude(build_size="")  # an added model waiting for its check is not a build
        .update(status=S.BUILDING, status_changed_at=timezone.now(), error="")
    )
    if claimed != 1:
        return "not queued"
    row = BaseModel.objects.get(pk=base_model_id)
    try:
        arch, size = _clean_tiny(row.build_arch, row.build_size)
        facts = build_tiny_model(Path(row.source), arch=arch, size=size)
    except ApplicationError as exc:
        reason = exc.message
    except Exception as exc:  # noqa: BLE001 - any failure is shown on the row, with its type (no server path)
        log.exception("building tiny base model %s failed", base_model_id)
        reason = model_sources.scrub_paths(f"{type(exc).__name__}: {exc}", row.source)
    else:
        BaseModel.objects.filter(pk=row.pk, status=S.BUILDING).update(
            architecture=facts.get("architecture", ""),
            parameter_count=facts.get("parameter_count"),
            has_chat_template=bool(facts.get("has_chat_template")),
            status=S.READY,
            status_changed_at=timezone.now(),
        )
        try:
            estimates_warm(BaseModel.objects.get(pk=row.pk))
        except Exception:  # a launch computes what is missing; the build itself succeeded
            log.exception("estimates for base model %s were not computed", row.pk)
        return "ready"
    BaseModel.objects.filter(pk=row.pk).update(status=S.FAILED, status_changed_at=timezone.now(), error=reason[:2000])
    return "failed"
