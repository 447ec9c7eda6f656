"""The evaluation app's reaper (settings.ANNOTUNE_REAPERS, run by the periodic `annotune.reap`).

Blind pairwise evaluations queued without a message (a broker restart drops what it held in memory) are
sent again; the task claims the row first, so a duplicate message is a no-op. Evaluations whose worker
died while generating fail with `worker_lost` (`reap_evaluations`): they are not work rows (annotune/work.py)
and have no attempts to queue again. The worker writes its answers only while the evaluation is still
generating, so a late one never lands over the reaper's failure.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q

from annotune.dispatch import resend_lost
from annotune.heartbeat import silent_since

from ..models import Evaluation, EvaluationStatus


def reap() -> dict[str, list[int]]:
    """Returns the ids acted on, by kind."""
    from ..tasks import generate_evaluation_answers

    return {
        "evaluations_resent": resend_lost(
            Evaluation.objects.filter(status=EvaluationStatus.QUEUED),
            generate_evaluation_answers,
            queue="inference",
            older_than=settings.ANNOTUNE_REDISPATCH_AFTER_SECONDS,
        ),
        **reap_evaluations(),
    }


def reap_evaluations() -> dict[str, list[int]]:
    """Periodic: evaluations whose heartbeat stopped while generating (their worker died, or lost the
    database) fail with error_code `worker_lost` and what to do."""
    stale_after = settings.ANNOTUNE_OPERATION_STALE_SECONDS
    # Silent by the database's clock, which the workers' heartbeats are written with (annotune/heartbeat.py).
    cutoff = silent_since(stale_after)
    evaluations = Evaluation.objects.filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff),
        status=EvaluationStatus.GENERATING,
    )
    failed_evaluations = []
    for pk in evaluations.values_list("pk", flat=True):
        if evaluations.filter(pk=pk).update(
            status=EvaluationStatus.FAILED,
            error_code="worker_lost",
            error=f"worker_lost: the worker stopped reporting for {stale_after} s while generating the answers "
            "(it died or was restarted); no answer was kept. Create the evaluation again.",
        ):
            failed_evaluations.append(pk)
    return {"evaluations_failed": failed_evaluations}
