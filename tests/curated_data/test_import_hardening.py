"""Import hardening: duplicates are warnings, deep JSON, compressed uploads and archives, JSON array elements.

Every case asserts the rows written (0 for a refused file) and the message the owner reads.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import tarfile
import tracemalloc
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import Example, Revision
from annotune.errors import ApplicationError
from curated_data.formats.archives import compression_of
from curated_data.formats.containers import DEPTH_REASON, too_deep
from curated_data.models import ImportJob, ImportStatus
from curated_data.services import imports

pytestmark = pytest.mark.django_db


def row(n: int, **extra) -> dict:
    return {
        "messages": [
            {"role": "user", "content": f"How do I export invoice {n}?"},
            {"role": "assistant", "content": f"Open Billing, pick invoice {n} and choose Export."},
        ],
        **extra,
    }


def jsonl(*records: dict | str) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records).encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data)


def zipped(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def counts(job: ImportJob) -> tuple[int, int, int, int]:
    return job.rows_read, job.rows_valid, job.rows_invalid, job.rows_imported


def assert_adds_up(job: ImportJob) -> None:
    assert job.rows_read == job.rows_valid + job.rows_invalid, counts(job)


# --- duplicates: a data quality warning, not a parse error -------------------------------------------


def test_repeated_rows_import_the_first_occurrence_and_report_the_repeats(run_import):
    job = run_import(jsonl(row(1), row(2), row(1), row(3), row(2), row(1)))
    assert job.status == ImportStatus.SUCCEEDED, job.report
    assert counts(job) == (6, 6, 0, 3)
    assert Example.objects.count() == 3
    assert job.report["errors"] == []
    assert job.report["duplicate_count"] == 3
    assert [(d["line"], d["field"], d["reason"]) for d in job.report["duplicates"]] == [
        (3, "messages", "Same conversation as line 1 of this file."),
        (5, "messages", "Same conversation as line 2 of this file."),
        (6, "messages", "Same conversation as line 1 of this file."),
    ]
    assert job.error == ""


def test_duplicate_after_normalising_spacing_and_case_is_a_repeat(run_import):
    shouty = json.dumps(row(1)).replace("How do I", "HOW  do i")
    job = run_import(jsonl(row(1), shouty))
    assert job.status == ImportStatus.SUCCEEDED
    assert counts(job) == (2, 2, 0, 1)
    assert job.report["duplicates"][0]["reason"] == "Same conversation as line 1 of this file."


def test_keep_duplicates_imports_every_row_and_still_reports_them(run_import):
    job = run_import(jsonl(row(1), row(1), row(1)), keep_duplicates=True)
    assert job.status == ImportStatus.SUCCEEDED
    assert counts(job) == (3, 3, 0, 3)
    assert Example.objects.count() == 3
    assert job.report["duplicates_kept"] is True
    assert [d["line"] for d in job.report["duplicates"]] == [2, 3]


def test_keep_duplicates_must_be_a_boolean(project, owner):
    with pytest.raises(ApplicationError) as caught:
        imports.import_create(
            project=project, user=owner, upload=SimpleUploadedFile("a.jsonl", jsonl(row(1))), keep_duplicates="yes"
        )
    assert caught.value.extra == {"keep_duplicates": ["true or false."]}
    assert ImportJob.objects.count() == 0


def test_duplicates_of_existing_examples_are_skipped_and_reported(run_import):
    first = run_import(jsonl(row(1), row(2)))
    assert first.rows_imported == 2
    ids = dict(Example.objects.values_list("messages__0__content", "id"))
    job = run_import(jsonl(row(3), row(2), row(1), row(3)))
    assert job.status == ImportStatus.SUCCEEDED
    assert counts(job) == (4, 4, 0, 1)
    assert [(d["line"], d["reason"]) for d in job.report["duplicates"]] == [
        (2, f"Same conversation as existing example #{ids['How do I export invoice 2?']}."),
        (3, f"Same conversation as existing example #{ids['How do I export invoice 1?']}."),
        (4, "Same conversation as line 1 of this file."),
    ]
    assert Example.objects.count() == 3


@pytest.mark.parametrize("others", [0, 6])
def test_existing_duplicates_are_found_in_small_and_large_projects(run_import, others):
    """A project with fewer examples than the file has rows is read whole; a larger one is looked up row by
    row: either way the same duplicates, each naming the first example with that conversation."""
    kept = run_import(jsonl(row(1), row(1), row(2), *[row(100 + i) for i in range(others)]), keep_duplicates=True)
    assert kept.rows_imported == 3 + others
    first_of = {}
    for pk, text in Example.objects.order_by("id").values_list("id", "messages__0__content"):
        first_of.setdefault(text, pk)
    job = run_import(jsonl(row(3), row(1), row(4), row(2), row(5)))
    assert job.status == ImportStatus.SUCCEEDED
    assert [(d["line"], d["reason"]) for d in job.report["duplicates"]] == [
        (2, f"Same conversation as existing example #{first_of['How do I export invoice 1?']}."),
        (4, f"Same conversation as existing example #{first_of['How do I export invoice 2?']}."),
    ]
    assert job.rows_imported == 3


def test_importing_the_same_file_twice_writes_nothing_new_and_says_so(run_import):
    data = jsonl(row(1), row(2))
    assert run_import(data).rows_imported == 2
    again = run_import(data)
    assert again.status == ImportStatus.SUCCEEDED
    assert counts(again) == (2, 2, 0, 0)
    assert again.report["duplicate_count"] == 2
    assert "nothing new was imported" in again.report["notes"][-1]
    assert Example.objects.count() == 2


def test_an_example_added_while_the_file_was_validated_is_skipped_not_failed(run_import, monkeypatch, project):
    calls = {"n": 0}
    real_mark = imports._mark_existing

    def mark(project_, rows, duplicates, *, keep):
        calls["n"] += 1
        if calls["n"] == 2:  # the re-check under the lock: another import wrote row 2 meanwhile
            from tests.factories import ExampleFactory

            ExampleFactory(project=project, author=project.created_by, messages=row(2)["messages"])
        return real_mark(project_, rows, duplicates, keep=keep)

    monkeypatch.setattr(imports, "_mark_existing", mark)
    job = run_import(jsonl(row(1), row(2)))
    assert job.status == ImportStatus.SUCCEEDED, job.error
    assert job.rows_imported == 1
    assert job.report["duplicates"][0]["line"] == 2
    assert "existing example" in job.report["duplicates"][0]["reason"]
    assert Example.objects.count() == 2  # row 1 imported + the one added meanwhile


def test_invalid_rows_are_still_all_or_nothing_and_duplicates_do_not_count(run_import):
    job = run_import(jsonl(row(1), row(1), '{"messages": "hello"}'))
    assert job.status == ImportStatus.FAILED
    assert counts(job) == (3, 2, 1, 0)
    assert job.error.startswith("1 row(s) have problems, so nothing was imported.")
    assert Example.objects.count() == 0
    skipped = run_import(jsonl(row(1), row(1), '{"messages": "hello"}'), skip_bad_rows=True)
    assert skipped.status == ImportStatus.SUCCEEDED
    assert counts(skipped) == (3, 2, 1, 1)


def test_duplicates_in_a_json_array_name_their_element(run_import):
    job = run_import(json.dumps([row(1), row(2), row(1)]).encode(), "data.json")
    assert job.status == ImportStatus.SUCCEEDED
    assert job.report["duplicates"] == [
        {"line": 1, "field": "[2].messages", "reason": "Same conversation as line 1, element [0] of this file."}
    ]
    assert job.rows_imported == 2


def test_the_pages_show_duplicates(client, run_import, owner, project):
    job = run_import(jsonl(row(1), row(1)))
    client.force_login(owner)
    page = client.get(f"/projects/{project.pk}/datasets/import/{job.pk}/").content.decode()
    assert "1 duplicate row skipped" in page
    assert "Same conversation as line 1 of this file." in page


# --- JSON arrays: every error names its element; counts add up ---------------------------------------


def test_errors_inside_a_one_line_json_array_name_the_element(run_import):
    bad_role = {"messages": [{"role": "bot", "content": "hi"}]}
    data = json.dumps([row(1), bad_role, "text", row(2), {"messages": 5}]).encode()
    job = run_import(data, "data.json")
    assert job.status == ImportStatus.FAILED
    assert [(e["line"], e["field"]) for e in job.report["errors"]] == [
        (1, "[1].messages[0].role"),
        (1, "[2]"),
        (1, "[4].messages"),
    ]
    assert counts(job) == (5, 2, 3, 0)
    assert job.error.startswith("3 row(s) have problems")
    assert Example.objects.count() == 0


def test_a_broken_element_stops_the_array_and_is_named(run_import):
    data = b'[{"messages": []}, {"messages": [}]'
    job = run_import(data, "data.json", skip_bad_rows=True)
    assert job.status == ImportStatus.FAILED
    error = job.report["errors"][-1]
    assert (error["line"], error["field"]) == (1, "[1]")
    assert error["reason"].startswith("Invalid JSON in element [1]:")
    assert_adds_up(job)
    assert Example.objects.count() == 0


def test_counts_add_up_on_a_mixed_file(run_import):
    job = run_import(jsonl(row(1), "{oops", row(1), "[1]", row(2), " "), skip_bad_rows=True)
    assert counts(job) == (5, 3, 2, 2)
    assert_adds_up(job)


# --- JSON nested 100,000 levels ------------------------------------------------------------------------


def test_jsonl_nested_100k_levels_is_refused_with_its_line_and_no_retry_advice(run_import):
    job = run_import(jsonl(row(1), "[" * 100_000 + "]" * 100_000))
    assert job.status == ImportStatus.FAILED
    assert job.report["errors"] == [
        {"line": 2, "field": "", "reason": DEPTH_REASON},
    ]
    assert "retry" not in job.error.lower()
    assert "unexpected" not in job.error.lower()
    assert counts(job) == (2, 1, 1, 0)
    assert Example.objects.count() == 0
    skipped = run_import(jsonl(row(1), '{"messages": ' + "[" * 100_000), skip_bad_rows=True)
    assert (skipped.status, skipped.rows_imported) == (ImportStatus.SUCCEEDED, 1)


def test_json_array_nested_100k_levels_is_refused_with_its_element(run_import):
    data = b'[\n{"messages": []},\n{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n]"
    job = run_import(data, "deep.json", skip_bad_rows=True)
    assert job.status == ImportStatus.FAILED
    error = job.report["errors"][-1]
    assert (error["line"], error["field"]) == (3, "[1]")
    assert "Element [1]: The JSON is nested more than 100 levels deep" in error["reason"]
    assert job.error.startswith("The file could not be read to the end")
    assert "retry" not in job.error.lower()
    assert Example.objects.count() == 0


def test_csv_messages_column_nested_deep_is_a_row_error(run_import):
    data = b'prompt,response,messages\nhi,hello,\nq,a,"' + b"[" * 5000 + b'"\n'
    job = run_import(data, "data.csv", file_format="csv", mapping={"prompt": "prompt", "response": "response",
                                                                    "messages": "messages"})  # fmt: skip
    assert job.status == ImportStatus.FAILED
    assert job.report["errors"][0]["field"] == "messages"
    assert "nested more than 100 levels" in job.report["errors"][0]["reason"]
    assert Example.objects.count() == 0


# --- compressed files and archives ----------------------------------------------------------------------


def test_gzip_jsonl_is_read_decompressed(run_import):
    job = run_import(gz(jsonl(row(1), row(2))), "data.jsonl.gz")
    assert job.status == ImportStatus.SUCCEEDED, job.report
    assert counts(job) == (2, 2, 0, 2)
    assert job.detected_format == "messages (JSONL)"
    assert job.report["notes"][0] == "Read “data.jsonl” from the gzip file."
    assert job.progress_percent == 100


def test_gzip_is_recognised_by_its_bytes_not_its_name(run_import):
    job = run_import(gz(json.dumps([row(1)]).encode()), "upload.bin")
    assert (job.status, job.rows_imported, job.detected_format) == (ImportStatus.SUCCEEDED, 1, "messages (JSON array)")


def test_zip_of_one_json_array_is_read(run_import):
    data = zipped({"export/data.json": json.dumps([row(1), row(2)]).encode(), "__MACOSX/._data.json": b"junk"})
    job = run_import(data, "export.zip")
    assert job.status == ImportStatus.SUCCEEDED, job.report
    assert job.rows_imported == 2
    assert "data.json" in job.report["notes"][0]
    assert "zip archive" in job.report["notes"][0]


def test_zip_of_a_csv_goes_through_the_mapping_step(project, owner):
    data = zipped({"rows.csv": b"question,answer\nHow do I export?,Open Billing.\n"})
    job = imports.import_create(
        project=project, user=owner, upload=SimpleUploadedFile("rows.zip", data), ask_mapping=True
    )
    assert job.status == ImportStatus.AWAITING_MAPPING
    assert imports.csv_columns(job) == ["question", "answer"]
    job = imports.import_set_mapping(job=job, user=owner, mapping={"prompt": "question", "response": "answer"})
    imports.import_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.rows_imported, job.detected_format) == (ImportStatus.SUCCEEDED, 1, "CSV")


def test_gzip_csv_from_the_api_gets_its_mapping_guessed(api, project, owner):
    data = gz(b"prompt,response\nHow do I export?,Open Billing.\n")
    response = api(owner).post(
        f"/api/v1/projects/{project.pk}/imports/", {"file": SimpleUploadedFile("rows.csv.gz", data)}, format="multipart"
    )
    assert response.status_code in (201, 202), response.content
    job = ImportJob.objects.get()
    assert job.options["mapping"] == {"prompt": "prompt", "response": "response"}


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("bomb.jsonl.gz", lambda: gz(jsonl(row(1)) + b'{"messages": [' + b" " * (40 << 20))),
        ("bomb.zip", lambda: zipped({"bomb.jsonl": jsonl(row(1)) + b'{"messages": [' + b" " * (40 << 20)})),
    ],
)
def test_a_compression_bomb_is_refused_and_memory_stays_flat(run_import, name, make):
    data = make()
    assert len(data) < 200_000
    tracemalloc.start()
    try:
        job = run_import(data, name)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert job.status == ImportStatus.FAILED
    reason = job.report["errors"][-1]["reason"]
    assert "was refused: it decompresses to more than 100 times its size" in reason
    assert "compression bomb" in reason
    assert "retry" not in job.error.lower()
    assert peak < 16 << 20, peak
    assert Example.objects.count() == 0


def test_the_decompressed_size_is_capped_by_the_upload_limit(run_import, settings, project, owner):
    settings.ANNOTUNE_IMPORT_MAX_FILE_BYTES = 3000
    many = jsonl(*[row(i) for i in range(60)])
    assert len(many) > 3000
    with pytest.raises(ApplicationError) as caught:  # the start is decompressed at upload already
        imports.import_create(project=project, user=owner, upload=SimpleUploadedFile("rows.jsonl.gz", gz(many)))
    assert "decompresses to more than the limit of 3,000 bytes" in caught.value.message
    assert ImportJob.objects.count() == 0
    settings.ANNOTUNE_IMPORT_MAX_FILE_BYTES = 100_000  # past the upload check: the worker stops at the cap
    many = jsonl(*[row(i) for i in range(1200)])
    assert len(many) > 100_000
    job = run_import(gz(many), "rows.jsonl.gz")
    assert job.status == ImportStatus.FAILED
    assert "decompresses to more than the limit of 100,000 bytes" in job.report["errors"][-1]["reason"]
    assert job.report["errors"][-1]["line"] > 1
    assert Example.objects.count() == 0


def test_a_truncated_gzip_is_refused_as_damaged(run_import, project, owner):
    small = gz(jsonl(*[row(i) for i in range(40)]))
    with pytest.raises(ApplicationError) as caught:
        imports.import_create(project=project, user=owner, upload=SimpleUploadedFile("a.gz", small[:-30]))
    assert "The gzip file is damaged or cut off" in caught.value.message
    data = gz(jsonl(*[row(i) for i in range(4000)]))
    job = run_import(data[: len(data) // 2], "cut.jsonl.gz")
    assert job.status == ImportStatus.FAILED
    assert "gzip file is damaged or cut off" in job.report["errors"][-1]["reason"]
    assert Example.objects.count() == 0
    assert Revision.objects.count() == 0


def _tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        info = tarfile.TarInfo("data.jsonl")
        payload = jsonl(row(1))
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("data.jsonl.bz2", lambda: bz2.compress(jsonl(row(1))), "The file is a bzip2 file"),
        ("data.jsonl.xz", lambda: lzma.compress(jsonl(row(1))), "The file is a xz file"),
        ("data.7z", lambda: b"7z\xbc\xaf'\x1c\x00\x04" + b"\x00" * 40, "The file is a 7-Zip archive"),
        ("data.rar", lambda: b"Rar!\x1a\x07\x01\x00" + b"\x00" * 40, "The file is a RAR archive"),
        ("data.zst", lambda: b"(\xb5/\xfd" + b"\x00" * 40, "The file is a Zstandard file"),
        ("data.tar", _tar, "The file is a tar archive"),
        ("data.tar.gz", lambda: gz(_tar()), "The file inside the gzip file is a tar archive"),
        ("twice.jsonl.gz.gz", lambda: gz(gz(jsonl(row(1)))), "The file inside the gzip file is a gzip file"),
        (
            "two.zip",
            lambda: zipped({"a.jsonl": jsonl(row(1)), "b.jsonl": jsonl(row(2))}),
            "The zip archive holds 2 files (a.jsonl, b.jsonl)",
        ),
        ("empty.zip", lambda: zipped({}), "The zip archive holds no file"),
        ("broken.zip", lambda: b"PK\x03\x04" + b"\x00" * 60, "The zip archive is damaged"),
    ],  # fmt: skip
)
def test_archives_imports_cannot_read_are_refused_at_upload(project, owner, name, make, reason, storage_root):
    with pytest.raises(ApplicationError) as caught:
        imports.import_create(project=project, user=owner, upload=SimpleUploadedFile(name, make()))
    assert reason in caught.value.message
    assert caught.value.extra["file"] == [caught.value.message]
    assert "UTF-16" not in caught.value.message
    assert ImportJob.objects.count() == 0
    assert not any(p.is_file() for p in storage_root.rglob("*"))  # nothing stored
    assert Example.objects.count() == 0


def test_upload_page_shows_the_archive_refusal(client, project, owner):
    client.force_login(owner)
    response = client.post(
        f"/projects/{project.pk}/datasets/import/",
        {"file": SimpleUploadedFile("data.jsonl.bz2", bz2.compress(jsonl(row(1)))), "status": "draft"},
    )
    assert response.status_code == 400
    assert "The file is a bzip2 file, which imports do not read." in response.content.decode()
    assert ImportJob.objects.count() == 0


# --- the pure layer ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b"PK\x03\x04", "zip"),
        (b"BZh91AY&SY", "bzip2"),
        (b"\xfd7zXZ\x00\x00", "xz"),
        (b'{"messages": []}', None),
        (b"BZh is how this CSV header starts", None),
        (b"prompt,response\n", None),
    ],
)
def test_compression_is_told_by_magic_bytes(head, kind):
    assert compression_of(head) == kind


def test_too_deep_skips_brackets_inside_strings():
    assert not too_deep(json.dumps({"messages": [{"role": "user", "content": "[" * 500}]}))
    assert too_deep("[" * 101)
    assert not too_deep("[" * 100 + "]" * 100)


@pytest.mark.parametrize("keep", [True, False])
def test_keep_duplicates_reaches_the_import_from_the_api_and_the_page(api, client, project, owner, keep):
    from tests.factories import PASSWORD

    upload = SimpleUploadedFile("dupes.jsonl", jsonl(row(1), row(1)))
    response = api(owner).post(
        f"/api/v1/projects/{project.pk}/imports/", {"file": upload, "keep_duplicates": keep}, format="multipart"
    )
    assert response.status_code == 202, response.content
    assert ImportJob.objects.get(pk=response.json()["id"]).options["keep_duplicates"] is keep

    client.login(username=owner.username, password=PASSWORD)
    form = {"file": SimpleUploadedFile("dupes.jsonl", jsonl(row(2), row(2))), "status": "draft"}
    if keep:
        form["keep_duplicates"] = "on"
    client.post(f"/projects/{project.pk}/datasets/import/", form)
    assert ImportJob.objects.order_by("-pk").first().options["keep_duplicates"] is keep
