from django.apps import AppConfig


class ServingConfig(AppConfig):
    """Adapters and what is done with them: the registry, merges, combinations and GGUF exports, generation
    through one serving backend (the inference worker or vLLM) for the playground, the API and the
    OpenAI-compatible /v1/.

    The models moved here from the training app and keep its tables (`training_…`); URL paths and names,
    and the Celery task names that queued messages carry (`training.tasks.generate_answers`, …), are
    unchanged.
    """

    name = "serving"
    verbose_name = "Serving"
