from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training"

    def ready(self) -> None:
        # Celery's autodiscovery finds training.tasks only; the adapter tasks live in their own module,
        # and a training worker's device advert (start-up and shutdown signal handlers) in worker_advert.
        from . import inference_tasks, worker_advert  # noqa: F401
