"""Import examples from an uploaded file: create the job, run it in a worker, retry it.

Two phases. Validation streams the file, checks every row exactly as the editor would
(`clean_messages`, the project's labels, `content_hash` duplicates in the file and in the project)
and collects a report; nothing is written. Writing happens in one transaction that also marks the
job succeeded: a crash or a kill leaves the database as before, and a retried job starts again
from a clean state (a succeeded job is never run twice). The rows are written with the validation
findings and error count a normal save stores, computed in that transaction. A row that would be
submitted but has findings of severity error (the ones that refuse a submit in the editor) is written
as a draft instead, and the report lists it (`kept_as_draft`).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.models import Example, ExampleStatus, Project
from annotation.services.conversations import clean_messages, content_hash, search_text
from annotation.services.examples import clean_labels as clean_labels
from annotation.services.validation import error_findings, findings_checker
from annotune import dispatch, work
from annotune.errors import ApplicationError
from annotune.heartbeat import beat_time, beating, silent_since
from annotune.storage import ArtifactWriter
from validators import ExampleInput, Message

from .. import permissions
from ..formats.archives import COMPRESSION_LABELS, Opened, open_data
from ..formats.containers import (
    CSV_FIELDS,
    CSV_REQUIRED,
    Item,
    csv_header,
    detect_container,
    element,
    guess_csv_mapping,
    iter_csv,
    iter_json_array,
    iter_jsonl,
)
from ..formats.errors import FileInvalid, RowError, RowInvalid
from ..formats.records import IMPORT_FORMATS, Record, source_field, to_record
from ..formats.text import sniff_encoding
from ..models import ImportJob, ImportPhase, ImportStatus
from .import_phases import NO_TIMER, OTHER, PARSE, VALIDATE, WRITE, PhaseTimer
from .import_writer import Prepared, write_rows

logger = logging.getLogger(__name__)

IMPORT_STATUSES = (ExampleStatus.DRAFT, ExampleStatus.SUBMITTED)
KEPT_AS_DRAFT_LISTED = 20  # rows kept as drafts named in the report (the count covers them all)
CONTAINER_LABELS = {"jsonl": "JSONL", "json": "JSON array", "csv": "CSV"}


def _enqueue(job: ImportJob) -> None:
    from ..tasks import run_import

    dispatch.send_on_commit(run_import, job.pk, on_failure=lambda: note_broker_down(job))


def note_broker_down(job: ImportJob) -> None:
    """The job stays queued (the reaper sends it again); its page says why it waits."""
    job.report = {"notes": [dispatch.BROKER_DOWN_NOTE]}
    ImportJob.objects.filter(pk=job.pk, status=ImportStatus.QUEUED).update(report=job.report)


def _storage_name(project: Project, original: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in PurePath(original).name)[-80:] or "upload"
    return f"imports/project-{project.pk}/{uuid.uuid4().hex}-{stem}"


def _clean_options(file_format: Any, skip_bad_rows: Any, initial_status: Any, keep_duplicates: Any = False
                   ) -> dict[str, Any]:  # fmt: skip
    errors: dict[str, list[str]] = {}
    if file_format not in IMPORT_FORMATS:
        errors["file_format"] = [f"Unknown format {file_format!r}; use one of {', '.join(IMPORT_FORMATS)}."]
    if initial_status not in IMPORT_STATUSES:
        errors["status"] = ["Imported examples start as draft or submitted (sent to review)."]
    if not isinstance(skip_bad_rows, bool):
        errors["skip_bad_rows"] = ["true or false."]
    if not isinstance(keep_duplicates, bool):
        errors["keep_duplicates"] = ["true or false."]
    if errors:
        raise ApplicationError("Some import options are invalid.", errors)
    return {"skip_bad_rows": skip_bad_rows, "status": initial_status, "keep_duplicates": keep_duplicates}


def _clean_mapping(mapping: Any) -> dict[str, str]:
    if mapping is None:
        return {}
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ApplicationError(
            "The column mapping must map fields to column names.",
            {"mapping": ['An object like {"prompt": "question", "response": "answer"}.']},
        )
    unknown = set(mapping) - set(CSV_FIELDS)
    if unknown:
        raise ApplicationError(
            f"Unknown mapping field(s): {', '.join(sorted(unknown))}.",
            {"mapping": [f"Map some of: {', '.join(CSV_FIELDS)}."]},
        )
    return {k: v.strip() for k, v in mapping.items() if v.strip()}


def _max_ratio() -> int:
    """How many times its size a gzip or zip upload may decompress to (more is refused as a bomb)."""
    return int(getattr(settings, "ANNOTUNE_IMPORT_MAX_RATIO", 100))


def _open_data(raw, original_name: str, size: int) -> Opened:
    """The upload's data, decompressed (gzip, zip of one file) under the size and ratio caps."""
    return open_data(
        raw, original_name, size=size, max_bytes=settings.ANNOTUNE_IMPORT_MAX_FILE_BYTES, max_ratio=_max_ratio()
    )


