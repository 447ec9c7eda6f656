"""Review pages: the review screen and its decisions, my work, dashboard, bulk actions, comments."""

from __future__ import annotations

import pytest

from annotation.models import Comment, Example, ExampleStatus, Transition
from annotation.services import examples as ex
from annotation.services import reviews as rv
from tests.factories import conversation

pytestmark = pytest.mark.django_db
S = ExampleStatus


def submitted(project, author, n: int = 0) -> Example:
    example = ex.example_create(project=project, author=author, messages=conversation(n), submit=True)
    example.refresh_from_db()
    return example


def test_review_next_claims_and_opens_the_screen(client_as, project, annotator, reviewer):
    first = submitted(project, annotator, 1)
    submitted(project, annotator, 2)
    Example.objects.filter(pk=first.pk).update(
        findings=[{"code": "fmt.space", "severity": "warning", "message": "Trailing space", "location": "messages[1]"}]
    )
    client = client_as(reviewer)
    response = client.get(f"/projects/{project.pk}/review/?category=")
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.pk}/review/{first.pk}/"
    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Question number 1" in html
    assert "Trailing space" in html  # findings shown
    assert "Answer briefly and politely." in html  # guidelines at hand
    for key in ("<kbd>a</kbd> Approve", "<kbd>r</kbd> Reject", "<kbd>c</kbd> Request changes", "<kbd>e</kbd> Edit"):
        assert key in html
    assert Example.objects.get(pk=first.pk).claimed_by == reviewer


def test_decisions_from_the_screen_move_to_the_next(client_as, project, annotator, reviewer):
    first, second = submitted(project, annotator, 1), submitted(project, annotator, 2)
    client = client_as(reviewer)
    response = client.post(f"/projects/{project.pk}/review/{first.pk}/decide/", {"action": "approve"})
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.pk}/review/?after={first.pk}"
    assert client.get(response["Location"])["Location"] == f"/projects/{project.pk}/review/{second.pk}/"
    response = client.post(
        f"/projects/{project.pk}/review/{second.pk}/decide/",
        {"action": "reject", "reason": "style", "comment": "Too terse."},
    )
    assert response.status_code == 302
    assert Example.objects.get(pk=second.pk).status == S.REJECTED
    empty = client.get(response["Location"])
    assert empty.status_code == 200
    assert b"Nothing waiting for you" in empty.content


def test_a_refused_decision_keeps_the_comment(client_as, project, annotator, reviewer):
    example = submitted(project, annotator)
    client = client_as(reviewer)
    response = client.post(
        f"/projects/{project.pk}/review/{example.pk}/decide/", {"action": "reject", "comment": "Keep me"}
    )
    assert response.status_code == 400
    assert b"Choose a reason" in response.content
    assert b"Keep me" in response.content
    assert Example.objects.get(pk=example.pk).status == S.SUBMITTED


def test_annotators_cannot_decide_on_pages(client_as, project, annotator, annotator2):
    example = submitted(project, annotator)
    client = client_as(annotator2)
    response = client.post(f"/projects/{project.pk}/review/{example.pk}/decide/", {"action": "approve"})
    assert response.status_code == 403
    assert client.get(f"/projects/{project.pk}/review/{example.pk}/").status_code == 403
    assert client.get(f"/projects/{project.pk}/review/")["Location"] == f"/projects/{project.pk}/my-work/"
    assert Example.objects.get(pk=example.pk).status == S.SUBMITTED


def test_outsiders_see_nothing(client_as, project, annotator, outsider):
    example = submitted(project, annotator)
    client = client_as(outsider)
    for url in ("review/", f"review/{example.pk}/", "my-work/", "dashboard/", "bulk/"):
        assert client.get(f"/projects/{project.pk}/{url}").status_code == 404


def test_own_example_screen_offers_no_decision(client_as, project, reviewer):
    example = submitted(project, reviewer)
    page = client_as(reviewer).get(f"/projects/{project.pk}/review/{example.pk}/")
    assert b"You wrote this example" in page.content
    assert b'id="approve-form"' not in page.content


