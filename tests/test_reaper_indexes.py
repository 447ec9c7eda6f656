"""The reapers run every minute over tables that only grow (a generation request per playground answer):
each of their queries reads the few queued / running rows through an index, never the whole table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from annotation.models import DraftBatch, ValidationRun
from annotune import work
from curated_data.models import ImportJob, VersionBuild
from evaluation.models import Evaluation
from serving.models import AdapterOperation, GenerationRequest

pytestmark = pytest.mark.django_db


def reaper_queries():
    cutoff = timezone.now() - timedelta(minutes=5)
    for model in (GenerationRequest, AdapterOperation, ImportJob, ValidationRun, VersionBuild, DraftBatch):
        # dispatch.lost_messages: queued rows waiting longer than the cutoff, oldest first.
        yield model.objects.filter(status="queued", created_at__lt=cutoff).order_by("pk").values_list("pk")[:500]
    # serving.services.reaper.reap_generations: silent (annotune.work.silent), or started too long ago.
    too_long = GenerationRequest.objects.filter(status="running", started_at__lt=cutoff)
    yield (work.silent(GenerationRequest, 300) | too_long).values_list("pk")
    yield ImportJob.objects.filter(status="running", heartbeat_at__lt=cutoff).values_list("pk", "attempts")
    yield ValidationRun.objects.filter(status="running", heartbeat_at__lt=cutoff).values_list("pk", "attempts")
    yield VersionBuild.objects.filter(status="running", heartbeat_at__lt=cutoff).values_list("pk", "attempts")
    yield DraftBatch.objects.filter(status="running", heartbeat_at__lt=cutoff).values_list("pk", "attempts")
    yield AdapterOperation.objects.filter(status="running", heartbeat_at__lt=cutoff).values_list("pk", "kind")
    yield work.silent(Evaluation, 300).values_list("pk", "attempts")


@pytest.mark.skipif(connection.vendor != "sqlite", reason="reads SQLite's query plans")
def test_the_reapers_queries_use_an_index():
    for query in reaper_queries():
        plan = query.explain()
        assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, f"{query.query}\n{plan}"