@contextmanager
def _opened(name: str, original_name: str, size: int) -> Iterator[Opened]:
    with default_storage.open(name, "rb") as raw:
        yield _open_data(raw, original_name, size)


def _sniff(name: str, original_name: str, size: int) -> str | None:
    """The container of a stored file ('jsonl', 'json', 'csv'), None if it can't be told yet."""
    try:
        with _opened(name, original_name, size) as opened:
            head = opened.stream.read(65536)
            skip, _ = sniff_encoding(head)
            return detect_container(head[skip:].decode("utf-8", errors="replace"), opened.name)
    except FileInvalid:
        return None


def _check_upload(upload, original: str) -> None:
    """Refuse, before anything is stored, an upload that is an archive imports can't read (bzip2, 7z, a zip
    of several files, an encrypted zip...). FileInvalid says what to upload instead."""
    upload.seek(0)
    try:
        opened = _open_data(upload, original, upload.size)
        if opened.reader is not None:
            opened.stream.read(65536)  # the start decompresses: not a damaged archive
    finally:
        upload.seek(0)


def csv_columns(job: ImportJob) -> list[str]:
    """The header of an uploaded CSV file, for the mapping step."""
    try:
        with _opened(job.file, job.original_name, job.size_bytes) as opened:
            return csv_header(opened.stream, max_line_bytes=settings.ANNOTUNE_IMPORT_MAX_LINE_BYTES)
    except FileInvalid as exc:
        raise ApplicationError(f"Line {max(exc.error.line, 1)}: {exc.error.reason}") from None


@transaction.atomic
def import_create(
    *,
    project: Project,
    user,
    upload,
    file_format: Any = "auto",
    skip_bad_rows: Any = False,
    mapping: Any = None,
    initial_status: Any = ExampleStatus.DRAFT,
    ask_mapping: bool = False,
    keep_duplicates: Any = False,
) -> ImportJob:
    """Store the uploaded file and queue its import.

    A CSV file without a mapping either waits for one (`ask_mapping`, the page's mapping step) or
    gets the mapping guessed from its header (the API). gzip and zip uploads (one file inside) are read
    decompressed; other archives are refused here, before anything is stored. Rows repeating an earlier
    row or an existing example are skipped and reported unless `keep_duplicates`.
    """
    if not permissions.can_import(user, project):
        raise PermissionDenied("Only project owners can import examples.")
    options = _clean_options(file_format, skip_bad_rows, initial_status, keep_duplicates)
    mapping = _clean_mapping(mapping)
    limit = settings.ANNOTUNE_IMPORT_MAX_FILE_BYTES
    if upload is None:
        raise ApplicationError("Choose a file to import.", {"file": ["No file was sent."]})
    if upload.size > limit:
        raise ApplicationError(
            f"The file is {upload.size:,} bytes; the limit is {limit:,} bytes. Split it into smaller files.",
            {"file": ["Too large."]},
        )
    original = PurePath(upload.name or "upload").name[:255]
    try:
        _check_upload(upload, original)
    except FileInvalid as exc:
        raise ApplicationError(exc.error.reason, {"file": [exc.error.reason]}) from None
    # A full or read-only storage: a StorageError saying so, and no file or job left behind.
    with ArtifactWriter("the uploaded file") as writer:
        name = writer.save(_storage_name(project, original), upload)
        container = (
            "csv" if file_format == "csv" else _sniff(name, original, upload.size) if file_format == "auto" else None
        )
        status = ImportStatus.QUEUED
        if container == "csv" and not mapping:
            if ask_mapping:
                status = ImportStatus.AWAITING_MAPPING
            else:
                try:
                    with _opened(name, original, upload.size) as opened:
                        header = csv_header(opened.stream, max_line_bytes=settings.ANNOTUNE_IMPORT_MAX_LINE_BYTES)
                except FileInvalid:
                    header = []
                mapping = guess_csv_mapping(header)
        job = ImportJob.objects.create(
            project=project,
            created_by=user,
            file=name,
            original_name=original,
            size_bytes=upload.size,
            file_format=file_format,
            options={**options, "mapping": mapping},
            status=status,
        )
    if status == ImportStatus.QUEUED:
        _enqueue(job)
    return job


