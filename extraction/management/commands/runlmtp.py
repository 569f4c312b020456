"""Serve LMTP for the MTA; the listener is :mod:`extraction.mail.lmtp`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dssportal.infra.signingkey import signing_key_refusal
from extraction.mail.lmtp import serve_lmtp


class Command(BaseCommand):
    help = "Serve LMTP for the MTA: each delivered message is handed to the DSS mail gate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2424)

    def handle(self, *args: Any, **options: Any) -> None:
        refusal = signing_key_refusal("runlmtp")
        if refusal:  # the MTA keeps the mail while nothing listens
            raise CommandError(refusal)
        host, port = options["host"], options["port"]
        serve_lmtp(
            host,
            port,
            started=lambda: self.stdout.write(f"LMTP for the DSS mail gate on {host}:{port}"),
        )
