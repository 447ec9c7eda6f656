"""CSV export: no cell, and no line inside a cell, starts a spreadsheet formula (issue #25, finding 3).

The attack: export wrote rows ending in "\n" and left a field holding a bare "\r" unquoted, so
`Where is my parcel?\r=cmd|' /C calc'!A0` became a new row whose cell started with "="; only the first
character of a cell was escaped.
"""

from __future__ import annotations

import csv
import io
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.services import api_token_create
from annotation.models import Example, ExampleStatus
from curated_data.formats.csv_escaping import csv_escape, csv_unescape
from curated_data.formats.rendering import render
from curated_data.models import ImportStatus
from curated_data.services import imports
from tests.factories import ExampleFactory, MembershipFactory, ProjectFactory, UserFactory
from tests.live_http import Visitor

FORMULA_START = "=+-@\t\r"
ATTACKS = [
    "Where is my parcel?\r=cmd|' /C calc'!A0",
    "Where is my order?\n=cmd|' /C calc'!A0",
    "Where is my refund?\r\n+1+cmd|' /C calc'!A0",
    "line one\r\r@SUM(1)",
    "\r=starts with a carriage return",
    "ok\n\t=tab then formula",
    "ok\n'=already looks escaped",
    "- a list\n- of items\n-1 negative",
]


def lines(cell: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", cell)


def starts_formula(text: str) -> bool:
    return text[:1] in FORMULA_START and text[:1] != ""


@pytest.mark.parametrize("cell", ATTACKS)
def test_every_line_of_a_cell_is_neutralised_and_the_import_gives_it_back(cell):
    escaped = csv_escape(cell)
    assert not [line for line in lines(escaped) if starts_formula(line)], repr(escaped)
    assert csv_unescape(escaped) == cell


def test_escape_then_unescape_is_exact_for_any_text():
    rng = random.Random(25)
    alphabet = ["a", " ", "=", "+", "-", "@", "\t", "\r", "\n", "'", '"', ","]
    for _ in range(20_000):
        cell = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        escaped = csv_escape(cell)
        assert csv_unescape(escaped) == cell, repr(cell)
        assert not [line for line in lines(escaped) if starts_formula(line)], repr(cell)


def test_the_file_has_one_row_per_example_and_no_line_starts_a_formula():
    rows = [([{"role": "user", "content": attack}, {"role": "assistant", "content": attack}], "", [], attack)
            for attack in ATTACKS]  # fmt: skip
    text = "".join(render("csv", rows))
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert len(parsed) == 1 + len(ATTACKS)  # the header and one row each: no cell split into a new row
    for row in parsed[1:]:
        for cell in row:
            assert not [line for line in lines(cell) if starts_formula(line)], repr(cell)
    # A reader that splits on any line break (as a careless importer does) sees no formula either.
    for physical in lines(text):
        assert not starts_formula(physical.lstrip('"')), repr(physical)
    assert text.endswith("\r\n")
    assert text.startswith('"system","prompt","response",')  # every cell quoted


@pytest.mark.django_db(transaction=True)
def test_csv_export_over_http_then_import_gives_the_same_text(live_server, settings):
    """The export as a user downloads it (real HTTP, token auth), read back by Python's csv module, then
    imported into another project: the same conversations, "\r" included (the texts differ in more than
    their line breaks: the import counts those as duplicates)."""
    settings.ANNOTUNE_TRUSTED_PROXY_COUNT = 1
    owner = UserFactory(username="olivia")
    source, target = ProjectFactory(name="Source", created_by=owner), ProjectFactory(name="Target", created_by=owner)
    for project in (source, target):
        MembershipFactory(project=project, user=owner, role="owner")
    for attack in ATTACKS:
        messages = [{"role": "user", "content": attack}, {"role": "assistant", "content": "Fine."}]
        ExampleFactory(project=source, author=owner, status=ExampleStatus.APPROVED, messages=messages)

    key = api_token_create(user=owner, name="test")[1]
    response = Visitor(live_server.url).session.get(
        f"{live_server.url}/api/v1/projects/{source.pk}/export/",
        params={"file_format": "csv"},
        headers={"Authorization": f"Token {key}"},
        timeout=60,
    )
    assert response.status_code == 200
    data = response.content
    header, *rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert len(rows) == len(ATTACKS)
    for row in rows:
        for cell in row:
            assert not [line for line in lines(cell) if starts_formula(line)], repr(cell)
    job = imports.import_create(project=target, user=owner, upload=SimpleUploadedFile("export.csv", data))
    imports.import_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED, job.report
    prompts = sorted(m[0]["content"] for m in Example.objects.filter(project=target).values_list("messages", flat=True))
    assert prompts == sorted(ATTACKS), (prompts, job.report)


SOFFICE = shutil.which("soffice")


def spreadsheet_of(csv_text: str, folder: Path) -> str:
    """The CSV as LibreOffice Calc reads it (its default CSV import evaluates formulas), saved as a flat
    OpenDocument spreadsheet: a cell Calc took for a formula carries `table:formula`."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "export.csv"
    source.write_text(csv_text, encoding="utf-8", newline="")
    profile = (folder / "profile").as_uri()  # a profile of this test's own: no clash with another soffice
    subprocess.run(  # noqa: S603 (fixed arguments)
        [SOFFICE, f"-env:UserInstallation={profile}", "--headless", "--convert-to", "fods", "--outdir", str(folder),
         str(source)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return (folder / "export.fods").read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice Calc is not installed (Debian: libreoffice-calc-nogui)")
def test_libreoffice_opens_the_export_without_a_formula(tmp_path):
    # The control: a formula in a plain CSV is one for Calc, so the check below can see one.
    control = spreadsheet_of('"prompt","response"\r\n"=1+1","fine"\r\n', tmp_path / "control")
    assert 'table:formula="of:=1+1"' in control

    rows = [([{"role": "user", "content": attack}, {"role": "assistant", "content": attack}], "", [], attack)
            for attack in ATTACKS]  # fmt: skip
    sheet = spreadsheet_of("".join(render("csv", rows)), tmp_path / "export")
    assert "table:formula" not in sheet
    assert sheet.count("<table:table-row") == 1 + len(ATTACKS)  # no cell spilled into a row of its own
    assert "Where is my parcel?" in sheet
