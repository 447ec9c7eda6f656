"""The evaluation app's reaper (settings.ANNOTUNE_REAPERS, run by the periodic `annotune.reap`).

Blind pairwise evaluations queued without a message (a broker restart drops what it held in memory) are
sent again; the task claims the row first, so a duplicate message is a no-op. An evaluation is a work row
(annotune/work.py) whose worker died while generating fails with `worker_lost` (`reap_evaluations`): it is
not queued again, the owner creates it again. The worker writes through the row fenced to its attempt, so
a late one writes no answers over the reaper's failure.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from annotune import work
from annotune.dispatch import resend_lost

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
    """Periodic: evaluations whose heartbeat stopped while generating (`work.silent`: their worker died, or
    lost the database) fail with error_code `worker_lost` and what to do."""
    stale_after = settings.ANNOTUNE_OPERATION_STALE_SECONDS
    silent = work.silent(Evaluation, stale_after)
    failed_evaluations = []
    for pk, attempts in silent.values_list("pk", "attempts"):
        # Conditional on the same attempt, still silent: a worker that just beat keeps its evaluation.
        if silent.filter(pk=pk, attempts=attempts).update(
            status=EvaluationStatus.FAILED,
            error_code="worker_lost",
            error=f"worker_lost: the worker stopped reporting for {stale_after} s while generating the answers "
            "(it died or was restarted); no answer was kept. Create the evaluation again.",
            finished_at=timezone.now(),
        ):
            failed_evaluations.append(pk)
    return {"evaluations_failed": failed_evaluations}
