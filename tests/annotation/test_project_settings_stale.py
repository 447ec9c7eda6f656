"""A settings change writes the fields it changes, not a copy of every field read before it."""

from __future__ import annotations

import pytest

from annotation.models import Project
from annotation.services import projects as pj

pytestmark = pytest.mark.django_db


def test_changing_one_setting_keeps_what_another_owner_changed_meanwhile(project, owner):
    stale = Project.objects.get(pk=project.pk)  # this request read the project ...
    # ... then another owner changed the review rule and the reasons
    pj.project_update(
        project=Project.objects.get(pk=project.pk), user=owner, reviews_required=2, reject_reasons=["wrong", "rude"]
    )
    pj.project_update(project=stale, user=owner, description="Answers for the support team")
    row = Project.objects.get(pk=project.pk)
    assert row.description == "Answers for the support team"
    assert row.reviews_required == 2
    assert row.reject_reasons == ["wrong", "rude"]
    assert row.updated_at > project.updated_at
