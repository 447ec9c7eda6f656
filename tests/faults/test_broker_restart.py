"""The broker (Redis) restarts while an import, a data-health run, a training job and a generate request are in flight.

Real processes: a redis-server of the test's own (memory only, so it forgets its queues when it
stops, as Redis without persistence does), a gunicorn web process (DEBUG off) and one Celery worker
(default and training queues, two processes; the embedded beat sends the reaper every second)
against the test database. The training job and the import are running when Redis stops (one per
worker process); the data-health run waits behind them and the generate request waits for an
inference worker (none runs), so both messages die with Redis. While Redis is down the
web answers: pages and job APIs as usual, a new import is accepted and waits (its page says why), a
generate call is a 503 with Retry-After. Once Redis is back every job ends: the running ones
finished through the outage, the lost data-health run and the import sent during it are sent again
by the reaper and succeed, the lost generate request fails with a reason to act on; rows are
written once, the training job leaves one complete adapter.
"""

from __future__ import annotations

import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.services import api_token_create
from annotation.models import Example, ExampleStatus, Role, ValidationRun
from curated_data.models import ImportJob
from evaluation.services.control_sets import control_set_replace
from serving.models import Adapter, GenerationRequest
from tests.factories import ExampleFactory, MembershipFactory, ProjectFactory, UserFactory
from tests.serving.adapter_helpers import CHAT, cached_base
from tests.workers import celery_worker, wait_for
from tests.workers import test_database_url as database_url
from training.models import BaseModel, TrainingJob

from .processes import Gunicorn, RedisServer, web_environment

pytestmark = [pytest.mark.slow, pytest.mark.faults, pytest.mark.timeout(420), pytest.mark.django_db(transaction=True)]

ROWS = 30_000  # the import in flight when Redis stops: seconds of work (imports run at ~5,000 rows/s)
TRAIN = {"method": "lora", "max_steps": 16, "batch_size": 4, "max_seq_length": 64, "logging_steps": 1,
         "save_steps": 10, "warmup_ratio": 0.0, "rank": 4, "alpha": 8}  # fmt: skip
FINAL = {"succeeded", "failed", "cancelled"}


def jsonl(tag: str, rows: int) -> bytes:
    lines = (
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"{tag} question {i}: when does my order {i} arrive?"},
                    {"role": "assistant", "content": f"Order {i} ships today and arrives within two days."},
                ]
            }
        )
        for i in range(rows)
    )
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def redis():
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def platform(settings, tmp_path, redis):
    """Rows of one project with a tiny base model, and the web process against the test database."""
    from django.test import Client

    owner = UserFactory(username="olivia")
    project = ProjectFactory(name="Broker outage", created_by=owner)
    # Imports and data-health runs go to a project without a base model: its checks then count tokens
    # by estimate, and the worker process running them does not import transformers (minutes of CPU).
    data = ProjectFactory(name="Broker outage data", created_by=owner)
    for member_of in (project, data):
        MembershipFactory(project=member_of, user=owner, role=Role.OWNER)
    project.base_model = BaseModel.objects.create(
        name="tiny-llama", source=str(cached_base()), architecture="LlamaForCausalLM", has_chat_template=True
    )
    project.save(update_fields=["base_model"])
    for approved_in in (project, data):
        for _ in range(12):
            ExampleFactory(project=approved_in, author=owner, status=ExampleStatus.APPROVED)
    storage = tmp_path / "storage"
    storage.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(storage)}},
    }
    # A small control set of the project's own: the forgetting check after the job scores 8, not 64.
    control = "\n".join(json.dumps({"messages": [{"role": "user", "content": f"Everyday question {i}?"},
                                                 {"role": "assistant", "content": f"Everyday answer {i}."}]})
                        for i in range(8))  # fmt: skip
    control_set_replace(project=project, user=owner, upload=SimpleUploadedFile("control.jsonl", control.encode()))
    common = {"CELERY_BROKER_URL": redis.url, "ANNOTUNE_STORAGE_ROOT": str(storage)}
    var = Path(tempfile.mkdtemp(prefix="annotune-web-"))
    web_env = {**web_environment(database_url(), var), **common, "SECRET_KEY": settings.SECRET_KEY}
    web = Gunicorn(web_env, threads=4, timeout=300)  # a launch estimates memory in a child (torch): slow
    browser = Client()
    browser.force_login(owner)
    worker_env = {
        **common,
        "ANNOTUNE_TRAINING_DIR": str(tmp_path / "training"),
        "ANNOTUNE_TRAINING_STEP_DELAY_MS": "400",  # the job runs through the outage
        "ANNOTUNE_TRAINING_HEARTBEAT_SECONDS": "1",
        "ANNOTUNE_REAP_EVERY_SECONDS": "1",
        "ANNOTUNE_REDISPATCH_AFTER_SECONDS": "3",
        "ANNOTUNE_GENERATE_TIMEOUT_SECONDS": "3",  # a queued generate request older than this is lost
    }
    try:
        yield Platform(redis, web, project, data, storage, worker_env, api_token_create(user=owner, name="test")[1],
                       browser.cookies["sessionid"].value)  # fmt: skip
    finally:
        web.stop()


