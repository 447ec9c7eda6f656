from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training"

    def ready(self) -> None:
        # Celery's autodiscovery finds training.tasks only; the adapter tasks live in their own module.
        from . import evaluation_tasks, inference_tasks  # noqa: F401
