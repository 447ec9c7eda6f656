"""The forgetting check's control set: the built-in one, or a project's own (replaced by its owners).

After every job the engine compares base and adapter on everyday conversations (training/engine/
control_set.py ships 300 written for Annotune). A project whose "everyday" looks different — another
language, a customer base of its own — replaces them with a JSONL file of conversations; the worker
reads it from CONTROL_SET_PATH (training/services/execution.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotation import permissions
from annotation.models import Project
from annotune.errors import ApplicationError
from annotune.uploads import iter_text
from training.engine.control_set import BUILTIN_SIZE
from training.engine.data import check_conversation
from training.engine.errors import DataError
from training.services.execution import CONTROL_SET_PATH

MIN_CONVERSATIONS = 8
MAX_CONVERSATIONS = 5000
MAX_CHARS = 8 * 2**20


@dataclass(frozen=True)
class ControlSetInfo:
    source: str  # "builtin" | "project"
    conversations: int


def control_set_info(project: Project) -> ControlSetInfo:
    path = CONTROL_SET_PATH.format(project_id=project.pk)
    if not default_storage.exists(path):
        return ControlSetInfo("builtin", BUILTIN_SIZE)
    with default_storage.open(path, "rb") as handle:
        count = sum(1 for line in handle if line.strip())
    return ControlSetInfo("project", count)


def _parse(text: str) -> list[list[dict[str, str]]]:
    conversations = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ApplicationError(
                f"Line {number} is not JSON ({exc.msg}).", {"file": [f"line {number}: invalid JSON"]}
            ) from exc
        messages = item.get("messages") if isinstance(item, dict) else item
        try:
            conversations.append(check_conversation(messages, number))
        except DataError as exc:
            detail = str(exc).replace(f"example {number}", f"line {number}")
            raise ApplicationError(
                f'{detail}. Each line holds {{"messages": [...]}} with an assistant answer.', {"file": [detail]}
            ) from exc
        if len(conversations) > MAX_CONVERSATIONS:
            raise ApplicationError(
                f"More than {MAX_CONVERSATIONS:,} conversations: the check samples 64, so keep the file small.",
                {"file": [f"at most {MAX_CONVERSATIONS:,} conversations"]},
            )
    if len(conversations) < MIN_CONVERSATIONS:
        raise ApplicationError(
            f"Only {len(conversations)} conversation(s): a control set needs at least {MIN_CONVERSATIONS}.",
            {"file": [f"at least {MIN_CONVERSATIONS} conversations"]},
        )
    return conversations


def control_set_replace(*, project: Project, user, upload) -> ControlSetInfo:
    """Check every line of a JSONL upload, then store it as the project's control set (nothing on error)."""
    permissions.require(permissions.can_train(user, project), "Only project owners can change the control set.")
    conversations = _parse(iter_text(upload, max_chars=MAX_CHARS))
    body = "".join(json.dumps({"messages": c}, ensure_ascii=False) + "\n" for c in conversations)
    path = CONTROL_SET_PATH.format(project_id=project.pk)
    if default_storage.exists(path):
        default_storage.delete(path)
    default_storage.save(path, ContentFile(body.encode("utf-8")))
    return ControlSetInfo("project", len(conversations))


def control_set_reset(*, project: Project, user) -> ControlSetInfo:
    """Back to the built-in control set."""
    permissions.require(permissions.can_train(user, project), "Only project owners can change the control set.")
    path = CONTROL_SET_PATH.format(project_id=project.pk)
    if default_storage.exists(path):
        default_storage.delete(path)
    return ControlSetInfo("builtin", BUILTIN_SIZE)
