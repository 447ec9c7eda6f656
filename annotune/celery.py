"""The Celery application shared by every worker (queues: default, training, inference)."""

import logging
import os

from celery import Celery

log = logging.getLogger(__name__)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotune.settings")

app = Celery("annotune")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# One periodic task for every app's reaper: while it runs no other reaper message waits in the queue,
# so an empty queue is what tells a queued row's message was lost (annotune/dispatch.py).
@app.task(name="annotune.reap")
def reap() -> dict[str, dict[str, list[int]]]:
    """Rows whose worker died (heartbeat stopped) or whose message the broker lost, in every app.

    The apps name their reapers in settings.ANNOTUNE_REAPERS (dotted paths): this module imports no app.
    """
    from django.conf import settings
    from django.utils.module_loading import import_string

    # Each app's reaper runs even when another one fails (a bug, the database or broker going away
    # half way): a failure in one must not leave every other app's dead work unreaped. The first
    # failure is raised once all have run, so the task still shows as failed.
    results, failures = {}, []
    for name, path in settings.ANNOTUNE_REAPERS.items():
        try:
            results[name] = import_string(path)()
        except Exception as exc:
            log.exception("the %s reaper failed", name)
            failures.append(exc)
    if failures:
        raise failures[0]
    return results