def test_edit_and_approve_page(client_as, project, annotator, reviewer):
    example = submitted(project, annotator)
    client = client_as(reviewer)
    url = f"/projects/{project.pk}/review/{example.pk}/edit/"
    assert client.get(url).status_code == 200
    posted = {
        "version": "1",
        "role": ["user", "assistant"],
        "content": ["Question number 0: how do I export invoice 0?", "Billing → Export as PDF."],
        "comment": "Shortened.",
    }
    response = client.post(url, posted)
    assert response.status_code == 302
    example.refresh_from_db()
    assert example.status == S.APPROVED
    assert example.messages[1]["content"] == "Billing → Export as PDF."
    assert example.revisions.first().author == reviewer
    stale = client.post(url, posted)
    assert stale.status_code == 400


def test_my_work_shows_returned_examples_with_comments(
    client_as, project, annotator, reviewer, django_assert_max_num_queries
):
    examples = [submitted(project, annotator, n) for n in range(6)]
    for n, example in enumerate(examples):
        if n % 2:
            rv.review_reject(example=example, reviewer=reviewer, reason="style", comment=f"Comment number {n}")
        else:
            rv.review_request_changes(example=example, reviewer=reviewer, comment=f"Comment number {n}")
        rv.comment_add(example=example, user=annotator, body=f"Reply {n}")
    client = client_as(annotator)
    url = f"/projects/{project.pk}/my-work/"
    client.get(url)
    with django_assert_max_num_queries(12):
        page = client.get(url)
    html = page.content.decode()
    for n in range(6):
        assert f"Comment number {n}" in html
        assert f"Reply {n}" in html
    assert 'reason <strong title="style">style</strong>' in html


def test_dashboard_renders_with_a_fixed_number_of_queries(
    client_as, project, annotator, annotator2, reviewer, owner, django_assert_max_num_queries
):
    for n in range(4):
        example = submitted(project, annotator if n % 2 else annotator2, n)
        rv.review_approve(example=example, reviewer=reviewer)
    client = client_as(owner)
    url = f"/projects/{project.pk}/dashboard/"
    client.get(url)
    with django_assert_max_num_queries(16):
        page = client.get(url)
    html = page.content.decode()
    assert "100.0%</strong> approved" in html
    assert "Acceptance per annotator" in html


def test_bulk_page_confirms_before_acting(client_as, project, annotator, owner, reviewer):
    examples = [submitted(project, annotator, n) for n in range(3)]
    client = client_as(owner)
    url = f"/projects/{project.pk}/bulk/"
    page = client.get(url, {"status": "submitted"})
    assert b"<strong>3</strong> examples selected" in page.content
    form = {"status": "submitted", "q": "", "category": "", "author": "", "ids": "", "action": "approve"}
    confirm = client.post(url, form)
    assert confirm.status_code == 200
    assert b"Approve submitted examples?" in confirm.content
    assert Example.objects.filter(status=S.APPROVED).count() == 0
    done = client.post(url, {**form, "confirm": "yes"})
    assert done.status_code == 302
    assert Example.objects.filter(status=S.APPROVED).count() == 3
    assert Transition.objects.filter(reason="bulk_approve").count() == 3
    assert client_as(reviewer).get(url).status_code == 403
    assert examples


def test_example_detail_shows_thread_and_reopen(client_as, project, annotator, annotator2, reviewer, owner):
    example = submitted(project, annotator)
    rv.review_approve(example=example, reviewer=reviewer, comment="Nice and short.")
    detail = f"/projects/{project.pk}/examples/{example.pk}/"
    page = client_as(annotator).get(detail)
    assert b"Nice and short." in page.content
    assert b"Reopen" not in page.content
    assert b"Nice and short." not in client_as(annotator2).get(detail).content
    owner_client = client_as(owner)
    assert b"Reopen" in owner_client.get(detail).content
    response = client_as(annotator).post(f"{detail}comments/", {"body": "Thanks!"})
    assert response.status_code == 302
    assert Comment.objects.filter(body="Thanks!", author=annotator).exists()
    owner_client.post(f"{detail}reopen/")
    assert Example.objects.get(pk=example.pk).status == S.SUBMITTED
    page = owner_client.get(detail).content.decode()
    assert "approved → <strong>submitted</strong> by olivia" in page
