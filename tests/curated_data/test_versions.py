"""Dataset versions: same content → same hash; a stable, disjoint, stratified split; immutable files; diffs."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.files.storage import default_storage

from annotation.models import Example, ExampleStatus
from annotune.errors import ApplicationError
from curated_data import selectors
from curated_data.models import DatasetVersion
from curated_data.services import versions
from tests.factories import ExampleFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def create(project, owner, **kwargs) -> DatasetVersion:
    return versions.version_create(project=project, user=owner, **kwargs)


def test_a_version_snapshots_only_approved_examples(project, owner, annotator, approved):
    approved(10)
    ExampleFactory(project=project, author=annotator, status=ExampleStatus.SUBMITTED)
    version = create(project, owner, notes="first")
    assert (version.number, version.example_count) == (1, 10)
    assert version.train_count + version.validation_count == 10
    assert version.category_counts == {
        "billing": {"total": 5, "train": 4, "validation": 1},
        "general": {"total": 5, "train": 4, "validation": 1},
    }
    assert version.guideline_sha256 == hashlib.sha256(project.guidelines.encode()).hexdigest()
    with default_storage.open(version.all_path, "rb") as stream:
        data = stream.read()
    assert hashlib.sha256(data).hexdigest() == version.sha256
    assert len(data.splitlines()) == 10
    assert create(project, owner).number == 2


def test_identical_content_gives_the_identical_hash_whatever_the_ids_or_order(owner, annotator, approved, project):
    approved(12)
    first = create(project, owner)
    # The same conversations in another project, created in reverse order (other ids, other order).
    other = ProjectFactory(name="Copy")
    from annotation.models import Membership, Role

    Membership.objects.create(project=other, user=owner, role=Role.OWNER)
    for example in Example.objects.filter(project=project).order_by("-id"):
        ExampleFactory(
            project=other,
            author=owner,
            status=ExampleStatus.APPROVED,
            messages=example.messages,
            category=example.category,
        )
    second = create(other, owner)
    assert second.sha256 == first.sha256
    assert (second.train_sha256, second.validation_sha256) == (first.train_sha256, first.validation_sha256)
    # Any change of content changes the hash.
    Example.objects.filter(project=other).order_by("id").first().delete()
    assert create(other, owner).sha256 != first.sha256


def test_the_split_is_stable_disjoint_and_stratified(project, owner, approved):
    approved(60, categories=("billing", "general", "billing"))
    a = create(project, owner, seed=7, validation_fraction=0.25)
    b = create(project, owner, seed=7, validation_fraction=0.25)
    train_a, val_a = selectors.version_read_split(a)
    train_b, val_b = selectors.version_read_split(b)
    assert (train_a, val_a) == (train_b, val_b)
    as_keys = lambda rows: {json.dumps(r["messages"]) for r in rows}  # noqa: E731
    assert not as_keys(train_a) & as_keys(val_a)
    assert len(train_a) + len(val_a) == 60
    assert a.category_counts == {
        "billing": {"total": 40, "train": 30, "validation": 10},
        "general": {"total": 20, "train": 15, "validation": 5},
    }
    assert {r["category"] for r in val_a} == {"billing", "general"}
    assert set(train_a[0]) == {"messages", "category"}
    # Another seed, another split; the same sizes.
    c = create(project, owner, seed=8, validation_fraction=0.25)
    _, val_c = selectors.version_read_split(c)
    assert as_keys(val_c) != as_keys(val_a)
    assert len(val_c) == len(val_a)


def test_adding_examples_keeps_earlier_examples_on_their_side(project, owner, approved):
    approved(40)
    first = create(project, owner, seed=3, validation_fraction=0.2)
    approved(4, start=40)
    second = create(project, owner, seed=3, validation_fraction=0.2)
    side = lambda v: {row["id"]: row["split"] for row in selectors._read_lines(v, "manifest", None)}  # noqa: E731
    before, after = side(first), side(second)
    moved = [pk for pk in before if before[pk] != after[pk]]
    assert len(moved) <= 2  # only the cut-off between ranks can move


def test_diff_lists_added_removed_and_changed_examples(project, owner, annotator, approved):
    examples = approved(6)
    v1 = create(project, owner)
    removed = examples[0].pk
    examples[0].delete()
    Example.objects.filter(pk=examples[1].pk).update(
        category="general" if examples[1].category == "billing" else "billing"
    )
    Example.objects.filter(pk=examples[2].pk).update(
        messages=[{"role": "user", "content": "Changed"}, {"role": "assistant", "content": "Yes"}]
    )
    new = approved(1, start=100)[0]
    v2 = create(project, owner)
    diff = selectors.version_diff(v1, v2)
    assert diff.added == [new.pk]
    assert diff.removed == [removed]
    assert diff.changed == sorted([examples[1].pk, examples[2].pk])
    assert diff.unchanged == 3


def test_no_approved_examples_no_version(project, owner):
    with pytest.raises(ApplicationError, match="no approved examples"):
        create(project, owner)
    assert not DatasetVersion.objects.exists()


def test_blocking_check_errors_need_an_owner_override_reason(project, owner, approved, monkeypatch):
    approved(4)
    report = {"errors": [{"code": "balance", "severity": "error", "message": "Too few billing examples."}]}
    monkeypatch.setattr(versions, "run_dataset_checks", lambda examples, project: {**report, "checks": ["balance"]})
    with pytest.raises(ApplicationError) as info:
        create(project, owner)
    assert "override_reason" in info.value.extra
    version = create(project, owner, override_reason="Billing examples are being written this week.")
    assert version.override_reason == "Billing examples are being written this week."
    assert version.validation_report["errors"] == report["errors"]


def test_a_damaged_file_is_refused_when_training_reads_it(project, owner, approved, storage_root):
    approved(5)
    version = create(project, owner)
    (storage_root / version.train_path).write_text("{}\n")
    with pytest.raises(ApplicationError, match="does not match its recorded sha256"):
        selectors.version_read_split(version)


def test_versions_api_create_detail_download_and_diff(api, project, owner, annotator, approved):
    approved(8)
    client = api(owner)
    base = f"/api/v1/projects/{project.pk}/versions/"
    response = client.post(base, {"notes": "n", "seed": 1, "validation_fraction": 0.25}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["number"], body["example_count"], body["split_seed"]) == (1, 8, 1)
    approved(2, start=50)
    assert client.post(base, {}, format="json").status_code == 201
    member = api(annotator)
    assert [v["number"] for v in member.get(base).json()["results"]] == [2, 1]
    assert member.get(f"{base}1/").json()["sha256"] == body["sha256"]
    download = member.get(f"{base}1/download/", {"part": "train"})
    assert download.status_code == 200
    assert len(b"".join(download.streaming_content).splitlines()) == body["train_count"]
    assert member.get(f"{base}1/download/", {"part": "secrets"}).status_code == 404
    diff = member.get(f"{base}1/diff/2/").json()
    assert (len(diff["added"]), diff["removed"], diff["changed"], diff["unchanged"]) == (2, [], [], 8)


def test_versions_have_no_update_path(api, project, owner, approved):
    approved(2)
    create(project, owner)
    url = f"/api/v1/projects/{project.pk}/versions/1/"
    assert api(owner).patch(url, {"notes": "x"}, format="json").status_code == 405
    assert api(owner).delete(url).status_code == 405


def test_version_pages(client, project, owner, approved):
    approved(4)
    client.force_login(owner)
    base = f"/projects/{project.pk}/datasets/versions/"
    assert client.get(base).status_code == 200
    response = client.post(base, {"notes": "from the page", "validation_fraction": "0.5"})
    assert response.status_code == 302
    assert client.get(f"{base}1/").status_code == 200
    create(project, owner)
    page = client.get(f"{base}diff/", {"base": 1, "target": 2})
    assert page.status_code == 200
    assert b"0 added" in page.content
    download = client.get(f"{base}1/download/all/")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")


def test_version_list_queries_do_not_grow(client, project, owner, approved, django_assert_max_num_queries):
    approved(3)
    for _ in range(5):
        create(project, owner)
    client.force_login(owner)
    with django_assert_max_num_queries(10):
        assert client.get(f"/projects/{project.pk}/datasets/versions/").status_code == 200


def test_the_version_page_lists_categories_alphabetically(client, project, owner, approved):
    """PostgreSQL's JSON keeps keys ordered by length; the page sorts them by name."""
    approved(6, categories=("shipping", "account", "billing-disputes"))
    version = create(project, owner)
    client.force_login(owner)
    page = client.get(f"/projects/{project.pk}/datasets/versions/{version.number}/").content.decode()
    table = page[page.index("Per category") :]
    positions = [table.index(f"<td>{name}</td>") for name in ("account", "billing-disputes", "shipping")]
    assert positions == sorted(positions)
