"""The imports' reaper (Celery beat): imports whose worker died, and queued imports whose message was lost.

A running import whose heartbeat stopped is queued again (its attempt's rows were never committed:
the write is one transaction, and a late commit of the old attempt is refused by `_finish`), or
failed with the reason once it used its attempts. A queued import with no message on the broker
(a broker restart drops what it held) is sent again; the claim makes a duplicate a no-op.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotune import dispatch
from annotune.heartbeat import silent_since

from ..models import ImportJob, ImportPhase, ImportStatus

logger = logging.getLogger(__name__)


def reap_imports() -> dict[str, list[int]]:
    """Returns the ids re-queued, failed and sent again."""
    from ..tasks import run_import

    stale_after = settings.ANNOTUNE_IMPORT_STALE_SECONDS
    limit = settings.ANNOTUNE_JOB_MAX_ATTEMPTS
    requeued, failed = [], []
    # Stale by the database's clock, which the workers' heartbeats are written with (annotune/heartbeat.py).
    stale = ImportJob.objects.filter(status=ImportStatus.RUNNING, heartbeat_at__lt=silent_since(stale_after))
    for pk, attempts in stale.values_list("pk", "attempts"):
        # Conditional on the same attempt, still silent: a worker that just beat keeps its job.
        same = stale.filter(pk=pk, attempts=attempts)
        reason = f"The worker stopped reporting for {stale_after} s on attempt {attempts}; nothing was written"
        if attempts >= limit:
            if same.update(
                status=ImportStatus.FAILED,
                phase=ImportPhase.DONE,
                error=f"{reason}. That was the last of {limit} attempts: retry the import.",
                finished_at=timezone.now(),
            ):
                failed.append(pk)
            continue
        with transaction.atomic():
            if same.update(
                status=ImportStatus.QUEUED, phase=ImportPhase.WAITING, report={"notes": [f"{reason}; queued again."]}
            ):
                dispatch.send_on_commit(run_import, pk)
                requeued.append(pk)
                logger.warning("import %s re-queued: its worker stopped reporting", pk)
    queued = ImportJob.objects.filter(status=ImportStatus.QUEUED)
    resent = dispatch.resend_lost(
        queued, run_import, queue="default", older_than=settings.ANNOTUNE_REDISPATCH_AFTER_SECONDS
    )
    return {"requeued": requeued, "failed": failed, "resent": resent}