@transaction.atomic
def import_set_mapping(*, job: ImportJob, user, mapping: Any) -> ImportJob:
    """The mapping step of a CSV import: check the columns exist, then queue the job."""
    if not permissions.can_import(user, job.project):
        raise PermissionDenied("Only project owners can import examples.")
    mapping = _clean_mapping(mapping)
    missing = [key for key in CSV_REQUIRED if not mapping.get(key)]
    if missing:
        raise ApplicationError(
            "Choose the prompt column (and the response column, unless the prompts have no answers yet).",
            {key: ["Choose a column."] for key in missing},
        )
    columns = csv_columns(job)
    absent = {k: [f"{v!r} is not a column of this file."] for k, v in mapping.items() if v not in columns}
    if absent:
        raise ApplicationError("Some chosen columns are not in the file.", absent)
    updated = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.AWAITING_MAPPING).update(
        status=ImportStatus.QUEUED, options={**job.options, "mapping": mapping}
    )
    if updated != 1:
        raise ApplicationError("This import has already been started.")
    job.refresh_from_db()
    _enqueue(job)
    return job


def is_stale(job: ImportJob) -> bool:
    """A running job whose worker stopped reporting (killed, crashed): it may be retried."""
    if job.status != ImportStatus.RUNNING:
        return False
    # By the database's clock, which the worker's heartbeats are written with (annotune/heartbeat.py).
    seen = Coalesce("heartbeat_at", "started_at", "created_at")
    silent = ImportJob.objects.alias(seen=seen).filter(seen__lt=silent_since(settings.ANNOTUNE_IMPORT_STALE_SECONDS))
    return silent.filter(pk=job.pk, status=ImportStatus.RUNNING).exists()


def can_retry(job: ImportJob) -> bool:
    return job.status == ImportStatus.FAILED or is_stale(job)


@transaction.atomic
def import_retry(*, job: ImportJob, user, skip_bad_rows: bool | None = None) -> ImportJob:
    """Run a failed (or stalled) import again from the start; `skip_bad_rows` may change on the way."""
    if not permissions.can_import(user, job.project):
        raise PermissionDenied("Only project owners can import examples.")
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status == ImportStatus.SUCCEEDED:
        raise ApplicationError("This import succeeded already; retrying it would import the rows twice.")
    if not can_retry(job):
        raise ApplicationError(
            "This import is still running. It can be retried once it failed, or when its worker has "
            f"not reported for {settings.ANNOTUNE_IMPORT_STALE_SECONDS} seconds."
        )
    options = dict(job.options)
    if skip_bad_rows is not None:
        options["skip_bad_rows"] = bool(skip_bad_rows)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.QUEUED, phase=ImportPhase.WAITING, options=options, error="", finished_at=None
    )
    job.refresh_from_db()
    _enqueue(job)
    return job


# --- the worker side -----------------------------------------------------------------------------


@dataclass
class Validation:
    """What reading the file found. `rows_read` = `valid` + `invalid` (records; a fatal error stops the
    reading and is no record). Duplicates are valid rows: `rows` holds them only with keep_duplicates."""

    rows: list[Prepared]
    errors: list[RowError]
    rows_read: int
    invalid: int
    fatal: bool
    detected: str
    notes: list[str]
    valid: int = 0
    duplicates: list[RowError] = dataclasses.field(default_factory=list)
    keep_duplicates: bool = False


