"""Version settings: too long a note or override reason is refused by name, never stored cut short."""

from __future__ import annotations

import pytest

from annotune.errors import ApplicationError
from curated_data.models import DatasetVersion
from curated_data.services import versions

pytestmark = pytest.mark.django_db

LIMIT = versions.MAX_TEXT_CHARS


@pytest.mark.parametrize("field", ["notes", "override_reason"])
def test_the_api_refuses_a_text_over_the_limit_and_creates_nothing(api, project, owner, approved, field):
    approved(4)
    url = f"/api/v1/projects/{project.pk}/versions/"
    response = api(owner).post(url, {field: "x" * (LIMIT + 1)}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not DatasetVersion.objects.exists()
    # At the limit it is kept whole.
    response = api(owner).post(url, {"notes": "n" * LIMIT}, format="json")
    assert response.status_code == 201, response.content
    assert DatasetVersion.objects.get().notes == "n" * LIMIT


def test_the_page_refuses_a_note_over_the_limit(client, project, owner, approved):
    approved(4)
    client.force_login(owner)
    response = client.post(f"/projects/{project.pk}/datasets/versions/", {"notes": "x" * (LIMIT + 1)})
    assert response.status_code == 400
    assert f"{LIMIT:,}".encode() in response.content or str(LIMIT).encode() in response.content
    assert not DatasetVersion.objects.exists()


@pytest.mark.parametrize("field", ["notes", "override_reason"])
def test_the_service_refuses_a_text_over_the_limit(project, owner, approved, field):
    approved(4)
    with pytest.raises(ApplicationError) as info:
        versions.version_create(project=project, user=owner, **{field: "y" * (LIMIT + 1)})
    assert field in info.value.extra
    assert not DatasetVersion.objects.exists()
    # Surrounding whitespace does not count and is not stored.
    version = versions.version_create(project=project, user=owner, notes="  " + "z" * LIMIT + "\n")
    assert version.notes == "z" * LIMIT
