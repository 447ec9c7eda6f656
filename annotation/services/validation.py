"""Validation on the platform side: the pure `validators` package applied to projects and examples.

- `project_spec` / `project_policy`: built from a Project, cached per process keyed by the project's
  `updated_at` (and the knowledge base's fingerprint for the fact check).
- `validate_example_row`: runs the per-example checks and stores findings + error count on the row;
  `services.examples` calls it on every create, update and submit. `findings_checker` is the same
  check prepared once per project, for the import's bulk insert.
- `validate_draft`: the editor's inline check of unsaved text (no database write).
- `fixed_messages`: one-click fixes (`examples.example_apply_fix` writes one as a revision).

The web process counts tokens with the validators' character estimate; the worker
(`validation_run_execute`) uses the base model's tokenizer when it can be loaded offline.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connection

from annotune.errors import ApplicationError

from .. import permissions
from ..models import ClaimVerification, Example, Fact, KnowledgeDocument, Project

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_spec_cache: dict[tuple, Any] = {}
_kb_cache: dict[int, tuple[tuple, Any]] = {}
_CACHE_SIZE = 64


def project_policy(project: Project):
    from validators import Policy

    return Policy.from_dict(project.validation_policy or {})


def format_spec(project: Project) -> dict[str, Any]:
    """The project's format spec in the validators' plain shape."""
    return {
        "categories": [c for c in project.categories or [] if isinstance(c, dict) and c.get("name")],
        "general_category": project.general_category or None,
        "style_tags": list(project.style_tags or []),
        "glossary": dict(project.glossary or {}),
        "response_schema": project.response_schema or None,
        "max_tokens": project.max_tokens,
        "style_rules": dict(project.style_rules or {}) if isinstance(project.style_rules, dict) else {},
    }


# Every save and submit reads it, so it is one plain statement (the ORM's version of these subqueries
# costs about 5 ms of CPU to compile per call; this one about 0.1 ms).
_FINGERPRINT = (
    "SELECT (SELECT COUNT(*) FROM annotation_knowledgedocument WHERE project_id = %(p)s),"
    " (SELECT MAX(id) FROM annotation_knowledgedocument WHERE project_id = %(p)s),"
    " (SELECT COUNT(*) FROM annotation_fact WHERE project_id = %(p)s),"
    " (SELECT MAX(id) FROM annotation_fact WHERE project_id = %(p)s),"
    " (SELECT COUNT(*) FROM annotation_claimverification WHERE project_id = %(p)s),"
    " (SELECT MAX(id) FROM annotation_claimverification WHERE project_id = %(p)s)"
)


def knowledge_fingerprint(project: Project) -> tuple:
    """Changes whenever a document, fact or verification is added, removed or replaced: the row count
    and the highest id of each of the three tables for the project."""
    with connection.cursor() as cursor:
        cursor.execute(_FINGERPRINT, {"p": project.pk})
        return tuple(cursor.fetchone())


def has_knowledge(fingerprint: tuple) -> bool:
    return bool(fingerprint[0] or fingerprint[2] or fingerprint[4])


def knowledge_base(project: Project, fingerprint: tuple | None = None):
    """The project's KnowledgeBase (BM25 over documents and facts), rebuilt when the fingerprint changes."""
    from validators import KnowledgeBase

    fingerprint = fingerprint if fingerprint is not None else knowledge_fingerprint(project)
    with _lock:
        cached = _kb_cache.get(project.pk)
        if cached and cached[0] == fingerprint:
            return cached[1]
    documents = list(KnowledgeDocument.objects.filter(project=project).values_list("title", "text"))
    facts = list(Fact.objects.filter(project=project).values_list("statement", flat=True))
    kb = KnowledgeBase.build(documents, facts=facts)
    with _lock:
        _kb_cache[project.pk] = (fingerprint, kb)
    return kb


def verified_claims(project: Project) -> dict[str, str]:
    return dict(ClaimVerification.objects.filter(project=project).values_list("claim_hash", "source"))


