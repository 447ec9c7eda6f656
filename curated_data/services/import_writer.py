"""Writing an import's rows: examples, their first revisions and submissions, in the caller's transaction.

The rows get exactly what the editor's services write (cleaned messages, content hash, search text,
validation findings and error count, revision 1, and the submission of the rows that may be submitted).
They go to the database as prepared tuples, never model instances: per row, building instances,
preparing every field and compiling the SQL cost more than the database's own work. Ids are reserved
first, so revisions and transitions name their example without reading anything back.

- PostgreSQL: ids from the table's sequence, then COPY, per batch; the revisions are made in the database
  from the examples just copied (INSERT ... SELECT): their messages are not sent and parsed a second time.
- SQLite: ids above the highest ever given (the import's transaction is IMMEDIATE, so it holds SQLite's
  write lock and nobody else can take them), then executemany, per batch.
- any other database: bulk_create.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring_ascii as _text  # what json.dumps uses for a str
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import JSONField, Model

from annotation.models import Example, ExampleStatus, Revision, Transition
from annotation.services.examples import EDITABLE_FIELDS


@dataclass(slots=True)
class Prepared:
    """One valid row of the file, cleaned, with what the database stores for it."""

    line: int
    messages: list[dict[str, str]]
    category: str
    style_tags: list[str]
    context: str
    content_hash: str
    search_text: str
    findings: list[dict] = dataclasses.field(default_factory=list)
    error_count: int = 0
    status: str = ExampleStatus.DRAFT
    where: str = ""  # the record's field in reports: "messages", or "[3].messages" in a JSON array


EXAMPLE_COLUMNS = ["id", "project_id", "author_id", "messages", "category", "style_tags", "context", "status",
                   "version", "content_hash", "search_text", "submitted_at", "findings", "error_count",
                   "review_round"]  # fmt: skip
REVISION_COLUMNS = ["example_id", "version", "author_id", "messages", "category", "style_tags", "context",
                    "changed_fields", "note"]  # fmt: skip
TRANSITION_COLUMNS = ["example_id", "actor_id", "from_status", "to_status", "comment"]
TABLES = ((Example, EXAMPLE_COLUMNS), (Revision, REVISION_COLUMNS), (Transition, TRANSITION_COLUMNS))
SUBMITTED = str(ExampleStatus.SUBMITTED)


def write_rows(rows: list[Prepared], *, import_id: int, project_id: int, author_id: int, now: datetime) -> int:
    """Insert the rows (findings, error count and status already set); returns how many."""
    if connection.vendor in ("postgresql", "sqlite"):
        stamp = now if connection.vendor == "postgresql" else connection.ops.adapt_datetimefield_value(now)
        constants = [_constants(model, set(columns), stamp) for model, columns in TABLES]
        if all(c is not None for c in constants):
            _write_tuples(rows, constants, import_id=import_id, project_id=project_id, author_id=author_id,
                          stamp=stamp)  # fmt: skip
            return len(rows)
    _write_models(rows, import_id=import_id, project_id=project_id, author_id=author_id, now=now)
    return len(rows)


def messages_json(messages: list[dict[str, str]]) -> str:
    """`json.dumps(messages)` for cleaned turns (`clean_messages` gives each exactly {"role", "content"}, both
    text): the same characters, without the encoder's set-up per call, which costs more than these turns."""
    return "[" + ", ".join(['{"role": ' + _text(m["role"]) + ', "content": ' + _text(m["content"]) + "}"
                            for m in messages]) + "]"  # fmt: skip


