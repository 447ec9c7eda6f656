"""Build a tiny offline Llama / Mistral model (random weights, BPE tokenizer, chat template) and register it."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotune.errors import ApplicationError
from training.engine.tiny import ARCHITECTURES, DEFAULT_ARCH, DEFAULT_SIZE, SIZE_NOTES, SIZES
from training.services.base_models import tiny_model_create


class Command(BaseCommand):
    help = "Build a tiny model of the given architecture under var/models/ and register it as a base model."

    def add_arguments(self, parser):
        parser.add_argument("--arch", choices=ARCHITECTURES, default=DEFAULT_ARCH, help=f"default {DEFAULT_ARCH}")
        sizes = ", ".join(f"{name} {SIZE_NOTES[name]}" for name in SIZES)
        parser.add_argument(
            "--size", choices=list(SIZES), default=DEFAULT_SIZE, help=f"{sizes} (default {DEFAULT_SIZE})"
        )
        parser.add_argument("--name", help="Base model name (default tiny-<arch>-<size>)")

    def handle(self, *args, arch: str, size: str, name: str | None, **options):
        try:
            model = tiny_model_create(arch=arch, size=size, name=name)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Registered base model “{model.name}” ({model.architecture}, {model.parameter_count:,} parameters, "
            f"chat template: {'yes' if model.has_chat_template else 'no'}) at {model.source}"
        )
