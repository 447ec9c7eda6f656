"""Reads of examples: the filtered list, one example with its joins, its revisions and transitions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import QuerySet

from ..models import Example, ExampleStatus, Project, Revision, Transition


@dataclass(frozen=True)
class ExampleFilters:
    status: str = ""
    category: str = ""
    author: str = ""  # username
    q: str = ""

    @classmethod
    def from_query(cls, params: Any) -> ExampleFilters:
        return cls(
            status=(params.get("status") or "").strip(),
            category=(params.get("category") or "").strip(),
            author=(params.get("author") or "").strip(),
            q=(params.get("q") or "").strip()[:200],
        )


def example_queryset(project: Project, filters: ExampleFilters) -> QuerySet[Example]:
    """Examples of a project, filtered, newest first; list pages slice this with a keyset cursor."""
    qs = Example.objects.filter(project=project)
    if filters.status in ExampleStatus.values:
        qs = qs.filter(status=filters.status)
    if filters.category:
        qs = qs.filter(category=filters.category)
    if filters.author:
        qs = qs.filter(author__username=filters.author)
    if filters.q:
        qs = qs.filter(search_text__contains=filters.q.casefold())
    # The list needs no search text and no findings payload.
    return qs.select_related("author").defer("search_text", "findings").order_by("-id")


def example_page(
    project: Project, filters: ExampleFilters, *, before: int | None, size: int
) -> tuple[list[Example], int | None]:
    """One page of examples older than `before` (keyset pagination) and the cursor of the next page."""
    qs = example_queryset(project, filters)
    if before is not None:
        qs = qs.filter(id__lt=before)
    rows = list(qs[: size + 1])
    next_before = rows[size - 1].id if len(rows) > size else None
    return rows[:size], next_before


def example_detail(project: Project, example_id: Any) -> Example:
    return Example.objects.select_related("author", "project", "claimed_by").get(project=project, pk=example_id)


# The review queue reads one example with its author's name on every "next" and decision: one
# plain query (the ORM's select_related version costs about three times the CPU).
_EXAMPLE_WITH_AUTHOR = (
    "SELECT e.*, u.username AS author_username FROM annotation_example e"
    " JOIN auth_user u ON u.id = e.author_id WHERE e.id = %s AND e.project_id = %s"
)


def example_with_author(project: Project, example_id: int, *, lock: bool = False) -> Example:
    """The example (Example.DoesNotExist unless it is in the project) with `author` loaded as far as
    its username (other fields load on access); `lock` takes its row lock where the database has one.
    """
    sql = _EXAMPLE_WITH_AUTHOR + (" FOR UPDATE OF e" if lock and connection.features.has_select_for_update else "")
    found = list(Example.objects.raw(sql, [example_id, project.pk]))
    if not found:
        raise Example.DoesNotExist(f"No example {example_id} in project {project.pk}")
    example = found[0]
    example.project = project
    example.author = get_user_model().from_db(None, ["id", "username"], [example.author_id, example.author_username])
    return example


def example_ref(project: Project, example_id: int) -> Example:
    """A reference to an example, not read: for services that lock and read the row themselves
    (review decisions). They raise Example.DoesNotExist when it is not in the project."""
    return Example(pk=example_id, project=project)


def example_revisions(example: Example) -> QuerySet[Revision]:
    return Revision.objects.filter(example=example).select_related("author").order_by("-version")


def example_transitions(example: Example) -> QuerySet[Transition]:
    return Transition.objects.filter(example=example).select_related("actor").order_by("-id")
