"""Export a filtered selection of examples, streamed: rows come as tuples, never as model objects."""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import F, Func, TextField, Value
from django.db.models.functions import Cast

from annotation.models import ExampleStatus, Project
from annotation.selectors.examples import ExampleFilters, example_queryset
from annotune.errors import ApplicationError

from .. import permissions
from ..formats.rendering import EXPORT_FORMATS, render

RAW_JSON_FORMATS = ("messages", "json")


def clean_format(value: object) -> str:
    if value not in EXPORT_FORMATS:
        raise ApplicationError(
            f"Unknown export format {value!r}.", {"file_format": [f"Use one of {', '.join(EXPORT_FORMATS)}."]}
        )
    return str(value)


def export_filename(project: Project, file_format: str, filters: ExampleFilters) -> str:
    extension = EXPORT_FORMATS[file_format][0]
    # Only a known status names the file: the filter value is user input and goes into a header.
    suffix = f"-{filters.status}" if filters.status in ExampleStatus.values else ""
    return f"project-{project.pk}-examples{suffix}-{file_format}.{extension}"


def export_chunks(*, project: Project, user, filters: ExampleFilters, file_format: str) -> Iterator[str]:
    """The export file in text chunks of about 64 KiB, oldest example first.

    The chat-messages formats copy the database's own JSON text of each conversation into the
    line (no decode and re-encode per row); the others decode it once to reshape it.
    """
    if not permissions.can_export(user, project):
        raise PermissionDenied("You cannot export from this project.")
    file_format = clean_format(file_format)
    queryset = example_queryset(project, filters).order_by("id")
    chunk_size = settings.ANNOTUNE_EXPORT_CHUNK_SIZE
    if file_format in RAW_JSON_FORMATS and connection.vendor == "postgresql":
        # PostgreSQL writes each record itself (in its own process, next to this one).
        keys = ("messages", "category", "style_tags", "context")
        record = Cast(
            Func(*[part for key in keys for part in (Value(key), F(key))], function="json_build_object"),
            TextField(),
        )
        lines = queryset.annotate(_record=record).values_list("_record", flat=True).iterator(chunk_size=chunk_size)
        return render(file_format, lines, prebuilt=True)
    if file_format in RAW_JSON_FORMATS:
        rows = (
            queryset.annotate(_messages=Cast("messages", TextField()), _tags=Cast("style_tags", TextField()))
            .values_list("_messages", "category", "_tags", "context")
            .iterator(chunk_size=chunk_size)
        )
        return render(file_format, rows, raw_json=True)
    rows = queryset.values_list("messages", "category", "style_tags", "context").iterator(chunk_size=chunk_size)
    return render(file_format, rows)
