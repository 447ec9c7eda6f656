"""Create, edit and submit conversations; every edit writes a revision, stale saves are refused."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotune.errors import ApplicationError, ConflictError
from validators import content_hash

from .. import permissions
from ..models import Example, ExampleStatus, Project, Revision
from .conversations import clean_messages, search_text
from .transitions import example_transition
from .validation import fixed_messages, refuse_blocking, validate_example_row

EDITABLE_FIELDS = ("messages", "category", "style_tags", "context")


def _reload(example: Example) -> None:
    """Re-read the row after a write. The project and the author never change, so their loaded rows
    are kept: a full refresh_from_db would drop them and the next use would query each again."""
    example.refresh_from_db(
        fields=[f.attname for f in Example._meta.concrete_fields if f.attname not in ("project_id", "author_id")]
    )


RETURNED_STATUSES = (ExampleStatus.CHANGES_REQUESTED, ExampleStatus.REJECTED)


def _refresh_changed(example: Example) -> None:
    """Bring `example` up to date with its row after a conditional write found the row changed since
    it was read (saved, submitted or given to another author by another request)."""
    row = Example.objects.filter(pk=example.pk).values_list("author_id", flat=True).first()
    if row is None:
        raise ConflictError("This example was deleted meanwhile; nothing was saved.")
    keep = ("project_id",) if row != example.author_id else ("project_id", "author_id")
    example.refresh_from_db(fields=[f.attname for f in Example._meta.concrete_fields if f.attname not in keep])


def clean_labels(project: Project, category: Any, style_tags: Any, context: Any) -> tuple[str, list[str], str]:
    errors: dict[str, list[str]] = {}
    category = "" if category is None else category
    style_tags = [] if style_tags is None else style_tags
    context = "" if context is None else context
    if not isinstance(category, str) or "\x00" in category:
        errors["category"] = ["Category must be text without NUL characters."]
    elif category and (names := project.category_names) and category not in names:
        errors["category"] = [f"Unknown category {category!r}; choose one of {', '.join(names)}."]
    if not isinstance(style_tags, list) or not all(isinstance(t, str) for t in style_tags):
        errors["style_tags"] = ["Style tags must be a list of text labels."]
    elif project.style_tags and (unknown := sorted(set(style_tags) - set(project.style_tags))):
        errors["style_tags"] = [f"Unknown style tag(s) {unknown}; the project has {', '.join(project.style_tags)}."]
    if not isinstance(context, str) or "\x00" in context:
        errors["context"] = ["Context must be text without NUL characters."]
    elif len(context) > 100_000:
        errors["context"] = ["The context passage is longer than 100,000 characters; shorten it."]
    if errors:
        raise ApplicationError("Some fields are invalid.", errors)
    return category, list(dict.fromkeys(style_tags)), context


def _snapshot(example: Example, *, author, changed: list[str], note: str = "") -> Revision:
    return Revision.objects.create(
        example=example,
        version=example.version,
        author=author,
        messages=example.messages,
        category=example.category,
        style_tags=example.style_tags,
        context=example.context,
        changed_fields=changed,
        note=note,
    )


@transaction.atomic
def example_create(
    *,
    project: Project,
    author,
    messages: Any,
    category: Any = "",
    style_tags: Any = None,
    context: Any = "",
    submit: bool = False,
) -> Example:
    permissions.require(permissions.can_annotate(author, project), "You are not a member of this project.")
    cleaned = clean_messages(messages, require_complete=submit)
    category, style_tags, context = clean_labels(project, category, style_tags, context)
    example = Example.objects.create(
        project=project,
        author=author,
        messages=cleaned,
        category=category,
        style_tags=style_tags,
        context=context,
        content_hash=content_hash(cleaned),
        search_text=search_text(cleaned, context),
    )
    _snapshot(example, author=author, changed=list(EDITABLE_FIELDS), note="created")
    validate_example_row(example)
    if submit:
        _submit(example, actor=author)
    return example


@transaction.atomic
def example_update(
    *,
    example: Example,
    user,
    version: Any,
    messages: Any = None,
    category: Any = None,
    style_tags: Any = None,
    context: Any = None,
    note: str = "",
    allow_status: frozenset[str] | None = None,
) -> Example:
    """Save an edit made against `version`; refuse it (ConflictError) if someone saved first.

    `allow_status` lets the review services edit a submitted example (edit-and-approve); their
    own permission check has run by then. The checks judge the row as it was read; the write below
    applies only if the row still has that version, status and author (else 409, nothing written).
    """
    if allow_status is None:
        if not permissions.can_edit_example(user, example):
            if example.status not in permissions.EDITABLE_STATUSES:
                raise ApplicationError(
                    f"This example is {example.get_status_display().lower()} and can no longer be edited."
                )
            raise PermissionDenied("Only the author or a project owner can edit this example.")
    elif example.status not in allow_status:
        raise ApplicationError(f"This example is {example.get_status_display().lower()} and cannot be edited here.")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ApplicationError("Send the version you edited.", {"version": ["A whole number is required."]})
    new = {
        "messages": example.messages if messages is None else clean_messages(messages),
    }
    new["category"], new["style_tags"], new["context"] = clean_labels(
        example.project,
        example.category if category is None else category,
        example.style_tags if style_tags is None else style_tags,
        example.context if context is None else context,
    )
    changed = [field for field in EDITABLE_FIELDS if new[field] != getattr(example, field)]
    if version != example.version:
        raise ConflictError(
            f"Someone else saved this example (now version {example.version}, you edited {version}). "
            "Nothing was overwritten: reload, then apply your change again.",
            {"version": [f"Current version is {example.version}."]},
        )
    if not changed:
        return example
    updated = Example.objects.filter(
        pk=example.pk, version=version, status=example.status, author_id=example.author_id
    ).update(
        messages=new["messages"],
        category=new["category"],
        style_tags=new["style_tags"],
        context=new["context"],
        content_hash=content_hash(new["messages"]),
        search_text=search_text(new["messages"], new["context"]),
        version=F("version") + 1,
        updated_at=timezone.now(),
    )
    if updated != 1:
        # Saved, submitted or reassigned since it was read: say what it is now.
        _refresh_changed(example)
        raise ConflictError(
            f"Someone else changed this example a moment ago (now {example.get_status_display().lower()}, "
            f"version {example.version}). Nothing was overwritten: reload and apply your change again.",
            {"version": [f"Current version is {example.version}."]},
        )
    _reload(example)
    _snapshot(example, author=user, changed=changed, note=note)
    validate_example_row(example)
    if example.status in RETURNED_STATUSES and allow_status is None:
        example_transition(example=example, to_status=ExampleStatus.DRAFT, actor=user, comment="edited by author")
    return example


def _submit(example: Example, *, actor) -> None:
    clean_messages(example.messages, require_complete=True)
    # Findings are recomputed: the policy, format spec or knowledge base may have changed since the save.
    refuse_blocking(validate_example_row(example))
    if example.status in RETURNED_STATUSES:
        example_transition(example=example, to_status=ExampleStatus.DRAFT, actor=actor)
    example_transition(example=example, to_status=ExampleStatus.SUBMITTED, actor=actor)
    # A new submission round: reviews of earlier rounds no longer count towards approval. Only for the
    # version that was checked above: a newer one saved (or a new author given) since `example` was
    # read is refused, and the caller's transaction takes back the findings and transitions written.
    updated = Example.objects.filter(pk=example.pk, version=example.version, author_id=example.author_id).update(
        submitted_at=timezone.now(), review_round=F("review_round") + 1, claimed_by=None, claim_expires_at=None
    )
    if updated != 1:
        raise ConflictError(
            "Someone else changed this example since you opened it. Nothing was submitted: reload, check the "
            "current version and submit again.",
            {"version": ["A newer version exists."]},
        )


@transaction.atomic
def example_submit(*, example: Example, user, version: Any = None) -> Example:
    """Send a draft (or a returned example) to review."""
    if not permissions.can_submit_example(user, example):
        if example.status == ExampleStatus.SUBMITTED:
            raise ApplicationError("This example is already submitted.")
        if example.status not in permissions.EDITABLE_STATUSES:
            raise ApplicationError(f"This example is {example.get_status_display().lower()} and cannot be submitted.")
        raise PermissionDenied("Only the author or a project owner can submit this example.")
    if version is not None and version != example.version:
        raise ConflictError(
            f"Someone else saved this example (now version {example.version}); reload before submitting.",
            {"version": [f"Current version is {example.version}."]},
        )
    _submit(example, actor=user)
    _reload(example)
    return example


@transaction.atomic
def example_delete(*, example: Example, user) -> None:
    if not permissions.can_edit_example(user, example):
        raise PermissionDenied("Only the author or an owner can delete an example that is not under review.")
    example.delete()


def example_apply_fix(*, example: Example, user, version: Any, code: str) -> Example:
    """Apply the fix for `code` and save it as a revision (409 when `version` is stale)."""
    if not permissions.can_edit_example(user, example):
        raise PermissionDenied("Only the author or a project owner can fix this example while it is editable.")
    if isinstance(version, int) and not isinstance(version, bool) and version != example.version:
        # Checked before computing the fix, so a stale page never fixes text it did not see.
        raise ConflictError(
            f"Someone else saved this example (now version {example.version}, you saw {version}). "
            "Nothing was changed: reload, then apply the fix again.",
            {"version": [f"Current version is {example.version}."]},
        )
    new = fixed_messages(example.project, example.messages, code)
    clean_messages(new)
    return example_update(example=example, user=user, version=version, messages=new, note=f"fix: {code}"[:200])
