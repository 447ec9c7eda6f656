"""The evaluation's task keeps the name queued messages carry, and the inference queue, after its move."""

from __future__ import annotations

from annotune.celery import app

NAME = "training.tasks.generate_evaluation_answers"


def queue_of(name: str) -> str:
    return app.amqp.router.route({}, name, args=(1,), kwargs={})["queue"].name


def test_a_worker_finds_the_task_under_its_old_name_in_the_evaluation_app():
    app.loader.import_default_modules()  # what a worker does at start-up (autodiscovery)
    assert app.tasks[NAME].run.__module__ == "evaluation.tasks"


def test_evaluation_answers_go_to_the_inference_queue():
    assert queue_of(NAME) == "inference"
    assert queue_of("training.tasks.generate_answers") == "inference"  # the playground's, unchanged
    assert queue_of("training.tasks.build_tiny_base_model") == "default"
