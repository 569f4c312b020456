from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.tokens import TokenError, api_token_create


class Command(BaseCommand):
    help = (
        "Make a new API token for USERNAME and print it (only its hash is kept: save it now). "
        "Scripts send it as 'Authorization: Bearer <token>'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--name", default="", help="What the token is for (shown on the account page)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}.")
        if not user.is_active:
            raise CommandError(f"user {user.username} is not active; a token would not work.")
        try:
            _, raw = api_token_create(user=user, name=options["name"] or "manage.py api_token")
        except TokenError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(raw)
