"""Imports: all or nothing by default, skip bad rows on request, CSV mapping, retries, pages and API."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from annotation.models import Example, ExampleStatus, Revision, Transition
from annotation.selectors import reviews as review_selectors
from annotation.services import examples as example_services
from annotation.services import knowledge as knowledge_services
from annotation.services import validation
from annotune.errors import ApplicationError
from curated_data.models import ImportJob, ImportStatus
from curated_data.services import imports

pytestmark = pytest.mark.django_db


def chat(n: int, **extra) -> str:
    return json.dumps(
        {
            "messages": [
                {"role": "user", "content": f"Question {n}?"},
                {"role": "assistant", "content": f"Answer {n}."},
            ],
            **extra,
        }
    )


def jsonl(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def test_good_file_imports_drafts_with_a_revision_each(run_import, project, owner):
    job = run_import(jsonl(chat(1, category="billing", style_tags=["formal"], context="ctx"), chat(2)))
    assert job.status == ImportStatus.SUCCEEDED
    assert (job.rows_read, job.rows_valid, job.rows_invalid, job.rows_imported) == (2, 2, 0, 2)
    assert job.detected_format == "messages (JSONL)"
    assert job.progress_percent == 100
    first = Example.objects.get(messages__0__content="Question 1?")
    assert (first.status, first.author, first.category, first.style_tags, first.context) == (
        ExampleStatus.DRAFT,
        owner,
        "billing",
        ["formal"],
        "ctx",
    )
    assert first.search_text.startswith("question 1?")
    revision = Revision.objects.get(example=first)
    assert revision.version == 1
    assert revision.note == f"imported (import {job.pk}, line 1)"


def test_import_as_submitted_requires_complete_conversations(run_import, project):
    incomplete = json.dumps({"messages": [{"role": "user", "content": "No answer yet"}]})
    job = run_import(jsonl(chat(1), incomplete), initial_status="submitted")
    assert job.status == ImportStatus.FAILED
    assert job.report["errors"][0]["line"] == 2
    assert "must end with an assistant turn" in job.report["errors"][0]["reason"]
    job = run_import(jsonl(chat(1), chat(2)), initial_status="submitted")
    assert job.status == ImportStatus.SUCCEEDED
    assert set(Example.objects.values_list("status", flat=True)) == {ExampleStatus.SUBMITTED}
    assert Transition.objects.filter(to_status=ExampleStatus.SUBMITTED).count() == 2


def test_skip_bad_rows_imports_the_good_ones_and_keeps_the_report(run_import):
    job = run_import(jsonl(chat(1), "{oops", chat(2), chat(1)), skip_bad_rows=True)
    assert job.status == ImportStatus.SUCCEEDED
    assert job.rows_imported == 2
    assert job.rows_invalid == 1
    assert [(e["line"], e["reason"][:12]) for e in job.report["errors"]] == [(2, "Invalid JSON")]
    assert [(d["line"], d["reason"]) for d in job.report["duplicates"]] == [
        (4, "Same conversation as line 1 of this file.")
    ]
    assert Example.objects.count() == 2


def test_alpaca_and_sharegpt_json_arrays(run_import):
    alpaca = [
        {"instruction": "Say hi", "input": "", "output": "Hi!"},
        {"instruction": "Add", "input": "1+1", "output": "2"},
    ]
    job = run_import(json.dumps(alpaca).encode(), "alpaca.json")
    assert (job.status, job.detected_format) == (ImportStatus.SUCCEEDED, "alpaca (JSON array)")
    sharegpt = [{"conversations": [{"from": "system", "value": "Be nice"}, {"from": "human", "value": "Hello"},
                                   {"from": "gpt", "value": "Hi there"}]}]  # fmt: skip
    job = run_import(json.dumps(sharegpt, indent=2).encode(), "sharegpt.json", file_format="sharegpt")
    assert job.status == ImportStatus.SUCCEEDED, job.report
    assert Example.objects.get(messages__0__role="system").messages[2] == {"role": "assistant", "content": "Hi there"}
    assert Example.objects.get(messages__0__content="Add\n\n1+1").messages[1]["content"] == "2"


def test_explicit_format_overrides_detection(run_import):
    job = run_import(jsonl(chat(1)), file_format="alpaca")
    assert job.status == ImportStatus.FAILED
    assert job.report["errors"][0]["field"] == "instruction"


def test_api_upload_with_a_guessed_csv_mapping(api, project, owner):
    data = b"Question,Answer,Topic\nHow do I pay?,By card.,billing\nHi,Hello!,general\n"
    response = api(owner).post(
        f"/api/v1/projects/{project.pk}/imports/",
        {"file": SimpleUploadedFile("faq.csv", data), "skip_bad_rows": "false"},
        format="multipart",
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "queued"
    assert body["options"]["mapping"] == {"prompt": "Question", "response": "Answer", "category": "Topic"}
    imports.import_run(job_id=body["id"])
    detail = api(owner).get(f"/api/v1/projects/{project.pk}/imports/{body['id']}/").json()
    assert (detail["status"], detail["rows_imported"], detail["detected_format"]) == ("succeeded", 2, "CSV")
    assert Example.objects.get(category="billing").messages[0]["content"] == "How do I pay?"


def test_api_upload_with_an_explicit_mapping_and_bad_mapping_json(api, project, owner):
    url = f"/api/v1/projects/{project.pk}/imports/"
    data = b"q,a,sys\nHow?,Like this.,Be brief\n"
    bad = api(owner).post(url, {"file": SimpleUploadedFile("x.csv", data), "mapping": "{nope"}, format="multipart")
    assert bad.status_code == 400
    assert "mapping" in bad.json()["errors"]
    mapping = json.dumps({"prompt": "q", "response": "a", "system": "sys"})
    response = api(owner).post(
        url, {"file": SimpleUploadedFile("x.csv", data), "mapping": mapping, "file_format": "csv"}, format="multipart"
    )
    assert response.status_code == 202
    imports.import_run(job_id=response.json()["id"])
    assert Example.objects.get().messages[0] == {"role": "system", "content": "Be brief"}


def test_csv_mapping_step_on_the_page(client, project, owner):
    client.force_login(owner)
    data = b"col_a,col_b,col_c\nWhat is 2+2?,4,billing\n"
    response = client.post(
        f"/projects/{project.pk}/datasets/import/",
        {"file": SimpleUploadedFile("odd.csv", data), "file_format": "auto", "status": "draft"},
    )
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.AWAITING_MAPPING
    assert response["Location"] == f"/projects/{project.pk}/datasets/import/{job.pk}/mapping/"
    page = client.get(response["Location"])
    assert b"col_a" in page.content
    missing = client.post(response["Location"], {"response": "col_b"})  # the prompt column is required
    assert missing.status_code == 400
    done = client.post(response["Location"], {"prompt": "col_a", "response": "col_b", "category": "col_c"})
    assert done.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED
    imports.import_run(job_id=job.pk)
    assert Example.objects.get().category == "billing"
    detail = client.get(done["Location"])
    assert b"1 imported" in detail.content


def test_import_pages_render_the_report_escaped(client, run_import, project, owner):
    job = run_import(jsonl(chat(1), '{"messages": [{"role": "<script>alert(1)</script>", "content": "x"}]}'))
    client.force_login(owner)
    page = client.get(f"/projects/{project.pk}/datasets/import/{job.pk}/")
    assert page.status_code == 200
    assert b"<script>alert(1)" not in page.content
    assert b"&lt;script&gt;alert(1)" in page.content
    assert b"Import the good rows only" in page.content
    fragment = client.get(f"/projects/{project.pk}/datasets/import/{job.pk}/progress/")
    assert b"hx-trigger" not in fragment.content  # finished: no more polling
    listing = client.get(f"/projects/{project.pk}/datasets/import/")
    assert listing.status_code == 200


def test_retry_with_skip_bad_rows_from_the_page(client, run_import, project, owner):
    job = run_import(jsonl(chat(1), "{oops"))
    assert job.status == ImportStatus.FAILED
    client.force_login(owner)
    client.post(f"/projects/{project.pk}/datasets/import/{job.pk}/retry/", {"skip_bad_rows": "1"})
    job.refresh_from_db()
    assert (job.status, job.options["skip_bad_rows"]) == (ImportStatus.QUEUED, True)
    imports.import_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.rows_imported, job.attempts) == (ImportStatus.SUCCEEDED, 1, 2)


def test_a_job_runs_once_and_a_succeeded_job_cannot_be_retried(run_import, owner):
    job = run_import(jsonl(chat(1), chat(2)))
    imports.import_run(job_id=job.pk)  # a second delivery of the task: not queued, nothing happens
    assert Example.objects.count() == 2
    with pytest.raises(ApplicationError, match="succeeded already"):
        imports.import_retry(job=job, user=owner)


def test_a_running_job_is_retried_only_once_its_worker_went_quiet(project, owner, settings):
    job = imports.import_create(project=project, user=owner, upload=SimpleUploadedFile("a.jsonl", jsonl(chat(1))))
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, heartbeat_at=timezone.now())
    job.refresh_from_db()
    with pytest.raises(ApplicationError, match="still running"):
        imports.import_retry(job=job, user=owner)
    ImportJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.ANNOTUNE_IMPORT_STALE_SECONDS + 1)
    )
    job.refresh_from_db()
    imports.import_retry(job=job, user=owner)
    imports.import_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED


def test_unexpected_errors_fail_the_job_and_write_nothing(run_import, monkeypatch):
    write = imports._write

    def write_then_fail(job, rows):
        write(job, rows)
        assert Example.objects.count() == 2  # written, inside the import's transaction
        raise RuntimeError("disk full")

    monkeypatch.setattr(imports, "_write", write_then_fail)
    job = run_import(jsonl(chat(1), chat(2)))
    assert job.status == ImportStatus.FAILED
    assert "unexpected error (RuntimeError)" in job.error
    assert Example.objects.count() == 0


def saved_normally(example: Example, owner) -> Example:
    """The same conversation saved through the editor's service (which validates on save)."""
    return example_services.example_create(
        project=example.project,
        author=owner,
        messages=example.messages,
        category=example.category,
        style_tags=example.style_tags,
        context=example.context,
    )


