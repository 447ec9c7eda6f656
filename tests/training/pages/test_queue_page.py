"""The training queue page and the launch form's placement: which workers can take a job, what waits."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation.models import Project
from training.models import BaseModel, JobStatus
from training.processes.routing import Capacity, queues_for
from training.services import launch_plan, workers

from ..jobs.test_services import make_job

pytestmark = pytest.mark.django_db

ESTIMATE = {
    "total_bytes": 2**30,
    "base_weights_bytes": 2**29,
    "adapter_file_bytes": 4096,
    "adapter_parameters": 1024,
    "target_modules": ["q_proj", "v_proj"],
    "optimizer_bytes": 0,
    "gradients_bytes": 0,
    "activations_bytes": 0,
    "overhead_bytes": 2**29,
}


def advertise(name: str, capacity: Capacity) -> None:
    workers.worker_register(name=name, hostname="node-1", pid=7, capacity=capacity, queues=queues_for(capacity))


@pytest.fixture
def base_model(db):
    return BaseModel.objects.create(name="tiny", source="/nowhere", architecture="LlamaForCausalLM")


def queue_page_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("training-queue")).status_code == 200
    return len(queries)


def test_queue_page_lists_workers_and_jobs_across_projects_without_naming_others(
    client_as, project, owner, outsider, base_model
):
    advertise("gpu0@node-1", Capacity("cuda", 2, 81920, device_names=("H100", "H100")))
    advertise("cpu@node-2", Capacity("cpu", 1, 65536))
    needs = {"device_type": "cuda", "devices": 2, "memory_mb": 2048, "queue": "training.cuda.x2"}
    running = make_job(
        project, owner, base_model, status=JobStatus.RUNNING, worker="gpu0@node-1", step=3, max_steps=10, **needs
    )
    waiting = make_job(project, owner, base_model, queue="training.cpu")
    other = Project.objects.create(name="Secret plans")
    hidden = make_job(other, outsider, base_model, queue="training.cpu")

    client = client_as(owner)
    page = client.get(reverse("training-queue")).content.decode()
    assert "gpu0@node-1" in page
    assert "2 × CUDA, 80 GiB each" in page
    assert "H100, H100" in page
    assert "<code>training.cuda.x2</code>" in page
    assert f'data-job="{running.pk}"' in page
    assert "step 3/10" in page
    assert f'href="/projects/{project.pk}/training/{waiting.pk}/"' in page
    assert f'data-job="{hidden.pk}"' in page
    assert "Secret plans" not in page
    assert "another project" in page
    assert "<code>training.cpu</code>: 2 waiting" in page

    # The same number of queries for more workers and jobs: no query per row.
    before = queue_page_queries(client)
    advertise("gpu1@node-3", Capacity("cuda", 1, 24576))
    for _ in range(4):
        make_job(project, owner, base_model, queue="training.cuda")
    make_job(project, owner, base_model, status=JobStatus.RUNNING, worker="gpu1@node-3", queue="training.cuda")
    assert queue_page_queries(client) == before


def test_launch_form_shows_which_workers_can_take_the_job_and_what_waits(
    client_as, project, owner, base_model, monkeypatch
):
    monkeypatch.setattr(launch_plan, "known_estimate", lambda **kwargs: ESTIMATE)
    project.base_model = base_model
    project.save()
    advertise("gpu0@node-1", Capacity("cuda", 1, 81920))
    advertise("cpu@node-2", Capacity("cpu", 1, 65536, methods=("lora", "dora")))
    make_job(project, owner, base_model, queue="training.cuda")
    client = client_as(owner)
    url = reverse("training-job-estimate", args=[project.pk])

    page = client.post(url, {"preset": "quick", "cfg_method": "lora"}).content.decode()
    assert "waits in <code>training.cuda</code>" in page
    assert "where 1 job waits now" in page
    assert "gpu0@node-1</strong> · 1 × CUDA, 80 GiB each · running · can take it" in page
    assert "cpu@node-2</strong>" in page
    assert "could take it, but the job goes to CUDA workers" in page

    page = client.post(url, {"preset": "quick", "cfg_method": "qlora", "cfg_device": "cpu"}).content.decode()
    assert 'id="placement-refusal"' in page
    assert "cpu@node-2: it cannot train qlora" in page
    assert "gpu0@node-1: it has CUDA devices, the job needs CPU" in page


def test_a_queued_job_says_its_place_in_line_and_who_takes_its_queue(client_as, project, owner, base_model):
    first = make_job(project, owner, base_model, queue="training.cpu")
    page = client_as(owner).get(reverse("training-job-detail", args=[project.pk, first.pk])).content.decode()
    assert "Next in line. No live worker takes this queue now: the job starts when one does" in page

    advertise("cpu@node-2", Capacity("cpu", 1, 65536))
    make_job(project, owner, base_model, queue="training.cpu", status=JobStatus.RUNNING, worker="cpu@node-2")
    second = make_job(project, owner, base_model, queue="training.cpu")
    third = make_job(project, owner, base_model, queue="training.cpu")
    progress = client_as(owner).get(reverse("training-job-progress", args=[project.pk, third.pk])).content.decode()
    assert "Waiting: 2 queued jobs ahead of it, 1 running on its queue; 1 worker takes this queue." in progress
    assert second.pk > first.pk
    # Once it runs, the note is gone.
    third.status = JobStatus.RUNNING
    third.save(update_fields=["status"])
    progress = client_as(owner).get(reverse("training-job-progress", args=[project.pk, third.pk])).content.decode()
    assert 'id="job-waiting"' not in progress
