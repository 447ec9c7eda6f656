"""Export then import gives the same conversations, for every format; the JSONL loads in HF datasets."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import subprocess
import sys

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import Example, ExampleStatus, Role
from curated_data.formats.rendering import EXPORT_FORMATS
from curated_data.models import ImportStatus
from curated_data.services import imports
from tests.factories import ExampleFactory, MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

SYSTEM = {"role": "system", "content": "You are the support assistant of Acme. Be brief."}
CONVERSATIONS = [
    ([{"role": "user", "content": "How do I reset my password?"},
      {"role": "assistant", "content": "Settings → Security."}], "billing", [], ""),
    ([SYSTEM, {"role": "user", "content": 'Quotes " and, commas\nand newlines'},
      {"role": "assistant", "content": "Ça va ✓"}], "general", ["formal"], "A context passage, with a comma."),
    ([SYSTEM, {"role": "user", "content": "First question"}, {"role": "assistant", "content": "First answer"},
      {"role": "user", "content": "Follow-up"}, {"role": "assistant", "content": "Second answer"}],
     "billing", ["concise", "formal"], ""),
    ([{"role": "user", "content": "Turn one"}, {"role": "assistant", "content": "Reply one"},
      {"role": "user", "content": "Turn two"}, {"role": "assistant", "content": "Reply two"}], "", [], "ctx"),
    ([{"role": "user", "content": "  leading and trailing spaces  "}, {"role": "assistant", "content": "日本語の答え"}],
     "general", [], ""),
]  # fmt: skip


def as_set(rows) -> set:
    return {(json.dumps(m), c, tuple(t), x) for m, c, t, x in rows}


@pytest.fixture
def source(project, annotator):
    for messages, category, tags, context in CONVERSATIONS:
        ExampleFactory(
            project=project,
            author=annotator,
            status=ExampleStatus.APPROVED,
            messages=messages,
            category=category,
            style_tags=tags,
            context=context,
        )
    ExampleFactory(project=project, author=annotator, status=ExampleStatus.DRAFT)  # filtered out below
    return project


@pytest.fixture
def target(owner):
    project = ProjectFactory(name="Target", categories=[{"name": "billing"}, {"name": "general"}])
    MembershipFactory(project=project, user=owner, role=Role.OWNER)
    return project


def export(api, user, project, file_format: str, **filters) -> bytes:
    response = api(user).get(f"/api/v1/projects/{project.pk}/export/", {"file_format": file_format, **filters})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith(EXPORT_FORMATS[file_format][1])
    assert "attachment" in response["Content-Disposition"]
    return b"".join(response.streaming_content)


@pytest.mark.parametrize("file_format", list(EXPORT_FORMATS))
def test_export_then_import_gives_the_same_conversations(api, source, target, owner, annotator, file_format):
    data = export(api, annotator, source, file_format, status="approved")
    name = f"export.{EXPORT_FORMATS[file_format][0]}"
    job = imports.import_create(project=target, user=owner, upload=SimpleUploadedFile(name, data))
    imports.import_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED, job.report
    assert job.rows_imported == len(CONVERSATIONS)
    imported = Example.objects.filter(project=target).values_list("messages", "category", "style_tags", "context")
    assert as_set(imported) == as_set(CONVERSATIONS)
    assert all(e.revisions.count() == 1 for e in Example.objects.filter(project=target))


def test_the_chat_jsonl_is_one_object_per_line_with_the_same_keys(api, source, annotator):
    lines = export(api, annotator, source, "messages").decode().splitlines()
    assert len(lines) == len(CONVERSATIONS) + 1
    for text in lines:
        record = json.loads(text)
        assert list(record) == ["messages", "category", "style_tags", "context"]
        assert all(set(turn) == {"role", "content"} for turn in record["messages"])


HF_LOAD = """
import json, sys
import datasets  # Hugging Face's (our app is curated_data, so nothing shadows it)
assert hasattr(datasets, "load_dataset"), datasets.__file__
dataset = datasets.load_dataset("json", data_files=sys.argv[1], split="train", cache_dir=sys.argv[2])
print(json.dumps({"columns": dataset.column_names, "messages": [row["messages"] for row in dataset]}))
"""


def test_hugging_face_datasets_reads_the_chat_jsonl_without_a_mapping(api, source, annotator, tmp_path):
    """`datasets.load_dataset("json")` reads the export as is (in a child, as a user's script would)."""
    if importlib.util.find_spec("pyarrow") is None:
        pytest.skip("Hugging Face datasets is not installed (pip install -e '.[dev]')")
    path = tmp_path / "chat.jsonl"
    path.write_bytes(export(api, annotator, source, "messages", status="approved"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    result = subprocess.run(
        [sys.executable, "-c", HF_LOAD, str(path), str(tmp_path / "cache")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["columns"] == ["messages", "category", "style_tags", "context"]
    assert sorted(map(json.dumps, loaded["messages"])) == sorted(json.dumps(c[0]) for c in CONVERSATIONS)


def test_an_unknown_status_filter_stays_out_of_the_file_name(api, source, annotator):
    """The status filter is user input; a raw one (control or non-Latin-1 characters) broke the header (500)."""
    response = api(annotator).get(
        f"/api/v1/projects/{source.pk}/export/", {"file_format": "csv", "status": "i\u0084\U00098aef\r\nX: 1"}
    )
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="project-{source.pk}-examples-csv.csv"'
    named = api(annotator).get(f"/api/v1/projects/{source.pk}/export/", {"file_format": "csv", "status": "approved"})
    assert f"project-{source.pk}-examples-approved-csv.csv" in named["Content-Disposition"]


def test_export_filters_reuse_the_example_filters(api, source, annotator, annotator2):
    ExampleFactory(project=source, author=annotator2, status=ExampleStatus.APPROVED, category="general")
    rows = lambda **f: export(api, annotator, source, "messages", **f).decode().splitlines()  # noqa: E731
    assert len(rows()) == len(CONVERSATIONS) + 2
    assert len(rows(status="approved")) == len(CONVERSATIONS) + 1
    assert len(rows(author="ben")) == 1
    assert len(rows(category="billing", status="approved")) == 2
    assert len(rows(q="follow-up")) == 1


def test_an_unknown_export_format_is_a_400(api, source, annotator):
    response = api(annotator).get(f"/api/v1/projects/{source.pk}/export/", {"file_format": "parquet"})
    assert response.status_code == 400
    assert "file_format" in response.json()["errors"]


def test_export_query_count_does_not_grow_with_rows(api, source, annotator, django_assert_max_num_queries):
    for _ in range(30):
        ExampleFactory(project=source, author=annotator, status=ExampleStatus.APPROVED)
    for file_format in EXPORT_FORMATS:
        with django_assert_max_num_queries(6):
            export(api, annotator, source, file_format)


FORMULAS = [
    ([{"role": "user", "content": '=HYPERLINK("http://x","y")'},
      {"role": "assistant", "content": "- Open Billing\n- Choose Export"}], "billing", [], ""),
    ([{"role": "user", "content": "@SUM(1)"}, {"role": "assistant", "content": "Plain answer."}],
     "general", [], "+a context"),
]  # fmt: skip


def test_csv_export_neutralises_formulas_and_the_other_formats_keep_the_text(api, project, target, owner, annotator):
    for messages, category, tags, context in FORMULAS:
        ExampleFactory(project=project, author=annotator, messages=messages, category=category, style_tags=tags,
                       context=context)  # fmt: skip
    data = export(api, annotator, project, "csv")
    header, *rows = list(csv.reader(io.StringIO(data.decode())))
    cells = [dict(zip(header, row, strict=True)) for row in rows]
    assert [(c["prompt"], c["response"], c["context"]) for c in cells] == [
        ('\'=HYPERLINK("http://x","y")', "'- Open Billing\n'- Choose Export", ""),  # every line of a cell
        ("'@SUM(1)", "Plain answer.", "'+a context"),
    ]
    lines = export(api, annotator, project, "messages").decode().splitlines()
    assert [json.loads(line)["messages"] for line in lines] == [messages for messages, *_ in FORMULAS]
    assert json.loads(lines[1])["context"] == "+a context"
    for file_format in set(EXPORT_FORMATS) - {"csv"}:
        text = export(api, annotator, project, file_format).decode()
        assert r"=HYPERLINK(\"http://x\",\"y\")" in text, file_format  # as JSON writes it
        assert not [quoted for quoted in ("'=", "'@", "'-", "'+") if quoted in text], file_format
    job = imports.import_create(project=target, user=owner, upload=SimpleUploadedFile("export.csv", data))
    imports.import_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED, job.report
    imported = Example.objects.filter(project=target).values_list("messages", "category", "style_tags", "context")
    assert as_set(imported) == as_set(FORMULAS)  # the import removes the quote the export added