class _Progress:
    """Writes the job's counters now and then (not per row) so the page's bar moves."""

    def __init__(self, job: ImportJob, every: float = 0.5):
        self.job, self.every, self.last = job, every, time.monotonic()
        self.bytes_done = 0

    def bytes(self, done: int) -> None:
        self.bytes_done = done

    def tick(self, read: int, valid: int, invalid: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        self.last = now
        ImportJob.objects.filter(pk=self.job.pk, status=ImportStatus.RUNNING, attempts=self.job.attempts).update(
            bytes_done=self.bytes_done,
            rows_read=read,
            rows_valid=valid,
            rows_invalid=invalid,
            heartbeat_at=beat_time(),
        )


def _items(job: ImportJob, opened: Opened, container: str, progress: _Progress):
    max_line = settings.ANNOTUNE_IMPORT_MAX_LINE_BYTES
    stream = opened.stream

    def done(count: int) -> None:
        progress.bytes(opened.progress(count))

    if container == "jsonl":
        return iter_jsonl(stream, max_line_bytes=max_line, progress=done)
    if container == "json":
        return iter_json_array(stream, max_record_bytes=max_line, progress=done)
    return iter_csv(stream, max_line_bytes=max_line, mapping=job.options.get("mapping") or {}, progress=done)


def _parsing(items: Iterator[Item], timer: PhaseTimer) -> Iterator[Item]:
    """The items, with the time spent reading and decoding each one counted as parsing."""
    iterator = iter(items)
    while True:
        timer.switch(PARSE)
        item = next(iterator, None)
        if item is None:
            return
        yield item


def _clean_record(project: Project, record: Record, *, complete: bool, limits: tuple[int, int]
                  ) -> Prepared | list[RowError]:  # fmt: skip
    errors: list[RowError] = []
    messages: list[dict[str, str]] = []
    labels: tuple[str, list[str], str] = ("", [], "")
    try:
        messages = clean_messages(
            record.messages, require_complete=complete, max_messages=limits[0], max_chars=limits[1]
        )
    except ApplicationError as exc:
        generic = exc.message.startswith("Some turns are invalid")
        for key, problems in (exc.extra or {"": [exc.message]}).items():
            reason = "; ".join(map(str, problems)) if generic or len(exc.extra) != 1 else exc.message
            errors.append(RowError(record.line, source_field(record, key), reason))
    try:
        labels = clean_labels(project, record.category, record.style_tags, record.context)
    except ApplicationError as exc:
        for key, problems in exc.extra.items():
            errors.append(RowError(record.line, key, "; ".join(map(str, problems))))
    if errors:
        return errors
    category, tags, context = labels
    return Prepared(
        record.line, messages, category, tags, context, content_hash(messages), search_text(messages, context)
    )


def _existing(project: Project, hashes: list[str]) -> dict[str, int]:
    """content_hash -> id of an existing example with that content, for the given hashes."""
    found: dict[str, int] = {}
    if not hashes:
        return found
    table = Example._meta.db_table
    # A project with fewer examples than the file has rows: reading its hashes (one range of the (project,
    # content_hash) index) costs less than looking each of the file's up (100,000 look-ups took 0.45 CPU-s on
    # SQLite, twice per import, for a project with no example). A bigger project is looked up as below.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT content_hash, id FROM {table} WHERE project_id = %s LIMIT %s",  # noqa: S608 - the model's table
            [project.pk, len(hashes) + 1],
        )
        held = cursor.fetchall()
    if len(held) <= len(hashes):
        wanted = set(hashes)
        for digest, pk in held:
            if digest in wanted and pk < found.get(digest, pk + 1):
                found[digest] = pk
        return found
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # one parameter instead of thousands of placeholders
            cursor.execute(
                f"SELECT content_hash, min(id) FROM {Example._meta.db_table} "  # noqa: S608 - the model's table
                "WHERE project_id = %s AND content_hash = ANY(string_to_array(%s, ',')) GROUP BY content_hash",
                [project.pk, ",".join(hashes)],  # one text, not an array of thousands of values to adapt
            )
            return dict(cursor.fetchall())
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:  # one JSON parameter too: no query per 900 hashes
            cursor.execute(
                f"SELECT content_hash, min(id) FROM {Example._meta.db_table} "  # noqa: S608 - the model's table
                "WHERE project_id = %s AND content_hash IN (SELECT value FROM json_each(%s)) GROUP BY content_hash",
                [project.pk, json.dumps(hashes)],
            )
            return dict(cursor.fetchall())
    size = 900
    for start in range(0, len(hashes), size):
        chunk = hashes[start : start + size]
        rows = Example.objects.filter(project=project, content_hash__in=chunk).values_list("content_hash", "id")
        for digest, pk in rows.order_by("id"):
            found.setdefault(digest, pk)
    return found


