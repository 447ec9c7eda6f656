"""The review screen and the example's page show each drafted turn's draft against the final answer, as a
word-level diff whose texts are always escaped."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotation.selectors.drafts import DiffPart, draft_diffs, word_diff
from annotation.services import examples as example_services
from annotation.services import reviews
from tests.annotation.draft_helpers import DRAFT, QUESTION, drafted_example, drafting_adapter

pytestmark = pytest.mark.django_db


def test_word_diff_marks_the_words_taken_out_and_put_in():
    parts = word_diff("Open Settings, then Security.", "Open Settings, then Privacy now.")
    assert parts == [
        DiffPart("equal", "Open Settings, then "),
        DiffPart("delete", "Security"),
        DiffPart("insert", "Privacy now"),
        DiffPart("equal", "."),
    ]
    assert word_diff("Same text.", "Same text.") == [DiffPart("equal", "Same text.")]
    assert word_diff("", "New.") == [DiffPart("insert", "New.")]


def _sides(parts: list[DiffPart]) -> tuple[str, str]:
    """The draft and the final answer read back from a diff."""
    draft = "".join(p.text for p in parts if p.op != "insert")
    final = "".join(p.text for p in parts if p.op != "delete")
    return draft, final


def test_a_long_answer_with_a_few_words_changed_shows_just_those_words():
    words = [f"word{i}" for i in range(1200)]
    draft = " ".join(words)
    final = " ".join(["Word0"] + words[1:600] + ["changed"] + words[601:])
    parts = word_diff(draft, final)
    assert _sides(parts) == (draft, final)
    assert [p.text for p in parts if p.op == "delete"] == ["word0 ", "word600 "]
    assert [p.text for p in parts if p.op == "insert"] == ["Word0 ", "changed "]


def test_a_long_rewrite_shows_the_changed_middle_whole():
    """Past DIFF_MAX_CHANGED_TOKENS changed tokens a side, no word matching: one deletion, one insertion."""
    draft = " ".join(f"old{i}" for i in range(10_000))
    final = " ".join(f"new{i}" for i in range(10_000))
    parts = word_diff("Intro. " + draft + " End.", "Intro. " + final + " End.")
    assert [p.op for p in parts] == ["equal", "delete", "insert", "equal"]
    assert _sides(parts) == ("Intro. " + draft + " End.", "Intro. " + final + " End.")


def test_the_review_screen_shows_the_draft_and_the_final_answer_escaped(client_as, project, annotator, reviewer, owner):
    drafting_adapter(project, owner)
    hostile = 'Open Settings <script>alert("x")</script> then <b onclick="steal()">Reset</b>.'
    example = drafted_example(project, annotator, hostile, draft="Open Settings <img src=x onerror=alert(1)> then go.")
    page = client_as(reviewer).get(reverse("review-screen", args=[project.pk, example.pk])).content.decode()
    assert "Draft and final answer" in page
    assert "Turn 3: Drafted by support-v2 — edited" in page
    assert "Open Settings &lt;<del>img src=x onerror=</del><ins>script&gt;</ins>alert(" in page
    assert "<ins>&lt;b onclick=&quot;steal()&quot;&gt;Reset&lt;/b&gt;</ins>" in page
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert 'onclick="steal()"' not in page
    # The example's own page (its history) shows the same comparison once approved.
    reviews.review_approve(example=example, reviewer=reviewer)
    detail = client_as(annotator).get(reverse("example-detail", args=[project.pk, example.pk])).content.decode()
    assert "<ins>&lt;b onclick=&quot;steal()&quot;&gt;Reset&lt;/b&gt;</ins>" in detail
    assert "<script>alert" not in detail


def test_a_draft_kept_unchanged_or_for_another_question_is_said_so(client_as, project, annotator, reviewer, owner):
    drafting_adapter(project, owner)
    kept = drafted_example(project, annotator, DRAFT)
    page = client_as(reviewer).get(reverse("review-screen", args=[project.pk, kept.pk])).content.decode()
    assert "Drafted by support-v2 — unchanged" in page
    assert "Kept as the model drafted it." in page
    assert "<ins>" not in page
    moved = drafted_example(project, annotator, "Settings › Security.")
    moved.messages = [QUESTION[0], {"role": "user", "content": "Another question?"}, moved.messages[2]]
    (diff,) = draft_diffs(moved)
    assert (diff.note.state, diff.parts) == ("question changed", [])


def test_an_example_without_a_draft_shows_no_comparison(client_as, project, annotator, reviewer):
    example = example_services.example_create(
        project=project,
        author=annotator,
        messages=[*QUESTION, {"role": "assistant", "content": "Hello."}],
        submit=True,
    )
    page = client_as(reviewer).get(reverse("review-screen", args=[project.pk, example.pk])).content.decode()
    assert "Draft and final answer" not in page
