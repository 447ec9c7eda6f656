"""Projects, members, examples and revisions through their services."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from annotation.models import Example, ExampleStatus, Membership, Revision, Role, Transition
from annotation.services import examples as ex
from annotation.services import projects as pj
from annotation.services.conversations import content_hash
from annotune.errors import ApplicationError, ConflictError

pytestmark = pytest.mark.django_db


def test_project_create_makes_creator_owner(owner):
    project = pj.project_create(
        user=owner,
        name="  Legal helper ",
        categories=[{"name": "contracts", "target_share": 0.6}, "general"],
        style_tags=["concise", "concise", "formal"],
    )
    assert project.name == "Legal helper"
    assert project.categories == [
        {"name": "contracts", "target_share": 0.6},
        {"name": "general", "target_share": None},
    ]
    assert project.style_tags == ["concise", "formal"]
    assert Membership.objects.get(project=project, user=owner).role == Role.OWNER


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"categories": [{"name": "a", "target_share": 0.8}, {"name": "b", "target_share": 0.5}]}, "categories"),
        ({"categories": [{"name": "a", "target_share": 2}]}, "categories"),
        ({"reviews_required": 4}, "reviews_required"),
        ({"response_schema": {"type": "nonsense"}}, "response_schema"),
        ({"glossary": {"sign in": "login"}}, "glossary"),
        ({"name": "   "}, "name"),
    ],
)
def test_project_update_rejects_bad_settings(project, owner, fields, bad_field):
    before = project.__class__.objects.values().get(pk=project.pk)
    with pytest.raises(ApplicationError) as info:
        pj.project_update(project=project, user=owner, **fields)
    assert bad_field in info.value.extra
    assert project.__class__.objects.values().get(pk=project.pk) == before


def test_only_owners_change_settings(project, annotator):
    with pytest.raises(PermissionDenied):
        pj.project_update(project=project, user=annotator, name="Mine now")


def test_members_add_change_remove(project, owner, outsider):
    membership = pj.member_add(project=project, actor=owner, username=outsider.username, role="reviewer")
    assert membership.role == Role.REVIEWER
    with pytest.raises(ApplicationError, match="already a member"):
        pj.member_add(project=project, actor=owner, username=outsider.username)
    with pytest.raises(ApplicationError, match="No user"):
        pj.member_add(project=project, actor=owner, username="nobody")
    with pytest.raises(ApplicationError, match="Unknown role"):
        pj.member_add(project=project, actor=owner, username="nobody", role="king")
    pj.member_set_role(membership=membership, actor=owner, role="annotator")
    membership.refresh_from_db()
    assert membership.role == Role.ANNOTATOR
    pj.member_remove(membership=membership, actor=owner)
    assert not Membership.objects.filter(project=project, user=outsider).exists()


def test_last_owner_cannot_leave(project, owner):
    own = Membership.objects.get(project=project, user=owner)
    with pytest.raises(ApplicationError, match="at least one owner"):
        pj.member_remove(membership=own, actor=owner)
    with pytest.raises(ApplicationError, match="at least one owner"):
        pj.member_set_role(membership=own, actor=owner, role="annotator")


def test_example_create_writes_revision_and_hash(project, annotator, two_turns):
    example = ex.example_create(project=project, author=annotator, messages=two_turns, category="billing")
    assert example.status == ExampleStatus.DRAFT
    assert example.version == 1
    assert example.content_hash == content_hash(two_turns)
    revision = Revision.objects.get(example=example)
    assert (revision.version, revision.author, revision.messages) == (1, annotator, two_turns)


def test_content_hash_ignores_case_and_spacing(two_turns):
    noisy = [{"role": m["role"], "content": "  " + m["content"].upper().replace(" ", "   ")} for m in two_turns]
    assert content_hash(noisy) == content_hash(two_turns)
    assert content_hash(two_turns[:1]) != content_hash(two_turns)


def test_example_update_bumps_version_and_records_changes(project, annotator, two_turns):
    example = ex.example_create(project=project, author=annotator, messages=two_turns)
    changed = [
        *two_turns,
        {"role": "user", "content": "Thanks! And my e-mail?"},
        {"role": "assistant", "content": "Change it under Profile."},
    ]
    example = ex.example_update(example=example, user=annotator, version=1, messages=changed, category="general")
    assert example.version == 2
    latest = example.revisions.first()
    assert latest.version == 2
    assert set(latest.changed_fields) == {"messages", "category"}
    assert example.revisions.count() == 2


def test_stale_version_is_refused_and_nothing_overwritten(project, annotator, two_turns):
    example = ex.example_create(project=project, author=annotator, messages=two_turns)
    first = [dict(two_turns[0]), {"role": "assistant", "content": "First save wins."}]
    ex.example_update(example=Example.objects.get(pk=example.pk), user=annotator, version=1, messages=first)
    stale = [dict(two_turns[0]), {"role": "assistant", "content": "Second save is stale."}]
    with pytest.raises(ConflictError, match="Someone else saved"):
        ex.example_update(example=Example.objects.get(pk=example.pk), user=annotator, version=1, messages=stale)
    example.refresh_from_db()
    assert example.messages[1]["content"] == "First save wins."
    assert example.version == 2
    assert example.revisions.count() == 2


def test_submit_moves_to_submitted_and_audits(project, annotator, two_turns):
    example = ex.example_create(project=project, author=annotator, messages=two_turns)
    example = ex.example_submit(example=example, user=annotator)
    assert example.status == ExampleStatus.SUBMITTED
    assert example.submitted_at is not None
    transition = Transition.objects.get(example=example)
    assert (transition.from_status, transition.to_status, transition.actor) == ("draft", "submitted", annotator)
    with pytest.raises(ApplicationError, match="already submitted"):
        ex.example_submit(example=example, user=annotator)
    with pytest.raises(ApplicationError, match="can no longer be edited"):
        ex.example_update(example=example, user=annotator, version=example.version, messages=two_turns)


def test_submit_needs_a_final_assistant_turn(project, annotator):
    example = ex.example_create(project=project, author=annotator, messages=[{"role": "user", "content": "Hi"}])
    with pytest.raises(ApplicationError, match="end with an assistant turn"):
        ex.example_submit(example=example, user=annotator)
    example.refresh_from_db()
    assert example.status == ExampleStatus.DRAFT


def test_annotator_cannot_edit_another_members_example(project, annotator, annotator2, owner, two_turns):
    example = ex.example_create(project=project, author=annotator, messages=two_turns)
    with pytest.raises(PermissionDenied):
        ex.example_update(example=example, user=annotator2, version=1, messages=two_turns[:1])
    with pytest.raises(PermissionDenied):
        ex.example_submit(example=example, user=annotator2)
    # An owner may fix anyone's draft.
    fixed = [two_turns[0], {"role": "assistant", "content": "Settings → Security → Reset password."}]
    assert ex.example_update(example=example, user=owner, version=1, messages=fixed).version == 2


def test_returned_example_goes_back_to_draft_when_edited(project, annotator, two_turns):
    example = ex.example_create(project=project, author=annotator, messages=two_turns, submit=True)
    Example.objects.filter(pk=example.pk).update(status=ExampleStatus.CHANGES_REQUESTED)
    example.refresh_from_db()
    edited = [two_turns[0], {"role": "assistant", "content": "Better answer."}]
    example = ex.example_update(example=example, user=annotator, version=example.version, messages=edited)
    assert example.status == ExampleStatus.DRAFT
    assert Transition.objects.filter(example=example, to_status="draft").exists()
