"""`make run`'s first-steps setup: the default base model (SmolLM2-135M-Instruct, converted once from its
package) and the demo project on it.

Idempotent: a second run reuses both. ANNOTUNE_DEMO=0 skips the demo project (the model is still
registered: without a base model no project can train).
"""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotune.demo import demo_project_ensure
from annotune.errors import ApplicationError
from training.services.default_model import default_model_ensure

OFF = {"0", "false", "no", "off"}


def _admin():
    users = get_user_model().objects.filter(is_superuser=True)
    wanted = os.environ.get("ANNOTUNE_ADMIN_USER", "admin")
    return users.filter(username=wanted).first() or users.order_by("pk").first()


class Command(BaseCommand):
    help = (
        "Register the default base model (converted offline once) and create a demo project owned by the admin "
        "account. Safe to run again. Set ANNOTUNE_DEMO=0 to skip the demo project."
    )

    def handle(self, *args, **options):
        try:
            model, built = default_model_ensure()
        except ApplicationError as exc:
            raise CommandError(f"The default base model could not be set up: {exc.message}") from exc
        facts = f"{model.architecture}, {model.parameter_count or 0:,} parameters"
        if built:
            self.stdout.write(self.style.SUCCESS(f"Converted base model “{model.name}” ({facts}) into {model.source}"))
        else:
            self.stdout.write(f"Base model “{model.name}” exists already ({facts}); reused.")

        if os.environ.get("ANNOTUNE_DEMO", "1").strip().lower() in OFF:
            self.stdout.write("ANNOTUNE_DEMO=0: no demo project.")
            return
        admin = _admin()
        if admin is None:
            raise CommandError("No admin account to own the demo project: run `manage.py ensure_admin` first.")
        try:
            result = demo_project_ensure(owner=admin, base_model=model)
        except ApplicationError as exc:
            raise CommandError(f"The demo project could not be created: {exc.message} {exc.extra or ''}") from exc
        project = result.project
        if result.created:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created demo project “{project.name}” (id {project.pk}, owner {admin.username}, base model "
                    f"{model.name}): {result.approved} approved conversations and {result.drafts} drafts."
                )
            )
        else:
            self.stdout.write(f"Demo project “{project.name}” exists already (id {project.pk}); left as it is.")
