"""Two owners stepping down (or removing each other) at once still leave the project an owner (PostgreSQL).

Each request checks "is there another owner?" and then writes: without a lock over the owners, both
see two owners and both go ahead.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

from annotation.models import Membership, Role
from annotation.services import projects as pj
from annotune.errors import ApplicationError
from tests.factories import ProjectFactory, UserFactory


def _two_owners():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; run with DATABASE_URL=postgres://…")
    project = ProjectFactory(name="Two owners")
    a, b = UserFactory(username="owner-a"), UserFactory(username="owner-b")
    Membership.objects.create(project=project, user=a, role=Role.OWNER)
    Membership.objects.create(project=project, user=b, role=Role.OWNER)
    return project, a, b


def _race(first, second) -> list[str]:
    """`first` runs in a transaction held open until `second` has had its chance; what each did."""
    outcomes: list[str] = []
    first_done, release = threading.Event(), threading.Event()

    def run_first() -> None:
        try:
            with transaction.atomic():
                first()
                first_done.set()
                release.wait(10)
            outcomes.append("first ok")
        finally:
            connections.close_all()

    def run_second() -> None:
        try:
            second()
            outcomes.append("second ok")
        except ApplicationError:
            outcomes.append("second refused")
        finally:
            connections.close_all()

    one = threading.Thread(target=run_first)
    one.start()
    assert first_done.wait(10)
    two = threading.Thread(target=run_second)
    two.start()
    time.sleep(0.5)  # the second request runs while the first has not committed yet
    release.set()
    one.join(10)
    two.join(10)
    assert not one.is_alive()
    assert not two.is_alive()
    return sorted(outcomes)


@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner():
    project, a, b = _two_owners()

    def demote(actor, target):
        return lambda: pj.member_set_role(
            membership=Membership.objects.select_related("project").get(project=project, user=target),
            actor=actor,
            role=Role.REVIEWER,
        )

    outcomes = _race(demote(a, b), demote(b, a))
    assert Membership.objects.filter(project=project, role=Role.OWNER).count() == 1
    assert outcomes == ["first ok", "second refused"]


@pytest.mark.django_db(transaction=True)
def test_two_owners_removing_each_other_at_once_leave_one_owner():
    project, a, b = _two_owners()

    def remove(actor, target):
        return lambda: pj.member_remove(
            membership=Membership.objects.select_related("project").get(project=project, user=target), actor=actor
        )

    outcomes = _race(remove(a, b), remove(b, a))
    assert Membership.objects.filter(project=project, role=Role.OWNER).count() == 1
    assert outcomes == ["first ok", "second refused"]