def project_spec(
    project: Project,
    *,
    fact_check: bool = False,
    fingerprint: tuple | None = None,
    tokenizer: Callable[[str], int] | None = None,
):
    """A ProjectSpec for the project, cached per (project, updated_at, knowledge fingerprint)."""
    from validators import ProjectSpec

    if fact_check and fingerprint is None:
        fingerprint = knowledge_fingerprint(project)
    key = (project.pk, project.updated_at, fingerprint if fact_check else None, id(tokenizer) if tokenizer else None)
    with _lock:
        spec = _spec_cache.get(key)
    if spec is not None:
        return spec
    extra: dict[str, Any] = {}
    if fact_check:
        extra["knowledge_base"] = knowledge_base(project, fingerprint)
        extra["verified_claims"] = verified_claims(project)
    if tokenizer is not None:
        extra["tokenizer"] = tokenizer
    spec = ProjectSpec.from_dict(format_spec(project), **extra)
    with _lock:
        if len(_spec_cache) >= _CACHE_SIZE:
            _spec_cache.pop(next(iter(_spec_cache)))
        _spec_cache[key] = spec
    return spec


def example_payload(example: Example | None = None, **values: Any) -> dict[str, Any]:
    if example is not None:
        values = {
            "messages": example.messages,
            "category": example.category,
            "style_tags": example.style_tags,
            "context": example.context,
            "id": example.pk,
            **values,
        }
    return values


def findings_checker(project: Project, *, fact_check: bool | None = None) -> Callable[[Any], list[dict]]:
    """`findings_for` with the project's part (knowledge fingerprint, spec, policy) done once: a callable
    giving the findings of one payload (or `validators.ExampleInput`). For many examples of one project
    (an import)."""
    from validators import example_validator

    fingerprint = None
    if fact_check is None:
        fingerprint = knowledge_fingerprint(project)
        fact_check = has_knowledge(fingerprint)
    spec = project_spec(project, fact_check=fact_check, fingerprint=fingerprint)
    validate = example_validator(spec, project_policy(project), fact_check=fact_check)

    def check(payload: Any) -> list[dict]:
        return [f.to_dict() for f in validate(payload)]

    return check


def findings_for(project: Project, payload: dict[str, Any], *, fact_check: bool | None = None) -> list[dict]:
    """Per-example findings (dicts) for a conversation of this project; the fact check runs when the
    project has a knowledge base (or `fact_check` says so)."""
    return findings_checker(project, fact_check=fact_check)(payload)


def error_findings(findings: Iterable[dict]) -> list[dict]:
    return [f for f in findings if f.get("severity") == "error"]


def validate_example_row(example: Example, *, fact_check: bool | None = None) -> list[dict]:
    """Validate a stored example and store its findings and error count (one UPDATE)."""
    findings = findings_for(example.project, example_payload(example), fact_check=fact_check)
    errors = len(error_findings(findings))
    Example.objects.filter(pk=example.pk).update(findings=findings, error_count=errors)
    example.findings, example.error_count = findings, errors
    return findings


def refuse_blocking(findings: list[dict]) -> None:
    """Submission is refused while error findings remain; the message names them by their titles (the
    codes go in `extra["findings"]`, for the API)."""
    from validators import check_title

    errors = error_findings(findings)
    if errors:
        # Messages end with their own full stop; the sentence adds one at its end ("never closed.." otherwise).
        names = "; ".join(
            f"{check_title(str(f['code']))} ({_where(f)}): {str(f['message']).rstrip('.')}" for f in errors[:5]
        )
        more = f" and {len(errors) - 5} more" if len(errors) > 5 else ""
        raise ApplicationError(
            f"Fix the validation errors before submitting: {names}{more}.",
            {"findings": [f"{f['code']}: {f['message']}" for f in errors]},
        )


def _where(finding: dict) -> str:
    location = finding.get("location")
    return f"turn {location['message'] + 1}" if location else "whole example"


