"""A corpus of broken files: each gets a precise error (line, field, reason) and writes nothing."""

from __future__ import annotations

import codecs
import json

import pytest
from django.core.files import File

from annotation.models import Example, Revision
from curated_data.models import ImportStatus
from curated_data.services import imports

pytestmark = pytest.mark.django_db


def turn(role: str, content) -> dict:
    return {"role": role, "content": content}


def line(messages, **extra) -> str:
    return json.dumps({"messages": messages, **extra}, ensure_ascii=False)


GOOD = line([turn("user", "How do I reset my password?"), turn("assistant", "Open Settings, then Security.")])
GOOD2 = line([turn("user", "Where is my invoice?"), turn("assistant", "Under Billing, Invoices.")])


def jsonl(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


# (id, file bytes, import options, line, field, words the reason must contain)
CORPUS = [
    ("broken-json", jsonl(GOOD, '{"messages": [{"role": "user", "content": "hi"}'), {}, 2, "", "Invalid JSON"),
    ("truncated-line", jsonl(GOOD, GOOD2[:-9]), {}, 2, "", "Invalid JSON"),
    ("utf16-bom", codecs.BOM_UTF16_LE + jsonl(GOOD).decode().encode("utf-16-le"), {}, 1, "", "is UTF-16"),
    ("utf16-no-bom", jsonl(GOOD, GOOD2).decode().encode("utf-16-le"), {}, 1, "", "UTF-16 without a byte order mark"),
    (
        "latin1",
        jsonl(GOOD) + line([turn("user", "Café?")]).encode("latin-1") + b"\n",
        {},
        2,
        "",
        "Not valid UTF-8: byte 0xE9",
    ),
    (
        "bom-then-bad-row",
        codecs.BOM_UTF8 + jsonl(GOOD, line([turn("bot", "x")])),
        {},
        2,
        "messages[0].role",
        "Unknown role 'bot'",
    ),
    ("empty-file", b"", {}, 1, "", "The file is empty"),
    ("blank-lines-only", b"\n\n   \n", {}, 1, "", "The file is empty"),
    (
        "missing-messages",
        jsonl(GOOD, '{"conversation": [{"role": "user", "content": "hi"}]}'),
        {"file_format": "messages"},
        2,
        "messages",
        'Missing field "messages"',
    ),
    ("messages-not-a-list", jsonl(GOOD, '{"messages": "hello"}'), {}, 2, "messages", "must be a list of turns"),
    ("content-wrong-type", jsonl(GOOD, line([turn("user", 42)])), {}, 2, "messages[0].content", "must be text"),
    (
        "nested-junk",
        jsonl(GOOD, line([turn("user", {"nested": [1, {"deep": [None, {"x": []}]}]})])),
        {},
        2,
        "messages[0].content",
        "must be text",
    ),
    ("turn-not-an-object", jsonl(GOOD, line(["user: hi"])), {}, 2, "messages[0]", "must be an object"),
    ("record-not-an-object", jsonl(GOOD, "[1, 2, 3]"), {}, 2, "", "must be a JSON object, not a list"),
    ("unrecognised-record", jsonl(GOOD, '{"text": "hi"}'), {}, 2, "", "Unrecognised record"),
    ("unknown-role", jsonl(GOOD, line([turn("human", "hi")])), {}, 2, "messages[0].role", "Unknown role 'human'"),
    (
        "wrong-role-order",
        jsonl(GOOD, line([turn("user", "a"), turn("user", "b")])),
        {},
        2,
        "messages[1].role",
        "Wrong role order",
    ),
    (
        "system-in-the-middle",
        jsonl(GOOD, line([turn("user", "a"), turn("system", "b")])),
        {},
        2,
        "messages[1].role",
        "system turn may only come first",
    ),
    ("empty-content", jsonl(GOOD, line([turn("user", "   ")])), {}, 2, "messages[0].content", "This turn is empty"),
    ("nul-character", jsonl(GOOD, line([turn("user", "a\x00b")])), {}, 2, "messages[0].content", "NUL character"),
    (
        "too-long-content",
        jsonl(GOOD, line([turn("user", "x" * 501)])),
        {},
        2,
        "messages[0].content",
        "the limit is 500",
    ),
    # Duplicates are no parse errors any more: tests/datasets/test_import_hardening.py covers them.
    ("nested-100k-levels", jsonl(GOOD, "[" * 100_000 + "]" * 100_000), {}, 2, "", "nested more than 100 levels"),
    (
        "json-array-nested-100k-levels",
        f"[\n{GOOD},\n".encode() + b'{"messages": ' + b"[" * 100_000,
        {},
        3,
        "[1]",
        "Element [1]: The JSON is nested more than 100 levels",
    ),
    (
        "unknown-category",
        jsonl(GOOD, line([turn("user", "a")], category="sales")),
        {},
        2,
        "category",
        "Unknown category 'sales'",
    ),
    (
        "tags-wrong-type",
        jsonl(GOOD, line([turn("user", "a")], style_tags=5)),
        {},
        2,
        "style_tags",
        "must be a list",
    ),
    (
        "alpaca-missing-output",
        jsonl('{"instruction": "a", "output": "b"}', '{"instruction": "Say hi"}'),
        {},
        2,
        "output",
        'Missing field "output"',
    ),
    (
        "alpaca-output-wrong-type",
        jsonl('{"instruction": "a", "output": ["b"]}'),
        {},
        1,
        "output",
        '"output" must be text, not a list',
    ),
    (
        "sharegpt-unknown-speaker",
        jsonl('{"conversations": [{"from": "robot", "value": "hi"}]}'),
        {},
        1,
        "conversations[0].from",
        "Unknown speaker 'robot'",
    ),
    (
        "sharegpt-empty-value",
        jsonl('{"conversations": [{"from": "human", "value": ""}]}'),
        {},
        1,
        "conversations[0].value",
        "This turn is empty",
    ),
    ("json-array-unclosed", f"[\n{GOOD},\n{GOOD2}\n".encode(), {}, 4, "", "closing ] is missing"),
    ("json-array-trailing-comma", f"[\n{GOOD},\n]".encode(), {}, 3, "[0]", "trailing comma"),
    ("json-array-broken-record", f'[\n{GOOD},\n{{"messages": [}}\n]'.encode(), {}, 3, "[1]", "Invalid JSON"),
    ("json-array-missing-comma", f"[\n{GOOD}\n{GOOD2}\n]".encode(), {}, 3, "[0]", "Expected , or ]"),
    ("json-array-extra-data", f"[{GOOD}] trailing".encode(), {}, 1, "", "Extra data after the closing ]"),
    ("not-a-known-format", b"hello there\nthis is prose\n", {}, 1, "", "Could not recognise the format"),
    (
        "csv-missing-columns",
        b"question,answer\nhi,hello\n",
        {"file_format": "csv", "mapping": {"prompt": "prompt", "response": "answer"}},
        1,
        "prompt",
        "Column 'prompt' is not in the header",
    ),
    (
        "csv-wrong-field-count",
        b"prompt,response\nhi,hello\na,b,c\n",
        {"file_format": "csv"},
        3,
        "",
        "This row has 3 fields; the header has 2",
    ),
    (
        "csv-empty-response",
        b"prompt,response\nhi,hello\nquestion,\n",
        {"file_format": "csv"},
        3,
        "response",
        "This turn is empty",
    ),
    ("csv-latin1", b"prompt,response\nhi,hello\ncaf\xe9,ok\n", {"file_format": "csv"}, 3, "", "Not valid UTF-8"),
    (
        "csv-unclosed-quote",
        b'prompt,response\nhi,hello\n"open,quote\n',
        {"file_format": "csv"},
        3,
        "",
        "Not valid CSV: unexpected end of data",
    ),
]


@pytest.fixture(autouse=True)
def small_message_limit(settings):
    settings.ANNOTUNE_MAX_MESSAGE_CHARS = 500


@pytest.mark.parametrize(
    ("data", "options", "line_no", "field", "reason"),
    [case[1:] for case in CORPUS],
    ids=[case[0] for case in CORPUS],
)
def test_each_broken_file_gets_a_precise_error_and_writes_nothing(run_import, data, options, line_no, field, reason):
    job = run_import(data, "data.csv" if options.get("file_format") == "csv" else "data.jsonl", **options)
    errors = job.report["errors"]
    assert job.status == ImportStatus.FAILED, errors
    assert any(e["line"] == line_no and e["field"] == field and reason in e["reason"] for e in errors), errors
    assert Example.objects.count() == 0
    assert Revision.objects.count() == 0


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 20


def test_duplicate_of_an_existing_example(run_import):
    first = run_import(jsonl(GOOD))
    assert first.status == ImportStatus.SUCCEEDED
    existing = Example.objects.get()
    job = run_import(jsonl(GOOD2, GOOD))
    # A duplicate is a data quality warning, not a parse error: the new row is imported, the repeat skipped.
    assert job.status == ImportStatus.SUCCEEDED
    assert job.report["errors"] == []
    assert job.report["duplicates"] == [
        {"line": 2, "field": "messages", "reason": f"Same conversation as existing example #{existing.pk}."}
    ]
    assert (job.rows_read, job.rows_valid, job.rows_invalid, job.rows_imported) == (2, 2, 0, 1)
    assert Example.objects.count() == 2


def test_row_limit(run_import, settings):
    settings.ANNOTUNE_IMPORT_MAX_ROWS = 2
    job = run_import(jsonl(GOOD, GOOD2, line([turn("user", "third")])), skip_bad_rows=True)
    assert job.status == ImportStatus.FAILED
    assert job.report["errors"][-1]["line"] == 3
    assert "more than 2 records" in job.report["errors"][-1]["reason"]
    assert Example.objects.count() == 0


def test_a_50_mb_line_is_reported_without_being_held_in_memory(project, owner, tmp_path):
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as out:
        out.write(jsonl(GOOD))
        out.write(b'{"messages": [{"role": "user", "content": "')
        block = b"z" * (1 << 20)
        for _ in range(50):
            out.write(block)
        out.write(b'"}]}\n')
        out.write(jsonl(GOOD2))
    with path.open("rb") as handle:
        job = imports.import_create(project=project, user=owner, upload=File(handle, name="huge.jsonl"))
    imports.import_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert job.report["errors"] == [
        {
            "line": 2,
            "field": "",
            "reason": "This line is longer than the limit of 4,194,304 bytes; split or shorten it.",
        }
    ]
    assert job.rows_read == 3
    assert Example.objects.count() == 0


def test_file_over_the_size_limit_is_refused_at_upload(api, project, owner, settings):
    settings.ANNOTUNE_IMPORT_MAX_FILE_BYTES = 100
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = api(owner).post(
        f"/api/v1/projects/{project.pk}/imports/",
        {"file": SimpleUploadedFile("big.jsonl", b"x" * 101)},
        format="multipart",
    )
    assert response.status_code == 413  # refused before the body is read
    assert "accepts at most 100 bytes" in response.json()["detail"]


def test_utf8_bom_file_imports(run_import):
    job = run_import(codecs.BOM_UTF8 + jsonl(GOOD, GOOD2))
    assert job.status == ImportStatus.SUCCEEDED, job.report
    assert job.rows_imported == 2
    assert "byte order mark" in job.report["notes"][0]
