"""Continue training through the worker's finish writer: the new adapter's lineage names its parent and
the adapter list shows the chain."""

from __future__ import annotations

import pytest

from serving.models import Adapter
from training.models import JobStatus

pytestmark = pytest.mark.django_db


def test_lineage_records_the_parent_adapter(pages, project, make_job, store, engine_runs, adapter):
    child_job = store(make_job(parent_adapter=adapter), engine_runs["succeeded"])
    assert child_job.status == JobStatus.SUCCEEDED
    child = Adapter.objects.get(job=child_job)
    assert child.lineage["parent_adapter"]["id"] == adapter.pk
    assert child.lineage["parent_adapter"]["name"] == adapter.name
    listing = pages.get(f"/projects/{project.pk}/adapters/").content.decode()
    assert f'continued from: <a href="/projects/{project.pk}/adapters/{adapter.pk}/">' in listing
    page = pages.get(f"/projects/{project.pk}/training/{child_job.pk}/").content.decode()
    assert "Continues training from adapter" in page