def test_imported_rows_get_the_findings_a_normal_save_stores(run_import, project, owner):
    slip = json.dumps(
        {
            "messages": [
                {"role": "user", "content": "Question 2?"},
                {"role": "assistant", "content": "Answer 2. <|im_end|> "},  # a template token, a trailing space
            ],
            "category": "billing",
        }
    )
    job = run_import(jsonl(chat(1, category="billing"), slip))
    assert job.status == ImportStatus.SUCCEEDED
    clean = Example.objects.get(messages__0__content="Question 1?")
    slipped = Example.objects.get(messages__0__content="Question 2?")
    assert (clean.findings, clean.error_count) == ([], 0)
    assert [(f["code"], f["severity"]) for f in slipped.findings] == [
        ("fmt.template_token", "error"),
        ("fmt.trailing_whitespace", "warning"),
    ]
    assert slipped.error_count == 1
    for imported in (clean, slipped):
        saved = saved_normally(imported, owner)
        assert (imported.findings, imported.error_count) == (saved.findings, saved.error_count)
        saved.refresh_from_db()
        assert (imported.findings, imported.error_count) == (saved.findings, saved.error_count)


def template_slip(n: int) -> str:
    """A row whose answer keeps a chat template token: `fmt.template_token`, severity error."""
    return json.dumps(
        {
            "messages": [
                {"role": "user", "content": f"Question {n}?"},
                {"role": "assistant", "content": f"Answer {n}. <|im_end|>"},
            ]
        }
    )


