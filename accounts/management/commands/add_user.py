from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import AccountError, user_create


class Command(BaseCommand):
    help = "Create an active portal user whose EMAIL is a verified sender address."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("email")
        parser.add_argument("--password", required=True, help="The portal (and FTP) password.")
        parser.add_argument("--quota-mb", type=int, default=None, help="Staging quota in MB.")
        parser.add_argument("--staff", action="store_true", help="Let the user into the admin.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = user_create(
                username=options["username"],
                email=options["email"],
                password=options["password"],
                quota_mb=options["quota_mb"],
                is_staff=options["staff"],
            )
        except AccountError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Created user {user.username} <{user.email}> with a {user.quota_mb} MB staging quota."
        )
