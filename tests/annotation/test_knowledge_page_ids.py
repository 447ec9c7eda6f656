"""The knowledge page's delete buttons post an id: a mangled one is "not found", never a server error."""

from __future__ import annotations

import pytest

from annotation.models import Fact, KnowledgeDocument

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("action", ["delete-document", "delete-fact"])
@pytest.mark.parametrize("value", ["abc", "1\x00", "1.5", " ", "-1", "\u00b2", "99999999999999999999", "7" * 5000])
def test_a_bad_id_is_404(client_as, project, owner, action, value):
    document = KnowledgeDocument.objects.create(project=project, title="Refunds", text="Refunds take 5 days.")
    fact = Fact.objects.create(project=project, statement="Refunds take 5 days.")
    client = client_as(owner)
    client.raise_request_exception = False
    response = client.post(f"/projects/{project.pk}/knowledge/", {"action": action, "id": value})
    assert response.status_code == 404
    assert KnowledgeDocument.objects.filter(pk=document.pk).exists()
    assert Fact.objects.filter(pk=fact.pk).exists()


@pytest.mark.parametrize("action", ["delete-document", "delete-fact"])
def test_a_good_id_still_deletes(client_as, project, owner, action):
    document = KnowledgeDocument.objects.create(project=project, title="Refunds", text="Refunds take 5 days.")
    fact = Fact.objects.create(project=project, statement="Refunds take 5 days.")
    target = document if action == "delete-document" else fact
    response = client_as(owner).post(f"/projects/{project.pk}/knowledge/", {"action": action, "id": str(target.pk)})
    assert response.status_code == 302
    assert not type(target).objects.filter(pk=target.pk).exists()
