"""Serve users' staging directories over FTP (FTPS when a certificate is configured)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from extraction.ftp.server import ftp_server_build, ftp_server_describe


class Command(BaseCommand):
    help = (
        "Serve each user's live staging directories over FTP, logging in with the portal "
        "username or a verified address and the portal password. Ctrl-C stops."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.DSSPORTAL_FTP_HOST)
        parser.add_argument("--port", type=int, default=settings.DSSPORTAL_FTP_PORT)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            server = ftp_server_build(host=options["host"], port=options["port"])
        except (ImproperlyConfigured, OSError) as exc:
            raise CommandError(f"Cannot start the FTP server: {exc}") from None
        self.stdout.write(ftp_server_describe(server))
        self.stdout.flush()
        server.serve_forever()
