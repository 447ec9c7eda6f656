"""A large dataset version in a real browser: Create version opens the build's page, which follows the
worker and opens the version once it exists (var/screenshots/version-build-*.png)."""

from __future__ import annotations

import pytest

from annotation.models import ExampleStatus
from curated_data.models import VersionBuild
from curated_data.services import versions
from tests.browser.conftest import screenshot
from tests.factories import ExampleFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_version_follows_the_build_and_opens_the_version(page, login, project, owner, annotator, settings):
    settings.ANNOTUNE_VERSION_INLINE_MAX = 5  # twelve approved examples count as many here
    for i in range(12):
        ExampleFactory(project=project, author=annotator, status=ExampleStatus.APPROVED,
                       category=("billing", "general")[i % 2])  # fmt: skip
    login(owner)
    page.goto(f"/projects/{project.pk}/datasets/versions/")
    page.get_by_label("Notes").fill("the big one")
    page.get_by_role("button", name="Create version").click()
    page.wait_for_url("**/datasets/versions/builds/*/")
    panel = page.locator("#version-build")
    assert "Queued" in panel.inner_text()
    assert "More than 5 approved examples" in panel.inner_text()
    screenshot(page, "version-build-queued")

    versions.version_build_run(VersionBuild.objects.get(project=project).pk)  # the worker's part
    page.wait_for_url("**/datasets/versions/1/", timeout=15_000)  # the next poll moves the page on
    page.get_by_role("heading", name="Per category").wait_for()
    assert "the big one" in page.content()
    screenshot(page, "version-build-done")
