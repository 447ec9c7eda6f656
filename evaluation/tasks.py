"""Background work of the evaluation app: blind pairwise evaluations' answers, generated on the `inference`
queue.

Thin: takes an id and calls a service, with the serving backend the playground's `generate_answers`
uses (the inference worker's cached base models, adapters switched in place, or the vLLM server).
"""

from __future__ import annotations

from celery import shared_task


# The name predates this app and stays (queued messages carry it); settings.CELERY_TASK_ROUTES sends it to
# the `inference` queue by this name.
@shared_task(name="training.tasks.generate_evaluation_answers", acks_late=True)
def generate_evaluation_answers(evaluation_id: int) -> str:
    from serving.services.backends import current_backend
    from serving.tasks import model_cache

    from .services.evaluations import evaluation_generate

    return evaluation_generate(evaluation_id, current_backend(model_cache))
