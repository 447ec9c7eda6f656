"""Make the vLLM server's Annotune adapters match the adapter registry (ANNOTUNE_INFERENCE_BACKEND=vllm)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from serving.inference.errors import InferenceError
from serving.services import vllm_serving


class Command(BaseCommand):
    help = (
        "Unload from the vLLM server the adapters the registry no longer serves (deleted, archived, DoRA); "
        "with --load-active, load each project's active adapter too."
    )

    def add_arguments(self, parser):
        parser.add_argument("--load-active", action="store_true", help="load each project's active adapter")

    def handle(self, *args, load_active: bool, **options):
        if not vllm_serving.enabled():
            raise CommandError("ANNOTUNE_INFERENCE_BACKEND is not vllm: set it and ANNOTUNE_VLLM_URL first.")
        try:
            result = vllm_serving.vllm_sync(load_active=load_active)
        except InferenceError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Unloaded: {', '.join(result['unloaded']) or 'none'}. Loaded: {', '.join(result['loaded']) or 'none'}."
        )
