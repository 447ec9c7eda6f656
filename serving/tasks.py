"""Tasks for adapters: answers on the `inference` queue, merges and combinations on `default`.

Thin: each takes an id and calls a service. The inference worker process keeps one module-level
`BaseModelCache`, so a base model is loaded once per process and adapters switch in place.
"""

from __future__ import annotations

import time

from celery import shared_task
from django.conf import settings

from annotune import dispatch

_cache = None
# A request whose user already has their cap of answers running is sent to the back of the queue; the
# worker pauses this long first, so that a queue holding only such requests is not read in a busy loop.
DEFER_PAUSE_SECONDS = 0.5


def model_cache():
    """This worker process's cache of base models (created on first use; torch is imported here)."""
    global _cache
    if _cache is None:
        import torch

        from serving.inference.cache import BaseModelCache
        from training.engine.devices import torch_threads

        # The same thread count as training gets: on a shared host torch's one thread per core waits on
        # the web and the database, and generation slows down several times.
        torch.set_num_threads(torch_threads(settings.TRAINING_TORCH_THREADS))
        _cache = BaseModelCache(
            max_adapters=settings.ANNOTUNE_INFERENCE_MAX_ADAPTERS, max_bases=settings.ANNOTUNE_INFERENCE_MAX_BASES
        )
    return _cache


def send_again(task, request_id: int) -> None:
    """A deferred request (ANNOTUNE_GENERATE_RUNNING_PER_USER reached): its message goes to the back of
    the queue before this one is acknowledged, so a queued row always has a message waiting for it."""
    time.sleep(DEFER_PAUSE_SECONDS)
    dispatch.send(task, request_id)


# The name predates this app and stays (queued messages carry it); settings.CELERY_TASK_ROUTES sends it to the
# `inference` queue by this name.
@shared_task(name="training.tasks.generate_answers", acks_late=True)
def generate_answers(request_id: int) -> str:
    from .services.backends import current_backend
    from .services.generation import generation_execute

    outcome = generation_execute(request_id, current_backend(model_cache))
    if outcome == "deferred":
        send_again(generate_answers, request_id)
    return outcome


# OpenAI-compatible chat completions (serving/openai_compat), answered as the playground's requests are;
# a task of its own name (routes and queued messages name it), routed to `inference` by name in settings.
@shared_task(name="training.tasks.generate_chat_completion", acks_late=True)
def generate_chat_completion(request_id: int) -> str:
    from .services.backends import current_backend
    from .services.generation import generation_execute

    outcome = generation_execute(request_id, current_backend(model_cache))
    if outcome == "deferred":
        send_again(generate_chat_completion, request_id)
    return outcome


# Merges, combinations and GGUF exports: on `default` (settings.CELERY_TASK_ROUTES names it).
@shared_task(name="training.tasks.run_adapter_operation", acks_late=True)
def run_adapter_operation(operation_id: int) -> str:
    from .services.adapters import operation_execute

    return operation_execute(operation_id)