def _validate(job: ImportJob, progress: _Progress, timer: PhaseTimer = NO_TIMER) -> Validation:
    project = job.project
    complete = job.options.get("status") == ExampleStatus.SUBMITTED
    keep_duplicates = bool(job.options.get("keep_duplicates"))
    max_rows = settings.ANNOTUNE_IMPORT_MAX_ROWS
    limits = (settings.ANNOTUNE_MAX_MESSAGES, settings.ANNOTUNE_MAX_MESSAGE_CHARS)
    rows: list[Prepared] = []
    errors: list[RowError] = []
    duplicates: list[RowError] = []
    notes: list[str] = []
    seen: dict[str, str] = {}  # content hash -> where its first row is ("line 3", "line 1, element [4]")
    schemas: Counter[str] = Counter()
    read = invalid = valid = 0
    fatal = False
    container = "csv"
    last_line = 0

    def located(error: RowError) -> RowError:
        """A stream error (a damaged compressed file) knows no line: the last one read."""
        return error if error.line > 0 else dataclasses.replace(error, line=max(last_line, 1))

    def stop(error: RowError) -> None:
        nonlocal fatal
        errors.append(located(error))
        fatal = True

    try:
        with _opened(job.file, job.original_name, job.size_bytes) as opened:
            if opened.compression:
                notes.append(f"Read “{opened.name}” from the {COMPRESSION_LABELS[opened.compression]}.")
            stream = opened.stream
            skip, note = sniff_encoding(stream.read(4096))
            if note:
                notes.append(note)
            stream.seek(skip)
            head = stream.read(65536)
            stream.seek(skip)
            if job.file_format == "csv":
                container = "csv"
            else:
                container = detect_container(head.decode("utf-8", errors="replace"), opened.name)
                if job.file_format != "auto" and container == "csv":
                    raise FileInvalid(
                        1, f"The file does not look like {job.file_format} JSON (it should start with {{ or [)."
                    )
            schema = "csv" if container == "csv" else job.file_format
            index = -1  # the element of a JSON array (every item of the array reader is one element)
            for line, value, error in _parsing(_items(job, opened, container, progress), timer):
                index += 1
                last_line = max(last_line, line)

                def at(field: str, index: int = index) -> str:
                    return element(index, field) if container == "json" else field

                if error is not None:
                    if error.fatal:
                        stop(error)
                        break
                    read += 1
                    invalid += 1
                    errors.append(located(error))
                    continue
                if read >= max_rows:
                    stop(
                        RowError(
                            line, "", f"The file has more than {max_rows:,} records; split it into smaller files.", True
                        )
                    )
                    break
                read += 1
                try:
                    record = to_record(line, value, schema)
                except RowInvalid as exc:
                    invalid += 1
                    errors.extend(RowError(line, at(field), reason) for field, reason in exc.errors)
                    continue
                schemas[record.schema] += 1
                timer.switch(VALIDATE)
                cleaned = _clean_record(project, record, complete=complete, limits=limits)
                if isinstance(cleaned, list):
                    invalid += 1
                    errors.extend(dataclasses.replace(e, field=at(e.field)) for e in cleaned)
                    continue
                valid += 1
                cleaned.where = at(record.container)
                first = seen.get(cleaned.content_hash)
                if first is not None:
                    duplicates.append(RowError(line, cleaned.where, f"Same conversation as {first} of this file."))
                    if not keep_duplicates:
                        continue
                else:
                    in_array = f", element [{index}]" if container == "json" else ""
                    seen[cleaned.content_hash] = f"line {line}{in_array}"
                rows.append(cleaned)
                progress.tick(read, valid, invalid)
    except FileInvalid as exc:
        stop(exc.error)
    timer.switch(VALIDATE)
    if not fatal and rows:
        rows = _mark_existing(project, rows, duplicates, keep=keep_duplicates)
    if not read and not errors:
        errors.append(RowError(1, "", "The file holds no records.", True))
        fatal = True
    errors.sort(key=lambda e: e.line)
    duplicates.sort(key=lambda e: e.line)
    detected = ""
    if schemas:
        name = schemas.most_common(1)[0][0]
        detected = "CSV" if name == "csv" else f"{name} ({CONTAINER_LABELS[container]})"
    timer.switch(OTHER)
    return Validation(rows, errors, read, invalid, fatal, detected, notes, valid, duplicates, keep_duplicates)


