"""The serving tasks keep the names queued messages carry, and their queues, after their move out of training."""

from __future__ import annotations

import pytest

from annotune.celery import app

QUEUES = {
    "training.tasks.generate_answers": "inference",
    "training.tasks.generate_chat_completion": "inference",
    "training.tasks.run_adapter_operation": "default",
}


def queue_of(name: str) -> str:
    return app.amqp.router.route({}, name, args=(1,), kwargs={})["queue"].name


@pytest.mark.parametrize("name", sorted(QUEUES))
def test_a_worker_finds_each_task_under_its_old_name_in_the_serving_app(name):
    app.loader.import_default_modules()  # what a worker does at start-up (autodiscovery)
    assert app.tasks[name].run.__module__ == "serving.tasks"


@pytest.mark.parametrize(("name", "queue"), sorted(QUEUES.items()))
def test_answers_go_to_the_inference_queue_and_operations_to_default(name, queue):
    assert queue_of(name) == queue


def test_a_training_task_named_like_an_answer_is_not_sent_to_the_inference_queue():
    # No name pattern routes by "generate" any more: only the tasks settings name go to `inference`.
    assert queue_of("training.tasks.generate_something_else") == "default"
    assert queue_of("training.tasks.build_tiny_base_model") == "default"