def _constants(model: type[Model], explicit: set[str], stamp: Any) -> dict[str, Any] | None:
    """Column -> value for the fields an import does not set itself (their defaults), ready for the database.

    None when a field has no default the database could not fill: the caller then uses bulk_create.
    """
    values: dict[str, Any] = {}
    for field in model._meta.concrete_fields:
        if field.column in explicit or field.primary_key:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            values[field.column] = stamp
        elif field.has_default():
            value = field.get_default()
            values[field.column] = json.dumps(value) if isinstance(field, JSONField) else value
        elif field.has_db_default():
            continue
        elif field.null:
            continue  # left out: the column has no default, so the database writes NULL
        elif field.empty_strings_allowed and not isinstance(field, JSONField):
            values[field.column] = field.get_default()  # "" for text fields, as bulk_create would write
        else:
            return None
    return values


def _write_tuples(rows: list[Prepared], constants: list[dict[str, Any]], *, import_id: int, project_id: int,
                  author_id: int, stamp: Any) -> None:  # fmt: skip
    example_constants, revision_constants, transition_constants = constants
    changed = json.dumps(list(EDITABLE_FIELDS))
    comment = f"imported (import {import_id})"
    batch = max(settings.ANNOTUNE_IMPORT_BATCH_SIZE, 1)
    postgresql = connection.vendor == "postgresql"
    reserve = _sequence_ids() if postgresql else _ids_above_highest()
    with _bulk_page_cache():
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            ids = reserve(len(chunk))
            examples, revisions, transitions = [], [], []
            for pk, row in zip(ids, chunk, strict=True):
                messages, tags = messages_json(row.messages), json.dumps(row.style_tags) if row.style_tags else "[]"
                submitted = row.status == SUBMITTED
                examples.append((pk, project_id, author_id, messages, row.category, tags, row.context,
                                 str(row.status), 1, row.content_hash, row.search_text, stamp if submitted else None,
                                 json.dumps(row.findings) if row.findings else "[]", row.error_count,
                                 1 if submitted else 0))  # fmt: skip
                if not postgresql:
                    revisions.append((pk, 1, author_id, messages, row.category, tags, row.context, changed,
                                      f"imported (import {import_id}, line {row.line})"))  # fmt: skip
                if submitted:  # the submission a submit in the editor records (review round 1)
                    transitions.append((pk, author_id, str(ExampleStatus.DRAFT), SUBMITTED, comment))
            _insert(Example, EXAMPLE_COLUMNS, example_constants, examples)
            if postgresql:
                _revisions_from_examples(ids, [row.line for row in chunk], revision_constants, changed=changed,
                                         note=f"imported (import {import_id}, line ")  # fmt: skip
            else:
                _insert(Revision, REVISION_COLUMNS, revision_constants, revisions)
            if transitions:
                _insert(Transition, TRANSITION_COLUMNS, transition_constants, transitions)


@contextmanager
def _bulk_page_cache(kib: int = 64 * 1024) -> Iterator[None]:
    """SQLite: a 64 MiB page cache while the rows go in, the previous size after. At the default 2 MiB the
    indexes of a growing table stop fitting, and every miss reads its page again (a fifth of the write's CPU
    at 100,000 rows). PostgreSQL's cache is the server's: nothing to do."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (previous,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")


def _sequence_ids():
    """PostgreSQL: `reserve(n)` takes n ids from the examples' sequence (one round trip per batch)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [Example._meta.db_table])
        (sequence,) = cursor.fetchone()

    def reserve(n: int) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [sequence, n])
            return [pk for (pk,) in cursor.fetchall()]

    return reserve


def _ids_above_highest():
    """SQLite: `reserve(n)` gives the next n ids above any the table ever gave (AUTOINCREMENT remembers
    deleted ones in sqlite_sequence, which the explicit ids then move on)."""
    table = Example._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT max(coalesce((SELECT max(id) FROM {table}), 0), "  # noqa: S608 - the model's table
            "coalesce((SELECT seq FROM sqlite_sequence WHERE name = %s), 0))",
            [table],
        )
        (highest,) = cursor.fetchone()
    following = iter(range(int(highest) + 1, 1 << 62))

    def reserve(n: int) -> list[int]:
        return [next(following) for _ in range(n)]

    return reserve


