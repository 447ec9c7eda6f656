from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training"

    def ready(self) -> None:
        # A training worker's device advert: start-up and shutdown signal handlers (Celery's autodiscovery
        # finds the tasks modules only).
        from . import worker_advert  # noqa: F401
