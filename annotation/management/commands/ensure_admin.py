"""Create the first admin account if none exists; print its password once."""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create an 'admin' superuser when the database has none (password from ANNOTUNE_ADMIN_PASSWORD or generated)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("ANNOTUNE_ADMIN_USER", "admin"))

    def handle(self, *args, username: str, **options):
        users = get_user_model().objects
        if users.filter(is_superuser=True).exists():
            self.stdout.write("An admin account exists already.")
            return
        password = os.environ.get("ANNOTUNE_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        users.create_superuser(username=username, email="", password=password)
        shown = "(from ANNOTUNE_ADMIN_PASSWORD)" if os.environ.get("ANNOTUNE_ADMIN_PASSWORD") else password
        self.stdout.write(self.style.SUCCESS(f"Created admin account: user '{username}', password {shown}"))
        self.stdout.write("This password is shown once; change it in the admin if you like.")