def _insert(model: type[Model], columns: list[str], constants: dict[str, Any], rows: list[tuple]) -> None:
    """Rows (tuples in `columns` order) plus the constant columns: COPY on PostgreSQL, executemany on SQLite."""
    quote = connection.ops.quote_name
    table, names = quote(model._meta.db_table), ", ".join(quote(c) for c in [*columns, *constants])
    constant = tuple(constants.values())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row + constant)
            return
        marks = ", ".join(["%s"] * (len(columns) + len(constant)))
        values: Iterable[tuple] = (row + constant for row in rows) if constant else rows
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)  # noqa: S608


def _revisions_from_examples(ids: list[int], lines: list[int], constants: dict[str, Any], *, changed: str,
                             note: str) -> None:  # fmt: skip
    """PostgreSQL: revision 1 of each example just copied, made from its row in one statement: what
    `REVISION_COLUMNS` says, the note ending with the row's line of the file."""
    quote = connection.ops.quote_name
    fields = {field.column: field for field in Revision._meta.concrete_fields}
    names = ", ".join(quote(c) for c in [*REVISION_COLUMNS, *constants])
    # Each constant cast to its column's type: in a SELECT list an untyped parameter would be text.
    casts = "".join(f", %s::{fields[column].db_type(connection)}" for column in constants)
    sql = (
        f"INSERT INTO {quote(Revision._meta.db_table)} ({names}) "  # noqa: S608 - the models' tables and columns
        "SELECT e.id, 1, e.author_id, e.messages, e.category, e.style_tags, e.context, %s::jsonb, "
        f"%s || l.line || ')'{casts} "
        f"FROM unnest(%s::bigint[], %s::integer[]) WITH ORDINALITY AS l(id, line, n) "
        f"JOIN {quote(Example._meta.db_table)} e ON e.id = l.id ORDER BY l.n"  # ids in the file's order, as before
    )
    array = "{" + ",".join(map(str, ids)) + "}", "{" + ",".join(map(str, lines)) + "}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [changed, note, *constants.values(), *array])


def _write_models(rows: list[Prepared], *, import_id: int, project_id: int, author_id: int, now: datetime) -> None:
    """Other databases: the ORM's bulk_create, per batch."""
    batch = settings.ANNOTUNE_IMPORT_BATCH_SIZE
    changed = list(EDITABLE_FIELDS)
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        examples = Example.objects.bulk_create(list(_example_models(chunk, project_id, author_id, now)))
        Revision.objects.bulk_create(
            [
                Revision(
                    example_id=example.pk,
                    version=1,
                    author_id=author_id,
                    messages=row.messages,
                    category=row.category,
                    style_tags=row.style_tags,
                    context=row.context,
                    changed_fields=changed,
                    note=f"imported (import {import_id}, line {row.line})",
                )  # fmt: skip
                for example, row in zip(examples, chunk, strict=True)
            ]
        )
        Transition.objects.bulk_create(
            [
                Transition(
                    example_id=example.pk,
                    actor_id=author_id,
                    from_status=ExampleStatus.DRAFT,
                    to_status=ExampleStatus.SUBMITTED,
                    comment=f"imported (import {import_id})",
                )  # fmt: skip
                for example in examples
                if example.status == ExampleStatus.SUBMITTED
            ]
        )


def _example_models(chunk: list[Prepared], project_id: int, author_id: int, now: datetime) -> Iterator[Example]:
    for row in chunk:
        submitted = row.status == ExampleStatus.SUBMITTED
        yield Example(project_id=project_id, author_id=author_id, messages=row.messages, category=row.category,
                      style_tags=row.style_tags, context=row.context, status=row.status,
                      content_hash=row.content_hash, search_text=row.search_text, findings=row.findings,
                      error_count=row.error_count, submitted_at=now if submitted else None,
                      review_round=1 if submitted else 0)  # fmt: skip
