"""The project's knowledge base for the fact check: reference documents, facts, verified claims."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from annotune.errors import ApplicationError

from .. import permissions
from ..models import ClaimVerification, Fact, KnowledgeDocument, Project

MAX_DOCUMENT_CHARS = 2_000_000
ALLOWED_SUFFIXES = (".txt", ".md", ".markdown", ".text")


def can_manage(user, project: Project) -> bool:
    return permissions.can_review(user, project)


def _require_manage(user, project: Project) -> None:
    if not can_manage(user, project):
        raise PermissionDenied("Only reviewers and owners manage the knowledge base.")


def _text(value: Any, field: str, *, limit: int, required: bool = True) -> str:
    if not isinstance(value, str) or "\x00" in value:
        raise ApplicationError(f"{field} must be text.", {field: ["Text without NUL characters is required."]})
    value = value.replace("\r\n", "\n").strip()
    if required and not value:
        raise ApplicationError(f"{field} is required.", {field: ["This field is required."]})
    if len(value) > limit:
        raise ApplicationError(f"{field} is too long.", {field: [f"At most {limit:,} characters."]})
    return value


def decode_upload(upload) -> str:
    """Text of an uploaded .txt / .md file (UTF-8, BOM tolerated), decoded chunk by chunk.

    `upload` is an UploadedFile (or any object with `name` and `chunks()`/`read(n)`); it is never read
    whole: decoding stops with an error as soon as the text passes MAX_DOCUMENT_CHARS.
    """
    from annotune.uploads import iter_text

    name = getattr(upload, "name", "") or ""
    if not name.lower().endswith(ALLOWED_SUFFIXES):
        raise ApplicationError("Upload a text or markdown file (.txt, .md).", {"file": ["Unsupported file type."]})
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_DOCUMENT_CHARS * 4:
        raise ApplicationError("The file is too large.", {"file": ["At most about 2 MB of text."]})
    try:
        return iter_text(upload, max_chars=MAX_DOCUMENT_CHARS)
    except UnicodeDecodeError:
        raise ApplicationError(
            "The file is not UTF-8 text.", {"file": ["Save it as UTF-8 and upload again."]}
        ) from None


@transaction.atomic
def document_add(*, project: Project, user, title: Any, text: Any) -> KnowledgeDocument:
    _require_manage(user, project)
    title = _text(title, "title", limit=200)
    text = _text(text, "text", limit=MAX_DOCUMENT_CHARS)
    return KnowledgeDocument.objects.create(project=project, title=title, text=text, uploaded_by=user)


@transaction.atomic
def document_delete(*, document: KnowledgeDocument, user) -> None:
    _require_manage(user, document.project)
    document.delete()


@transaction.atomic
def fact_add(*, project: Project, user, statement: Any, source: Any = "") -> Fact:
    _require_manage(user, project)
    statement = _text(statement, "statement", limit=5000)
    source = _text(source or "", "source", limit=500, required=False)
    return Fact.objects.create(project=project, statement=statement, source=source, created_by=user)


@transaction.atomic
def fact_delete(*, fact: Fact, user) -> None:
    _require_manage(user, fact.project)
    fact.delete()


@transaction.atomic
def claim_verify(*, project: Project, user, claim: Any, source: Any) -> ClaimVerification:
    """A reviewer confirms a claim by hand with a source; the fact check then reports it as verified."""
    from validators import claim_hash

    if not permissions.can_review(user, project):
        raise PermissionDenied("Only reviewers and owners can verify claims.")
    claim = _text(claim, "claim", limit=5000)
    source = _text(source, "source", limit=500)
    digest = claim_hash(claim)
    # Replaced rather than updated: a new row id tells the cached fact-check spec to rebuild.
    ClaimVerification.objects.filter(project=project, claim_hash=digest).delete()
    return ClaimVerification.objects.create(
        project=project, claim_hash=digest, claim_text=claim, source=source, verified_by=user
    )


@transaction.atomic
def claim_unverify(*, verification: ClaimVerification, user) -> None:
    if not permissions.can_review(user, verification.project):
        raise PermissionDenied("Only reviewers and owners can remove a verification.")
    verification.delete()
