from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.apppasswords import AppPasswordError, app_password_create
from accounts.models import User


class Command(BaseCommand):
    help = (
        "Make a new app password named LABEL for USERNAME and print it (only its hash is kept: "
        "save it now). It logs in to FTP and to the API with HTTP Basic, not to the web pages."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("label", help="What the password is for (shown on the account page).")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}.")
        if not user.is_active:
            raise CommandError(f"user {user.username} is not active; the password would not work.")
        try:
            _, raw = app_password_create(user=user, label=options["label"])
        except AppPasswordError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(raw)