@pytest.mark.parametrize("batch_size", [1, 5000])
def test_submitted_import_keeps_rows_with_blocking_findings_as_drafts(
    run_import, api, project, owner, reviewer, settings, batch_size
):
    settings.ANNOTUNE_IMPORT_BATCH_SIZE = batch_size  # 1: a batch holding only the kept draft
    job = run_import(jsonl(chat(1), template_slip(2), chat(3)), initial_status="submitted")
    assert (job.status, job.rows_imported, job.rows_invalid, job.error) == (ImportStatus.SUCCEEDED, 3, 0, "")
    assert (job.report["kept_as_draft"], job.report["kept_as_draft_rows"]) == (
        1,
        [{"line": 2, "codes": ["fmt.template_token"]}],
    )
    assert job.report["errors"] == []
    good = list(Example.objects.filter(status=ExampleStatus.SUBMITTED).order_by("pk"))
    assert [e.messages[0]["content"] for e in good] == ["Question 1?", "Question 3?"]
    assert all(e.submitted_at and (e.findings, e.error_count) == ([], 0) for e in good)
    assert [e.review_round for e in good] == [1, 1]  # as a submit in the editor starts round 1
    kept = Example.objects.get(messages__0__content="Question 2?")
    assert (kept.status, kept.submitted_at, kept.error_count, kept.review_round) == (ExampleStatus.DRAFT, None, 1, 0)
    assert [(f["code"], f["severity"]) for f in kept.findings] == [("fmt.template_token", "error")]
    assert not Transition.objects.filter(example=kept).exists()
    assert Transition.objects.filter(to_status=ExampleStatus.SUBMITTED).count() == 2
    assert Revision.objects.get(example=kept).note == f"imported (import {job.pk}, line 2)"
    # The review queue offers the two submitted rows, never the draft.
    assert review_selectors.queue_batch_ids(project, limit=10) == [e.pk for e in good]
    client, base = api(reviewer), f"/api/v1/projects/{project.pk}"
    offered = []
    while (response := client.post(f"{base}/review/next/", {}, format="json")).status_code == 200:
        offered.append(response.json()["id"])
        client.post(f"{base}/examples/{offered[-1]}/approve/", {}, format="json")
    assert response.status_code == 204
    assert offered == [e.pk for e in good]
    # The API's job result says the same.
    report = api(owner).get(f"{base}/imports/{job.pk}/").json()["report"]
    assert (report["kept_as_draft"], report["kept_as_draft_rows"]) == (
        1,
        [{"line": 2, "codes": ["fmt.template_token"]}],
    )


