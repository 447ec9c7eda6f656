"""The Celery app's broker options: with Redis, a running task's message is not delivered again.

Redis gives an unacknowledged message (acks_late) to another worker after `visibility_timeout`
(one hour unless set). It must outlast every task's time limit, the training job's above all, or a
training message comes back every hour while its job still trains. Checked in a fresh process with
Redis named as the broker, as a production worker starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, django
django.setup()
from django.conf import settings
from annotune.celery import app
app.loader.import_default_modules()
limits = {name: task.time_limit for name, task in app.tasks.items() if getattr(task, "time_limit", None)}
print(json.dumps({
    "visibility_timeout": app.conf.broker_transport_options.get("visibility_timeout"),
    "training_limit": settings.TRAINING_TIME_LIMIT_SECONDS,
    "limits": limits,
}))
"""


def probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV"}}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**clean, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "annotune.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_redis_visibility_timeout_outlasts_every_task_time_limit():
    seen = probe(CELERY_BROKER_URL="redis://127.0.0.1:6379/0")
    assert seen["limits"]["training.tasks.run_training_job"] == seen["training_limit"]
    assert seen["visibility_timeout"] > max(seen["limits"].values())
    assert seen["visibility_timeout"] > 3600  # Redis' default, which made the hourly redelivery


def test_redis_visibility_timeout_follows_the_training_time_limit():
    seen = probe(CELERY_BROKER_URL="redis://127.0.0.1:6379/0", ANNOTUNE_TRAINING_TIME_LIMIT_SECONDS="400000")
    assert seen["training_limit"] == 400000
    assert seen["visibility_timeout"] > 400000
