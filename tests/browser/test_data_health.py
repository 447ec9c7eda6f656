"""Data health: a finished run's charts are drawn from json_script data; duplicate clusters are listed."""

from __future__ import annotations

import pytest

from annotation.models import ExampleStatus, ValidationRun
from annotation.services.validation_runs import run_execute
from tests.browser.conftest import screenshot
from tests.factories import ExampleFactory, MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_data_health_draws_charts(page, login):
    user = UserFactory(username="hana")
    project = ProjectFactory(
        name="Health",
        created_by=user,
        categories=[{"name": "billing", "target_share": 0.5}, {"name": "general", "target_share": 0.5}],
    )
    MembershipFactory(project=project, user=user, role="owner")
    for i in range(24):
        ExampleFactory(
            project=project, author=user, status=ExampleStatus.APPROVED, category="billing" if i % 5 else "general"
        )
    same = [{"role": "user", "content": "Where is <i>my</i> invoice?"}, {"role": "assistant", "content": "In Billing."}]
    for _ in range(2):
        ExampleFactory(project=project, author=user, status=ExampleStatus.APPROVED, category="billing", messages=same)
    run = ValidationRun.objects.create(project=project, created_by=user)
    run_execute(run.pk)
    login(user)
    page.goto(f"/projects/{project.pk}/data-health/")
    page.locator("#duplicates").get_by_text("Where is <i>my</i> invoice?").first.wait_for()
    for chart in ("categories", "annotators", "prompt", "response"):
        assert page.evaluate(f"!!Chart.getChart(document.getElementById('chart-{chart}'))"), chart
    findings = page.locator("#dataset-findings")
    assert "Category share off target" in findings.inner_text()
    assert "ds.category_imbalance" not in findings.inner_text()  # the code is in the tooltip only
    assert findings.locator('[title="Check code: ds.category_imbalance"]').count() >= 1
    screenshot(page, "data-health")
