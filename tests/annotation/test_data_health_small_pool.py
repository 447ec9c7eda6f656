"""Data health on a pool too small for balance statistics: it says so, and never shows "0 warnings" as an all-clear."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import ExampleStatus, ValidationRun
from annotation.selectors.quality import pool_size_view
from annotation.services import validation_runs as run_services
from tests.factories import ExampleFactory
from validators import DatasetThresholds

pytestmark = pytest.mark.django_db

MINIMUM = DatasetThresholds().min_examples


def _approved(project, author, n: int) -> None:
    for i in range(n):
        ExampleFactory(
            project=project,
            author=author,
            status=ExampleStatus.APPROVED,
            category="billing",
            messages=[
                {"role": "user", "content": f"Where is invoice {i * 13}?"},
                {"role": "assistant", "content": f"Open Billing and search for invoice {i * 13} by its date."},
            ],
        )


def _health_page(project, owner, n: int, annotator) -> str:
    project.categories = [{"name": "billing", "target_share": 0.7}, {"name": "general", "target_share": 0.3}]
    project.general_category = "general"
    project.save()
    _approved(project, annotator, n)
    run = run_services.run_start(project=project, user=owner)
    run_services.run_execute(run.pk)
    assert ValidationRun.objects.get(pk=run.pk).status == "succeeded"
    client = Client()
    client.force_login(owner)
    response = client.get(reverse("data-health", args=[project.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_small_pool_is_named_and_warnings_are_not_an_all_clear(project, owner, annotator):
    html = _health_page(project, owner, 3, annotator)
    assert f"Only 3 approved examples: too few to judge balance; these checks start at {MINIMUM}." in html
    assert 'id="pool-too-small"' in html
    # The warnings tile does not read "0 dataset warnings".
    tile = re.search(r'id="warnings-not-judged"><strong>(.*?)</strong>', html)
    assert tile is not None
    assert tile.group(1) == "not judged"
    assert not re.search(r"<strong>0</strong><span>dataset warnings</span>", html)
    assert "No dataset-level findings, but that is not an all-clear" in html
    assert f"too few to judge against the targets (from {MINIMUM})" in html


def test_big_enough_pool_shows_the_plain_counts(project, owner, annotator):
    html = _health_page(project, owner, MINIMUM, annotator)
    assert "too few to judge" not in html
    assert 'id="pool-too-small"' not in html
    assert "<span>dataset warnings</span>" in html


@pytest.mark.parametrize(("n", "too_small"), [(0, True), (1, True), (MINIMUM - 1, True), (MINIMUM, False)])
def test_pool_size_view(n, too_small):
    view = pool_size_view(n)
    assert view["too_small"] is too_small
    assert view["minimum"] == MINIMUM
    if too_small:
        assert view["message"].startswith(f"Only {n} approved example")
        assert "these checks start at" in view["message"]
    else:
        assert view["message"] == ""
    assert pool_size_view(1)["message"].startswith("Only 1 approved example:")