def _mark_existing(project: Project, rows: list[Prepared], duplicates: list[RowError], *, keep: bool
                   ) -> list[Prepared]:  # fmt: skip
    """Report the rows whose conversation the project has already; the rows to write (without them
    unless `keep`). Rows already reported as duplicates of an earlier row are checked again only once."""
    existing = _existing(project, list({row.content_hash for row in rows}))
    if not existing:
        return rows
    reported = {(d.line, d.field) for d in duplicates if "existing example" in d.reason}
    kept = []
    for row in rows:
        pk = existing.get(row.content_hash)
        if pk is None:
            kept.append(row)
            continue
        if (row.line, row.where) not in reported:
            duplicates.append(RowError(row.line, row.where, f"Same conversation as existing example #{pk}."))
        if keep:
            kept.append(row)
    duplicates.sort(key=lambda e: e.line)
    return kept


def _report(validation: Validation) -> dict[str, Any]:
    limit = settings.ANNOTUNE_IMPORT_MAX_REPORTED_ERRORS
    return {
        "errors": [e.as_dict() for e in validation.errors[:limit]],
        "error_count": len(validation.errors),
        "truncated": len(validation.errors) > limit,
        "notes": validation.notes,
        "duplicates": [d.as_dict() for d in validation.duplicates[:limit]],
        "duplicate_count": len(validation.duplicates),
        "duplicates_kept": validation.keep_duplicates,
    }


def _add_findings(project: Project, rows: list[Prepared], status: str) -> None:
    """Each row's findings, error count and status. The findings and error count are those
    `validate_example_row` stores on a save; the project's spec, policy and knowledge base are prepared
    once for the whole import. A row with error findings stays a draft whatever the import's status:
    the editor refuses to submit it (`refuse_blocking`), so the review queue never sees it."""
    check = findings_checker(project)
    for row in rows:
        # What `example_payload` would give the checks, built directly: the turns are clean already.
        example = ExampleInput(tuple([Message(m["role"], m["content"]) for m in row.messages]),
                               row.category or None, tuple(row.style_tags), row.context)  # fmt: skip
        row.findings = findings = check(example)
        if not findings:  # most rows: nothing to count, and the status asked for
            row.error_count, row.status = 0, status
            continue
        errors = error_findings(findings)
        row.error_count = len(errors)
        row.status = ExampleStatus.DRAFT if errors else status


def _kept_as_draft(rows: list[Prepared], status: str) -> dict[str, Any]:
    """The report's part on rows written as drafts instead of `status`: how many, the first few with the
    codes of their error findings."""
    kept = [row for row in rows if row.status != status]
    listed = [
        {"line": row.line, "codes": list(dict.fromkeys(f["code"] for f in error_findings(row.findings)))}
        for row in kept[:KEPT_AS_DRAFT_LISTED]
    ]
    return {"kept_as_draft": len(kept), "kept_as_draft_rows": listed}


def _write(job: ImportJob, rows: list[Prepared]) -> int:
    """Insert the examples (findings already added), their first revisions and submissions: the caller's
    transaction. How, per database: `import_writer`."""
    return write_rows(rows, import_id=job.pk, project_id=job.project_id, author_id=job.created_by_id,
                      now=timezone.now())  # fmt: skip


def awaiting_answers(rows: list[Prepared]) -> int:
    """How many of the rows are prompts without their answer (the conversation ends with the user's turn)."""
    return sum(1 for row in rows if row.messages[-1]["role"] == "user")


class Superseded(Exception):
    """The reaper gave the job to a new attempt while this one was still at it."""


def _finish(job: ImportJob, **fields: Any) -> None:
    """The job's outcome, only while the job is still this attempt's: else Superseded (inside the write
    transaction this rolls the rows back, so an import the reaper re-queued is written once)."""
    mine = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING, attempts=job.attempts)
    if not mine.update(phase=ImportPhase.DONE, finished_at=timezone.now(), **fields):
        raise Superseded(job.pk)


