"""The review queue under concurrency: 8 reviewers on 8 connections pulling "next" at once (PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from annotation.models import Example, ExampleStatus, Membership, Review, Role
from annotation.services import reviews as rv
from tests.factories import ExampleFactory, ProjectFactory, UserFactory

THREADS = 8
EXAMPLES = 120


def _require_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "row locks (SELECT … FOR UPDATE SKIP LOCKED) need PostgreSQL; "
            "run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/test"
        )


@pytest.mark.django_db(transaction=True)
def test_eight_reviewers_never_share_a_claim_and_review_each_example_once():
    _require_postgres()
    author = UserFactory(username="author")
    project = ProjectFactory(name="Concurrency")
    Membership.objects.create(project=project, user=author, role=Role.ANNOTATOR)
    reviewers = [UserFactory(username=f"reviewer{i}") for i in range(THREADS)]
    Membership.objects.bulk_create(Membership(project=project, user=u, role=Role.REVIEWER) for u in reviewers)
    ExampleFactory.create_batch(
        EXAMPLES, project=project, author=author, status=ExampleStatus.SUBMITTED, review_round=1
    )
    submitted = set(Example.objects.filter(project=project).values_list("pk", flat=True))

    lock = threading.Lock()
    held: dict[int, int] = {}  # example id → thread holding its claim right now
    handed_out: list[int] = []
    overlaps: list[tuple[int, int, int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(index: int) -> None:
        reviewer = reviewers[index]
        try:
            start.wait()
            while True:
                example = rv.review_queue_next(project=project, reviewer=reviewer)
                if example is None:
                    break
                with lock:
                    if example.pk in held:
                        overlaps.append((example.pk, held[example.pk], index))
                    held[example.pk] = index
                    handed_out.append(example.pk)
                rv.review_approve(example=example, reviewer=reviewer)
                # Approved and committed: nobody may get it again, so our mark can go.
                with lock:
                    del held[example.pk]
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a reviewer thread hung"
    assert not errors, errors
    assert not overlaps, f"examples handed to two reviewers while claimed: {overlaps[:5]}"
    counts = Counter(handed_out)
    assert [pk for pk, n in counts.items() if n > 1] == []
    assert set(handed_out) == submitted
    reviews = Counter(Review.objects.filter(project=project).values_list("example_id", flat=True))
    assert set(reviews) == submitted
    assert set(reviews.values()) == {1}, "every submitted example is reviewed exactly once"
    assert not Example.objects.filter(project=project).exclude(status=ExampleStatus.APPROVED).exists()
    assert len(set(Review.objects.filter(project=project).values_list("reviewer_id", flat=True))) > 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_next_calls_hand_out_distinct_examples():
    """All 8 reviewers ask at the same moment and hold their claims: 8 different examples."""
    _require_postgres()
    author = UserFactory(username="author")
    project = ProjectFactory(name="Claims")
    reviewers = [UserFactory(username=f"holder{i}") for i in range(THREADS)]
    Membership.objects.bulk_create(Membership(project=project, user=u, role=Role.REVIEWER) for u in reviewers)
    ExampleFactory.create_batch(
        THREADS + 2, project=project, author=author, status=ExampleStatus.SUBMITTED, review_round=1
    )
    start = threading.Barrier(THREADS)
    got: dict[int, int | None] = {}
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            start.wait()
            for _ in range(5):  # asking again keeps the same claim
                example = rv.review_queue_next(project=project, reviewer=reviewers[index])
                if got.setdefault(index, example.pk) != example.pk:
                    raise AssertionError(f"reviewer {index} switched from {got[index]} to {example.pk}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(set(got.values())) == THREADS
    claims = dict(Example.objects.filter(claimed_by__isnull=False).values_list("pk", "claimed_by"))
    assert len(claims) == THREADS
