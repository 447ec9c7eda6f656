"""The Celery application shared by every worker (queues: default, training, inference)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotune.settings")

app = Celery("annotune")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
