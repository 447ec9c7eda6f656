"""Launches whose memory estimate is not known yet: nobody waits for torch in a web request.

The engine's estimate takes seconds (a subprocess that imports torch; training/services/estimates.py) and
is kept on the base model's row once made, so most launches find it kept: the presets' estimates are made
when a model is added, and every answer is reused by every later click. When it is not kept, no web
request computes it; what the user sees instead:

- Launching (the Train button, the launch form, the API, a rank sweep): the job is created at once,
  queued in the phase "estimating" (no training queue yet), and its page says so. `job_estimate_run`, a
  task on the `default` queue, computes the estimates its launch plan needs, outside any transaction, then
  in one short transaction places the job and sends it to its training queue, or ends it failed with the
  plan's refusal, in the words a launch would have answered (it needs more memory than any worker has,
  the model cannot be loaded), on the job's page. A cancel in the meantime wins: the placement is
  conditional on the job still estimating. A rank sweep's members are planned before its transaction;
  a member refused later fails alone, with its reason, on the sweep page.
- Asking for an estimate (the launch form's panel, the estimate API): the answer is "estimating…" at
  once and a `default`-queue task (`fill_estimates`) computes it; the form's panel asks again every two
  seconds until it is kept, the API answers 202 with Retry-After until then. A failure is kept for a few
  minutes so the panel can say why.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from annotune.errors import ApplicationError

from ..models import JobPhase, JobStatus, TrainingJob
from .estimates import estimate_for
from .jobs import job_send_on_commit
from .launch_plan import plan_launch

log = logging.getLogger(__name__)


def job_estimate_run(job_id: int) -> str:
    """Worker: estimate, place and send a job launched "estimating"; a job in any other state is left alone."""
    estimating = TrainingJob.objects.filter(pk=job_id, status=JobStatus.QUEUED, phase=JobPhase.ESTIMATING)
    job = estimating.select_related("base_model").first()
    if job is None:
        return "not estimating"
    try:
        plan = plan_launch(base_model=job.base_model, config=job.config, method_fixed=job.method_fixed)
        for config in plan.missing:  # seconds each, in a subprocess, with no transaction open
            estimate_for(base_model=job.base_model, config=config)
        plan = plan_launch(base_model=job.base_model, config=job.config, method_fixed=job.method_fixed)
    except ApplicationError as exc:
        return _not_placed(estimating, exc.message)
    if plan.placement is None or plan.estimate is None:
        return _not_placed(estimating, "Could not estimate the memory this job needs; launch it again.")
    if plan.refusal:
        return _not_placed(estimating, plan.refusal)
    needs = plan.placement.needs
    with transaction.atomic():
        placed = estimating.update(
            phase=JobPhase.PLACED,
            method=plan.config["method"],
            config=plan.config,
            estimate=plan.estimate,
            device_type=needs.device_type,
            devices=needs.devices,
            memory_mb=needs.memory_mb,
            queue=plan.placement.queue,
        )
        if placed:
            job_send_on_commit(job_id)
    log.info("training job %s estimated and placed on %s", job_id, plan.placement.queue)
    return f"placed on {plan.placement.queue}" if placed else "not estimating"


def _not_placed(estimating, message: str) -> str:
    estimating.update(
        status=JobStatus.FAILED,
        phase=JobPhase.PLACED,
        finished_at=timezone.now(),
        error_code="not_placed",
        error=f"Not started: {message}",
    )
    return "refused"
