""" "Add member" sent twice at once (a double click): one adds, the other is told, never a 500 (PostgreSQL)."""

from __future__ import annotations

import pytest

from annotation.models import Membership, Role
from annotation.services import projects as pj
from tests.annotation.test_owner_race import _race, _two_owners
from tests.factories import UserFactory


@pytest.mark.django_db(transaction=True)
def test_adding_the_same_member_twice_at_once_adds_once_and_refuses_the_other():
    project, a, b = _two_owners()
    newcomer = UserFactory(username="newcomer")

    def add(actor):
        return lambda: pj.member_add(project=project, actor=actor, username=newcomer.username, role=Role.REVIEWER)

    outcomes = _race(add(a), add(b))
    assert outcomes == ["first ok", "second refused"]
    assert Membership.objects.filter(project=project, user=newcomer).count() == 1
