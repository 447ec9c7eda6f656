"""Forms that start work (a dataset version, a training job, an import) are sent once per page view: a
double click on Create version made two identical versions."""

from __future__ import annotations

import pytest

from annotation.models import ExampleStatus
from curated_data.models import DatasetVersion
from tests.browser.conftest import screenshot
from tests.factories import ExampleFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TWO_SUBMITS = """form => {
    const first = new Event("submit", {cancelable: true, bubbles: true});
    const second = new Event("submit", {cancelable: true, bubbles: true});
    form.dispatchEvent(first);
    form.dispatchEvent(second);
    form.removeAttribute("data-submitting");  // the real click below starts afresh
    return [first.defaultPrevented, second.defaultPrevented];
}"""


def test_a_double_click_on_create_version_makes_one_version(page, login, project, owner, annotator):
    for i in range(12):
        ExampleFactory(project=project, author=annotator, status=ExampleStatus.APPROVED,
                       category=("billing", "general")[i % 2])  # fmt: skip
    login(owner)
    page.goto(f"/projects/{project.pk}/datasets/versions/")
    form = page.locator("form[data-submit-once]")
    assert form.evaluate(TWO_SUBMITS) == [False, True]  # the second submit of the page is stopped

    page.get_by_label("Notes").fill("first release")
    page.get_by_role("button", name="Create version").dblclick()
    page.wait_for_url("**/datasets/versions/1/")
    page.get_by_role("heading", name="Per category").wait_for()
    screenshot(page, "version-created-once")
    assert DatasetVersion.objects.filter(project=project).count() == 1


def test_the_training_forms_are_sent_once(page, login, project, owner):
    login(owner)
    page.goto(f"/projects/{project.pk}/training/")
    assert page.locator("form[data-submit-once]").first.evaluate(TWO_SUBMITS) == [False, True]
