"""Create an API token for an account from the command line; the key is printed on the last line."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.models import TokenScope
from annotation.models import Project
from annotune.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Create a named API token for USERNAME and print its key on the last line (it is shown once). "
        "--scope inference limits it to the OpenAI-compatible API (/v1/); --project limits it to one project."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--scope", choices=TokenScope.values, default=TokenScope.FULL)
        parser.add_argument("--project", type=int, help="the id of the only project the token reaches")
        parser.add_argument("--name", default="", help="what the token is for (default: 'command line')")
        parser.add_argument("--expires-in-days", type=int, help="1 to 3650; without it the token does not expire")

    def handle(self, *args, username: str, scope: str, project: int | None, name: str, expires_in_days, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No account named {username!r}.")
        chosen = None
        if project is not None:
            chosen = Project.objects.filter(pk=project).first()
            if chosen is None:
                raise CommandError(f"No project with id {project}.")
        try:
            token, key = services.api_token_create(
                user=user,
                name=name or "command line",
                scope=scope,
                project=chosen,
                expires_in_days=expires_in_days,
            )
        except ApplicationError as error:
            raise CommandError(error.message) from None
        reach = f"project {chosen.pk} ({chosen.name})" if chosen else "all of the account's projects"
        expiry = f"expires {token.expiry_date:%Y-%m-%d}" if token.expiry_date else "does not expire"
        self.stdout.write(f"Token '{token.name}' for {user.username}: {token.get_scope_display()}, {reach}, {expiry}.")
        self.stdout.write("The key is shown once; Annotune keeps only its hash:")
        self.stdout.write(key)
