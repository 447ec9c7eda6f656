"""The training app's reaper (settings.ANNOTUNE_REAPERS, run by the periodic `annotune.reap`): work whose
worker died, or whose message the broker lost.

Training jobs are work rows (annotune/work.py): one whose heartbeat stopped is queued again (it resumes from
its checkpoint) and fails with the reason after its last attempt (`jobs.reap_stale_jobs`). Queued jobs and
base models (a tiny model's build, an added model's check) left without a message (a broker restart drops
what it held in memory) are sent again; their tasks claim the row first, so a duplicate message is a
no-op. A worker's own final write is fenced to its attempt, so a late one never lands over the reaper's.
Adapter operations and generation requests are serving's (serving/services/reaper.py).
"""

from __future__ import annotations

from django.conf import settings

from annotune.dispatch import resend_lost

from ..models import BaseModel, BaseModelStatus
from . import jobs


def reap() -> dict[str, list[int]]:
    """Returns the ids acted on, by kind."""
    from ..tasks import build_tiny_base_model, check_base_model

    after = settings.ANNOTUNE_REDISPATCH_AFTER_SECONDS
    return {
        **{f"jobs_{k}": v for k, v in jobs.reap_stale_jobs().items()},
        "builds_resent": resend_lost(
            BaseModel.objects.filter(status=BaseModelStatus.QUEUED).exclude(build_size=""),
            build_tiny_base_model,
            queue="default",
            older_than=after,
            since="status_changed_at",
        ),
        # Added models waiting for their check (resent without the adder: checked as for an owner).
        "checks_resent": resend_lost(
            BaseModel.objects.filter(status=BaseModelStatus.QUEUED, build_size=""),
            check_base_model,
            queue="default",
            older_than=after,
            since="status_changed_at",
        ),
    }