def test_a_kept_draft_is_submitted_once_fixed(run_import, project, owner):
    """The import and the editor apply the same rule: the editor refuses it too until it is fixed."""
    run_import(jsonl(template_slip(1)), initial_status="submitted")
    kept = Example.objects.get()
    with pytest.raises(ApplicationError, match="Leaked template token"):
        example_services.example_submit(example=kept, user=owner)
    fixed = [kept.messages[0], {"role": "assistant", "content": "Answer 1."}]
    kept = example_services.example_update(example=kept, user=owner, messages=fixed, version=kept.version)
    assert example_services.example_submit(example=kept, user=owner).status == ExampleStatus.SUBMITTED


def test_draft_imports_report_no_kept_drafts(run_import, api, project, owner):
    job = run_import(jsonl(chat(1), template_slip(2)))
    assert Example.objects.get(messages__0__content="Question 2?").error_count == 1
    assert (job.report["kept_as_draft"], job.report["kept_as_draft_rows"]) == (0, [])
    old = ImportJob.objects.create(project=project, created_by=owner, file="x", original_name="old.jsonl", size_bytes=1)
    body = api(owner).get(f"/api/v1/projects/{project.pk}/imports/{old.pk}/").json()
    assert (body["report"]["kept_as_draft"], body["report"]["kept_as_draft_rows"]) == (0, [])  # jobs from before


def test_import_pages_list_the_rows_kept_as_drafts(client, run_import, project, owner):
    job = run_import(jsonl(chat(1), template_slip(2), chat(3)), initial_status="submitted")
    client.force_login(owner)
    page = client.get(f"/projects/{project.pk}/datasets/import/{job.pk}/")
    assert page.status_code == 200
    assert b"1 row kept as draft</strong>" in page.content
    assert b"validation errors, which block submission" in page.content
    assert b"<tr><td>2</td><td><code>fmt.template_token</code></td></tr>" in page.content
    fragment = client.get(f"/projects/{project.pk}/datasets/import/{job.pk}/progress/")
    assert b"fmt.template_token" in fragment.content
    listing = client.get(f"/projects/{project.pk}/datasets/import/")
    assert b"3 imported, 1 kept as draft<" in listing.content


def test_imported_rows_are_fact_checked_with_the_context_built_once(run_import, project, owner, monkeypatch):
    documents = {
        "pricing.md": "The Pro plan costs 30 euros per month and includes 5 seats.",
        "security.md": "Two-factor authentication can be enabled in Settings under Security.",
        "exports.md": "Invoices can be exported as PDF from the Billing page. Exports are kept for 90 days.",
    }
    for title, text in documents.items():
        knowledge_services.document_add(project=project, user=owner, title=title, text=text)
    fingerprints = []
    fingerprint = validation.knowledge_fingerprint
    monkeypatch.setattr(validation, "knowledge_fingerprint", lambda p: fingerprints.append(p.pk) or fingerprint(p))
    wrong = json.dumps(
        {
            "messages": [
                {"role": "user", "content": "How much is Pro?"},
                {"role": "assistant", "content": "The Pro plan costs 45 euros per month."},
            ]
        }
    )
    job = run_import(jsonl(chat(1), wrong, chat(2)))
    assert job.status == ImportStatus.SUCCEEDED
    assert fingerprints == [project.pk]  # once for the import, not per row
    imported = Example.objects.get(messages__0__content="How much is Pro?")
    assert "fact.contradicted" in [f["code"] for f in imported.findings]
    saved = saved_normally(imported, owner)
    saved.refresh_from_db()
    assert (imported.findings, imported.error_count) == (saved.findings, saved.error_count)
