"""A dataset version carries the preference pairs of its examples (corrected drafts), with each example's split,
next to its files; a DPO launch reads them from there."""

from __future__ import annotations

import json

import pytest
from django.core.files.storage import default_storage

from annotation.services import reviews
from annotune.errors import ApplicationError
from curated_data.services import versions
from tests.annotation.draft_helpers import DRAFT, QUESTION, drafted_example, drafting_adapter
from training.services import preference_data

pytestmark = pytest.mark.django_db

FIXED = "Open Settings > Security and choose Reset password. You will get an email."


def _folder(version) -> str:
    return version.train_path.rsplit("/", 1)[0]


def test_a_version_writes_the_pairs_of_its_examples_with_their_split(project, annotator, reviewer, owner):
    drafting_adapter(project, owner)
    example = drafted_example(project, annotator, FIXED)
    reviews.review_approve(example=example, reviewer=reviewer)
    version = versions.version_create(project=project, user=owner)

    lines = default_storage.open(f"{_folder(version)}/preferences.jsonl").read().decode().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["prompt"] == QUESTION
    assert record["chosen"] == [{"role": "assistant", "content": FIXED}]
    assert record["rejected"] == [{"role": "assistant", "content": DRAFT}]
    assert (record["origin"], record["example"]) == ("draft_correction", example.pk)
    manifest = default_storage.open(version.manifest_path).read().decode().splitlines()
    assert record["split"] == json.loads(manifest[0])["split"]

    # What a DPO launch reads: checked pairs in TRL's conversational format, the split kept.
    pairs = preference_data.checked(preference_data.version_records(version))
    assert [(p["chosen"][0]["content"], p.get("split", "train")) for p in pairs] == [(FIXED, record["split"])]


def test_a_version_without_corrected_drafts_has_no_pairs_and_a_dpo_launch_is_told_why(project, annotator, owner):
    from tests.factories import ExampleFactory

    ExampleFactory(project=project, author=annotator, status="approved")
    version = versions.version_create(project=project, user=owner)
    assert not default_storage.exists(f"{_folder(version)}/preferences.jsonl")
    with pytest.raises(ApplicationError, match="no preference pairs yet"):
        preference_data.version_records(version)
