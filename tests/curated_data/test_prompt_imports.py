"""Prompts without answers import as drafts that wait for an answer, in every format that can hold them
(chat messages ending with the user's turn, ShareGPT, {"prompt"} records, CSV without a response column);
the report and the import's page say how many came in; a file with neither prompts nor answers is refused
saying what a record needs, and nothing is written."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from annotation.models import Example, ExampleStatus
from curated_data.models import ImportStatus

pytestmark = pytest.mark.django_db

ASKED = [{"role": "user", "content": "Where is my parcel?"}]
ANSWERED = [*ASKED, {"role": "assistant", "content": "It left the depot this morning."}]


def jsonl(*records) -> bytes:
    return ("\n".join(json.dumps(r) for r in records) + "\n").encode()


def imported() -> list[list[dict[str, str]]]:
    return [e.messages for e in Example.objects.order_by("pk")]


@pytest.mark.parametrize(
    ("name", "data", "options"),
    [
        ("messages.jsonl", jsonl({"messages": ASKED}, {"messages": ANSWERED[:1] + ANSWERED[1:]}), {}),
        (
            "messages.json",
            json.dumps([{"messages": ASKED}, {"messages": ANSWERED}]).encode(),
            {"file_format": "messages"},
        ),
        (
            "sharegpt.jsonl",
            jsonl(
                {"conversations": [{"from": "human", "value": "Where is my parcel?"}]},
                {
                    "conversations": [
                        {"from": "human", "value": "Where is my parcel?"},
                        {"from": "gpt", "value": "It left the depot this morning."},
                    ]
                },
            ),
            {},
        ),
        (
            "prompts.jsonl",
            jsonl(
                {"prompt": "Where is my parcel?"}, {"prompt": "Where is my parcel?", "response": ANSWERED[1]["content"]}
            ),
            {},
        ),
        (
            "prompts.json",
            json.dumps(
                [
                    {"prompt": "Where is my parcel?"},
                    {"prompt": "Where is my parcel?", "response": ANSWERED[1]["content"]},
                ]
            ).encode(),
            {"file_format": "prompt"},
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and "." in v else "",
)
def test_prompts_without_answers_come_in_as_drafts_waiting_for_one(run_import, name, data, options):
    job = run_import(data, name, keep_duplicates=True, **options)
    assert job.status == ImportStatus.SUCCEEDED, job.report
    assert job.rows_imported == 2
    assert job.report["prompts"] == 1
    assert imported() == [ASKED, ANSWERED]
    waiting = [e.awaits_answer for e in Example.objects.order_by("pk")]
    assert waiting == [True, False]
    assert set(Example.objects.values_list("status", flat=True)) == {ExampleStatus.DRAFT}


def test_csv_without_a_response_column_imports_prompts(run_import, project, owner):
    data = b"question,topic\nWhere is my parcel?,\nCan I pay by card?,\n"
    job = run_import(data, "prompts.csv", file_format="csv")  # the API's path: the mapping is guessed
    assert job.status == ImportStatus.SUCCEEDED, job.report
    assert job.options["mapping"] == {"prompt": "question", "category": "topic"}
    assert job.report["prompts"] == 2
    assert imported() == [ASKED, [{"role": "user", "content": "Can I pay by card?"}]]
    # The import's page says so, and offers the owner to draft them all.
    client = Client()
    client.force_login(owner)
    page = client.get(f"/projects/{project.pk}/datasets/import/{job.pk}/").content.decode()
    assert "2 prompts without an answer" in page
    assert f'action="/projects/{project.pk}/examples/draft-all/"' in page
    listing = client.get(f"/projects/{project.pk}/examples/").content.decode()
    assert listing.count("awaiting answer") == 2


def test_the_csv_mapping_step_needs_only_the_prompt_column(project, owner):
    from curated_data.models import ImportJob

    client = Client()
    client.force_login(owner)
    data = b"question,notes\nWhere is my parcel?,x\n"
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        f"/projects/{project.pk}/datasets/import/",
        {"file": SimpleUploadedFile("p.csv", data), "file_format": "csv", "status": "draft"},
    )
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.AWAITING_MAPPING, response.content[:300]
    refused = client.post(f"/projects/{project.pk}/datasets/import/{job.pk}/mapping/", {"prompt": ""})
    assert refused.status_code == 400
    assert "This field is required" in refused.content.decode()
    done = client.post(f"/projects/{project.pk}/datasets/import/{job.pk}/mapping/", {"prompt": "question"})
    assert done.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.options["mapping"]) == (ImportStatus.QUEUED, {"prompt": "question"})


@pytest.mark.parametrize(
    ("name", "data", "options", "reason"),
    [
        (
            "nothing.jsonl",
            jsonl({"text": "hello"}, {"id": 2}),
            {},
            "expected messages, conversations, instruction/output or prompt",
        ),
        (
            "system-only.jsonl",
            jsonl({"messages": [{"role": "system", "content": "Be brief."}]}),
            {},
            "needs a user turn",
        ),
        ("blank.jsonl", jsonl({"prompt": "   "}), {}, "This turn is empty"),
        ("nothing.csv", b"id,notes\n1,x\n", {"file_format": "csv"}, "Choose the column that holds the prompt"),
        ("alpaca.jsonl", jsonl({"instruction": "Say hi"}), {}, 'Prompts without answers import as {"prompt"'),
    ],
    ids=lambda v: v if isinstance(v, str) and "." in v else "",
)
def test_a_file_with_neither_prompts_nor_answers_is_refused_saying_what_to_fix(run_import, name, data, options, reason):
    job = run_import(data, name, **options)
    assert job.status == ImportStatus.FAILED
    assert reason in " ".join(e["reason"] for e in job.report["errors"])
    assert not Example.objects.exists()


def test_prompts_cannot_be_imported_as_submitted(run_import):
    job = run_import(jsonl({"prompt": "Where is my parcel?"}), "p.jsonl", initial_status="submitted")
    assert job.status == ImportStatus.FAILED
    assert "must end with an assistant turn" in job.report["errors"][0]["reason"]
    assert not Example.objects.exists()
