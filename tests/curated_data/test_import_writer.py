"""The import's writer: rows stored as the editor's services store them, ids never given twice, phase timer."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from annotation.models import Example, Revision
from annotation.services import examples as example_services
from curated_data.models import ImportStatus
from curated_data.services.import_phases import OTHER, PARSE, VALIDATE, WRITE
from curated_data.services.import_writer import messages_json

pytestmark = pytest.mark.django_db


def chat(n: int, answer: str = "Answer") -> str:
    turns = [{"role": "user", "content": f"Question {n}?"}, {"role": "assistant", "content": f"{answer} {n}."}]
    return json.dumps({"messages": turns})


def jsonl(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize(
    "content",
    ["plain", 'quotes " and \\ backslash', "tab\tnew\nline\r", "é ü 中文 🙂", "\x01\x1f control", "</script>"],
)
def test_messages_json_writes_what_json_dumps_writes(content):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": content}]
    assert messages_json(messages) == json.dumps(messages)
    assert messages_json([]) == json.dumps([])


def stored(example_id: int) -> tuple:
    """The row as the database holds it (JSON as stored text on SQLite, parsed on PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT messages, category, style_tags, context, status, version, findings, error_count, "
            "review_round, claimed_by_id, claim_expires_at, flagged_round, submitted_at FROM annotation_example "
            "WHERE id = %s",
            [example_id],
        )
        return cursor.fetchone()


def test_an_imported_row_is_stored_as_the_editor_stores_it(run_import, project, owner):
    job = run_import(jsonl(json.dumps({"messages": json.loads(chat(1))["messages"], "style_tags": ["formal"]})))
    assert job.status == ImportStatus.SUCCEEDED
    imported = Example.objects.get()
    saved = example_services.example_create(
        project=project, author=owner, messages=imported.messages, style_tags=["formal"]
    )
    assert stored(imported.pk) == stored(saved.pk)
    assert imported.created_at is not None
    assert imported.created_at == imported.updated_at
    revision = Revision.objects.get(example=imported)
    assert (revision.messages, revision.style_tags, revision.changed_fields) == (
        imported.messages,
        ["formal"],
        ["messages", "category", "style_tags", "context"],
    )


def test_ids_are_never_given_twice(run_import):
    run_import(jsonl(chat(1), chat(2), chat(3)))
    newest = Example.objects.order_by("-pk").first()
    deleted = newest.pk
    newest.delete()  # its id must not come back (the sequence, or SQLite's AUTOINCREMENT, remembers it)
    job = run_import(jsonl(chat(4), chat(5)), name="more.jsonl")
    assert job.status == ImportStatus.SUCCEEDED
    new = {e.messages[0]["content"]: e.pk for e in Example.objects.filter(pk__gt=deleted)}
    assert sorted(new) == ["Question 4?", "Question 5?"]
    for example in Example.objects.all():  # every revision belongs to its own example
        assert Revision.objects.get(example=example).messages == example.messages


def test_each_revision_copies_its_example_and_names_its_line(run_import, owner, settings):
    settings.ANNOTUNE_IMPORT_BATCH_SIZE = 2  # several batches: each row's line, whatever its batch
    records = [{"messages": json.loads(chat(n))["messages"], "context": f"ctx {n}", "style_tags": ["formal"]}
               for n in (1, 2, 3, 4)]  # fmt: skip
    job = run_import(jsonl(*map(json.dumps, records[:3]), "", json.dumps(records[3])))  # a blank line 4
    assert job.status == ImportStatus.SUCCEEDED
    examples = list(Example.objects.order_by("id"))
    revisions = list(Revision.objects.order_by("id"))
    assert [r.example_id for r in revisions] == [e.pk for e in examples]  # in the file's order
    for example, revision, line in zip(examples, revisions, [1, 2, 3, 5], strict=True):
        assert (revision.version, revision.author_id, revision.messages, revision.category, revision.style_tags,
                revision.context) == (1, owner.pk, example.messages, example.category, example.style_tags,
                                      example.context)  # fmt: skip
        assert revision.note == f"imported (import {job.pk}, line {line})"
        assert revision.changed_fields == ["messages", "category", "style_tags", "context"]
        assert revision.created_at == example.created_at


class Recorder:
    """A PhaseTimer that remembers the order in which phases began."""

    def __init__(self) -> None:
        self.phases: list[str] = []

    def switch(self, phase: str) -> None:
        if not self.phases or self.phases[-1] != phase:
            self.phases.append(phase)


def test_the_timer_hears_every_phase_and_changes_nothing(project, owner, run_import, monkeypatch):
    from curated_data.services import imports

    recorder = Recorder()
    run = imports.import_run
    monkeypatch.setattr(imports, "import_run", lambda *, job_id: run(job_id=job_id, timer=recorder))
    job = run_import(jsonl(chat(1), chat(2), chat(1)))
    assert (job.status, job.rows_imported, job.report["duplicate_count"]) == (ImportStatus.SUCCEEDED, 2, 1)
    assert (recorder.phases[0], recorder.phases[-1]) == (OTHER, OTHER)
    assert {PARSE, VALIDATE, WRITE} <= set(recorder.phases)
    assert recorder.phases.index(PARSE) < recorder.phases.index(WRITE)
