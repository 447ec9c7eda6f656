"""The admin shows dataset versions read-only: no change, no add, no delete (single or bulk)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from curated_data.models import DatasetVersion
from curated_data.services import versions

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def test_a_superuser_cannot_delete_a_version_in_the_admin(admin_client, project, owner, approved):
    approved(4)
    version = versions.version_create(project=project, user=owner)
    base = "/admin/datasets/datasetversion/"  # the app label predates the package rename
    listing = admin_client.get(base)
    assert listing.status_code == 200
    assert b"delete_selected" not in listing.content
    assert admin_client.get(f"{base}{version.pk}/delete/").status_code == 403
    assert admin_client.post(f"{base}{version.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = admin_client.post(base, {"action": "delete_selected", "_selected_action": [version.pk], "post": "yes"})
    assert bulk.status_code in (200, 302)
    assert DatasetVersion.objects.filter(pk=version.pk).exists()
    # A new version takes the next number, never a freed one.
    assert versions.version_create(project=project, user=owner).number == version.number + 1