def import_run(*, job_id: int, timer: PhaseTimer = NO_TIMER) -> None:
    """Run a queued import (the Celery task's body). Claims the job first: runs at most once at a time.

    `timer` (the benchmark's) is told which phase the work is in; see `import_phases`."""
    timer.switch(OTHER)
    mine = work.claim(
        ImportJob,
        job_id,
        phase=ImportPhase.VALIDATING,
        bytes_done=0,
        rows_read=0,
        rows_valid=0,
        rows_invalid=0,
        rows_imported=0,
        report={},
        error="",
    )
    if mine is None:
        logger.info("import %s is not queued; nothing to do", job_id)
        return
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    try:
        with beating(mine, settings.ANNOTUNE_JOB_HEARTBEAT_SECONDS), _fewer_collections():
            _run(job, timer)
    except Superseded:
        logger.warning("import %s went to a later attempt; this attempt wrote nothing", job_id)
    except Exception as exc:
        logger.exception("import %s failed", job_id)
        with suppress(Superseded):
            _finish(
                job,
                status=ImportStatus.FAILED,
                error=f"The import stopped on an unexpected error ({type(exc).__name__}). Nothing was written; "
                "retry it, and report the problem if it happens again.",
            )


@contextmanager
def _fewer_collections(young: int = 50_000) -> Iterator[None]:
    """Python's cyclic garbage collector runs every 700 new objects and, now and then, walks every object
    kept so far; an import makes a few objects per row and keeps its rows until it writes them, so at 100,000
    rows a seventh of its CPU went to the collector. For the import, collect every `young` new objects
    (the threshold is the process's: restored after)."""
    threshold = gc.get_threshold()
    gc.set_threshold(max(young, threshold[0]), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


def _run(job: ImportJob, timer: PhaseTimer) -> None:
    progress = _Progress(job)
    validation = _validate(job, progress, timer)
    counts = {
        "bytes_done": job.size_bytes,
        "rows_read": validation.rows_read,
        "rows_valid": validation.valid,
        "rows_invalid": validation.invalid,
        "detected_format": validation.detected,
        "report": _report(validation),
    }
    skip = bool(job.options.get("skip_bad_rows"))
    if validation.fatal or (validation.errors and not skip) or not validation.valid:
        if validation.fatal:
            message = "The file could not be read to the end; nothing was imported. Fix the error and upload it again."
        elif validation.errors:
            message = (
                f"{validation.invalid} row(s) have problems, so nothing was imported. Fix them, or "
                "import again with “skip bad rows” to import the good ones only."
            )
        else:
            message = "No valid rows to import."
        _finish(job, status=ImportStatus.FAILED, error=message, **counts)
        return
    # Only while the job is still this attempt's: a later one may have written and finished it meanwhile.
    mine = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING, attempts=job.attempts)
    if not mine.update(phase=ImportPhase.WRITING, heartbeat_at=beat_time(), **counts):
        raise Superseded(job.pk)
    with transaction.atomic():
        # One import writes into a project at a time; duplicates are checked again under the lock (an
        # example added meanwhile is skipped and reported like any other), and the findings use the
        # project's settings as they are now.
        job.project = Project.objects.select_for_update().filter(pk=job.project_id).first() or job.project
        timer.switch(VALIDATE)
        rows = _mark_existing(job.project, validation.rows, validation.duplicates, keep=validation.keep_duplicates)
        timer.switch(OTHER)
        counts["report"] = _report(validation)
        status = job.options.get("status") or ExampleStatus.DRAFT
        timer.switch(VALIDATE)
        _add_findings(job.project, rows, status)
        timer.switch(WRITE)
        imported = _write(job, rows) if rows else 0
        timer.switch(OTHER)
        report = {**counts["report"], **_kept_as_draft(rows, status), "prompts": awaiting_answers(rows)}
        if not rows:
            report["notes"] = [*report["notes"], "Every valid row repeats an earlier row or an existing example: "
                               "nothing new was imported."]  # fmt: skip
        counts["report"] = report
        _finish(job, status=ImportStatus.SUCCEEDED, rows_imported=imported, error="", **counts)
        timer.switch(WRITE)  # the commit: PostgreSQL checks the rows' deferred foreign keys here
    timer.switch(OTHER)
