"""The knowledge fingerprint (one query) changes with every change to a project's knowledge base."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.models import Role
from annotation.services import knowledge
from annotation.services.validation import has_knowledge, knowledge_fingerprint
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def fingerprint(project) -> tuple:
    with CaptureQueriesContext(connection) as ctx:
        value = knowledge_fingerprint(project)
    assert len(ctx.captured_queries) == 1
    return value


def test_each_addition_and_removal_changes_it(project, owner):
    other = ProjectFactory(created_by=owner)
    MembershipFactory(project=other, user=owner, role=Role.OWNER)
    knowledge.document_add(project=other, user=owner, title="Other", text="Another project's text.")
    empty = fingerprint(project)
    assert empty == (0, None, 0, None, 0, None)
    assert not has_knowledge(empty)

    document = knowledge.document_add(project=project, user=owner, title="Plans", text="Pro costs 40 euros.")
    with_document = fingerprint(project)
    assert with_document == (1, document.pk, 0, None, 0, None)
    assert has_knowledge(with_document)

    fact = knowledge.fact_add(project=project, user=owner, statement="Refunds take 5 days.")
    verification = knowledge.claim_verify(project=project, user=owner, claim="Pro costs 40 euros.", source="price list")
    full = fingerprint(project)
    assert full == (1, document.pk, 1, fact.pk, 1, verification.pk)

    again = knowledge.claim_verify(project=project, user=owner, claim="Pro costs 40 euros.", source="new list")
    assert fingerprint(project) == (1, document.pk, 1, fact.pk, 1, again.pk)  # replaced: a new id
    knowledge.fact_delete(fact=fact, user=owner)
    assert fingerprint(project) == (1, document.pk, 0, None, 1, again.pk)