class Platform:
    def __init__(self, redis: RedisServer, web: Gunicorn, project, data, storage: Path, worker_env: dict,
                 token: str, session: str):  # fmt: skip
        self.redis, self.web, self.storage, self.worker_env = redis, web, storage, worker_env
        self.project, self.data = project, data
        self.token, self.session = {"Authorization": f"Token {token}"}, {"Cookie": f"sessionid={session}"}

    def api(self, method: str, path: str, *, project=None, **kwargs) -> tuple[int, dict, object]:
        """(status, headers, JSON body) of an API call as the owner (in the training project by default)."""
        pk = (project or self.project).pk
        status, headers, text = self.web.request(method, f"/api/v1/projects/{pk}/{path}", headers=self.token, **kwargs)
        return status, headers, json.loads(text) if text else None

    def data_api(self, method: str, path: str, **kwargs) -> tuple[int, dict, object]:
        return self.api(method, path, project=self.data, **kwargs)

    def page(self, path: str, *, project=None) -> tuple[int, str]:
        pk = (project or self.project).pk
        status, _, text = self.web.request("GET", f"/projects/{pk}/{path}", headers=self.session)
        return status, text


def status_of(model, pk: int) -> str:
    return model.objects.values_list("status", flat=True).get(pk=pk)


def test_every_job_ends_and_nothing_is_half_written_when_the_broker_restarts(redis, platform):
    launch = {"preset": "quick", "config": TRAIN}
    with ThreadPoolExecutor(1) as background:
        # The launch (its estimate imports torch in a child) overlaps the worker's start.
        launched = background.submit(platform.api, "POST", "training-jobs/", body=launch, timeout=300)
        queues = "default,training"
        with celery_worker(queues, concurrency=2, beat=True, env=platform.worker_env) as worker:
            code, _, body = launched.result()
            assert code == 201, body
            job = body["id"]
            outcome = outage(platform, job)
            log = Path(worker.log_path).read_text()
    running_import, waiting_import, after_import, run, generation = outcome

    for pk, rows in ((running_import, ROWS), (waiting_import, 50), (after_import, 10)):
        done = ImportJob.objects.get(pk=pk)
        assert done.status == "succeeded", (done.error, log[-3000:])
        assert done.rows_imported == rows
    imported = Example.objects.filter(project=platform.data).exclude(status=ExampleStatus.APPROVED)
    assert imported.count() == ROWS + 60  # every row once
    assert imported.values("content_hash").distinct().count() == ROWS + 60

    validation = ValidationRun.objects.get(pk=run)
    assert validation.status == "succeeded", (validation.error, log[-3000:])
    assert validation.report["summary"]
    assert ValidationRun.objects.count() == 1  # one run, one report

    trained = TrainingJob.objects.get(pk=job)
    assert trained.status == "succeeded", (trained.error, trained.log_tail)
    adapter = Adapter.objects.get(job=trained)  # exactly one
    files = platform.storage / adapter.storage_path
    assert (files / "adapter_config.json").is_file()
    assert (files / "adapter_model.safetensors").stat().st_size > 0

    lost = GenerationRequest.objects.get(pk=generation)
    assert lost.status == "failed"
    assert lost.error_code == "lost"
    assert "Send it again" in lost.error
    refused = GenerationRequest.objects.exclude(pk=generation).get()
    assert refused.error_code == "broker_unavailable"
    assert "Traceback" not in platform.web.output()