def validate_draft(
    *, project: Project, user, messages: Any, category: Any = "", style_tags: Any = None, context: Any = ""
) -> list[dict]:
    """The editor's inline check: findings for unsaved text, nothing written. The same call as the save
    and the submit (`findings_for`, fact check included when the project has a knowledge base), so the
    Checks panel shows what a submit would refuse. Shape errors (bad roles, NUL characters) become no
    findings here: the save reports them."""
    permissions.require(permissions.can_annotate(user, project), "You are not a member of this project.")
    if not isinstance(messages, list):
        raise ApplicationError("The conversation must be a list of turns.")
    safe = [
        {"role": str(m.get("role", "")), "content": str(m.get("content", ""))[:200_000]}
        for m in messages[:200]
        if isinstance(m, dict)
    ]
    payload = example_payload(
        messages=safe, category=category or "", style_tags=style_tags or [], context=str(context or "")[:100_000]
    )
    return findings_for(project, payload)


def draft_untouched(messages: Any) -> bool:
    """True while no user or assistant turn has text yet (a fresh editor): the Checks panel then shows
    guidance instead of "empty turn" errors about text nobody has written yet."""
    if not isinstance(messages, list):
        return False
    return not any(
        str(m.get("content", "")).strip() for m in messages if isinstance(m, dict) and m.get("role") != "system"
    )


def fixable(code: str) -> str | None:
    """ "safe", "explicit" or None: whether the editor offers a Fix button for this code."""
    from validators import REGISTRY

    info = REGISTRY.get(code)
    return info.fix if info else None


def fixed_messages(project: Project, messages: list[dict], code: str) -> list[dict[str, str]]:
    """Messages with the fix for `code` applied (ApplicationError if the code has no fix)."""
    from validators import apply_fixes

    if not fixable(code):
        raise ApplicationError(f"There is no automatic fix for {code!r}.", {"code": ["No fix for this code."]})
    try:
        return apply_fixes({"messages": messages}, code, project_spec(project))
    except ValueError as exc:
        raise ApplicationError(str(exc), {"code": [str(exc)]}) from None


def tokenizer_for_worker(project: Project) -> Callable[[str], int] | None:
    """The base model's tokenizer as a counting callable, loaded offline (worker processes only)."""
    base = project.base_model
    if base is None or not base.source:
        return None
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(base.source, local_files_only=True)
    except Exception:  # noqa: BLE001 - no tokenizer available offline: the character estimate is used
        logger.info("No offline tokenizer for %s; using the character estimate.", base.source)
        return None
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


def display_findings(findings: Iterable[dict], messages: list[dict]) -> list[dict[str, Any]]:
    """Findings ready for a template: the check's title (the code goes in a tooltip), turn number, the
    excerpt split around the flagged span, fix kind.

    Text stays plain (the template escapes it); nothing here builds HTML.
    """
    from validators import check_title

    out = []
    for finding in findings:
        if not isinstance(finding, dict):
            continue
        code = str(finding.get("code", ""))
        item = {**finding, "turn": None, "role": "", "before": "", "match": "", "after": "",
                "fix": fixable(code), "title": check_title(code)}  # fmt: skip
        location = finding.get("location") or None
        if not isinstance(location, dict):
            item["where"] = str(location) if location else ""
        elif isinstance(location.get("message"), int) and 0 <= location["message"] < len(messages):
            message = messages[location["message"]]
            text = str(message.get("content", ""))
            item["turn"], item["role"] = location["message"] + 1, message.get("role", "")
            start, end = location.get("start"), location.get("end")
            if isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= len(text):
                item["before"] = ("…" if start > 40 else "") + text[max(0, start - 40) : start]
                item["match"] = text[start:end][:200]
                item["after"] = text[end : end + 40] + ("…" if end + 40 < len(text) else "")
        evidence = finding.get("evidence") or {}
        item["claim_hash"] = evidence.get("claim_hash", "") if isinstance(evidence, dict) else ""
        item["claim"] = evidence.get("claim", "") if isinstance(evidence, dict) else ""
        item["passage"] = evidence.get("passage", "") if isinstance(evidence, dict) else ""
        item["source"] = evidence.get("source", "") if isinstance(evidence, dict) else ""
        out.append(item)
    return out