def outage(platform: Platform, job: int) -> tuple[int, int, int, int, int]:
    """Jobs in flight, Redis stopped and started again, every job final: the ids of what was started."""
    redis = platform.redis
    # In flight when Redis stops: a generate request waiting for an inference worker...
    code, _, body = platform.api("POST", "generate", body={"messages": CHAT, "adapter": None, "timeout": 0.5})
    assert code == 504, body  # not answered yet: poll the url
    generation = body["id"]
    # ... the training job and an import running (one per worker process)...
    wait_for(lambda: TrainingJob.objects.get(pk=job).step >= 1, 240, message="the training job's first step")
    code, _, body = platform.data_api("POST", "imports/", files={"file": ("before.jsonl", jsonl("Before", ROWS))})
    assert code == 202, body
    running_import = body["id"]
    wait_for(lambda: status_of(ImportJob, running_import) == "running", 60, message="the import to start")
    # ... and a data-health run queued behind them.
    code, _, body = platform.data_api("POST", "validation-runs/", body={})
    assert code == 202, body
    run = body["id"]

    redis.stop()
    # The web answers while the broker is away; nothing in flight is failed.
    assert platform.api("GET", f"training-jobs/{job}/")[2]["status"] in {"running", "succeeded"}
    assert platform.data_api("GET", f"imports/{running_import}/")[2]["status"] in {"running", "succeeded"}
    assert platform.data_api("GET", f"validation-runs/{run}/")[2]["status"] == "queued"
    assert platform.api("GET", f"generations/{generation}/")[2]["status"] == "queued"
    assert platform.page(f"training/{job}/")[0] == 200
    # New work: an import is accepted and waits with the reason; a generate call is refused clearly.
    code, _, body = platform.data_api("POST", "imports/", files={"file": ("during.jsonl", jsonl("During", 50))})
    assert code == 202, body
    assert body["status"] == "queued"
    assert "task queue" in " ".join(body["report"]["notes"])
    waiting_import = body["id"]
    code, text = platform.page(f"datasets/import/{waiting_import}/", project=platform.data)
    assert code == 200
    assert "Waiting for the task queue" in text
    code, headers, body = platform.api("POST", "generate", body={"messages": CHAT, "adapter": None})
    assert code == 503, body
    assert headers["Retry-After"].isdigit()
    assert "task queue is unavailable" in body["detail"]
    time.sleep(4)  # the broker stays away a few seconds

    redis.start()  # same port, empty: the queued messages are gone
    # The web's own sends work again: its broker connection comes back by itself.
    code, _, body = platform.data_api("POST", "imports/", files={"file": ("after.jsonl", jsonl("After", 10))})
    assert code == 202, body
    assert not body["report"]["notes"]
    after_import = body["id"]
    ids = {ImportJob: [running_import, waiting_import, after_import], ValidationRun: [run], TrainingJob: [job],
           GenerationRequest: [generation]}  # fmt: skip

    def all_final() -> bool:
        return all(status_of(model, pk) in FINAL for model, pks in ids.items() for pk in pks)

    wait_for(all_final, 240, interval=0.5, message="every job to reach a final state")
    return running_import, waiting_import, after_import, run, generation
