"""Run the production trio in the foreground: gunicorn, the task cluster and FTP (make serve).

The same three processes the deploy/ systemd units run separately; this is for one host and
for trying the production shape on a workstation. It prepares nothing: migrate and
collectstatic first (``make serve`` does both).
"""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from dssportal.infra.publicurl import public_url_from_listen
from dssportal.infra.supervise import supervise


class Command(BaseCommand):
    help = "Run gunicorn (dssportal.wsgi), qcluster and runftpd together; Ctrl-C stops all."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000", help="gunicorn's HOST:PORT")
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument("--no-ftp", action="store_true")
        parser.add_argument(
            "--lmtp-port", type=int, default=0, help="also run the LMTP mail listener"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, _, port = options["bind"].rpartition(":")
        public_url_from_listen(host or "127.0.0.1", int(port))
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        services = {
            "web": [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(settings.BASE_DIR / "deploy" / "gunicorn.conf.py"),
                "--bind",
                options["bind"],
                "--workers",
                str(options["web_workers"]),
                "dssportal.wsgi:application",
            ],
            "worker": [*manage, "qcluster"],
        }
        if not options["no_ftp"]:
            services["ftp"] = [*manage, "runftpd"]
        if options["lmtp_port"]:
            services["lmtp"] = [*manage, "runlmtp", "--port", str(options["lmtp_port"])]
        self.stdout.write(
            f"dssportal (production shape, DEBUG={int(settings.DEBUG)}): "
            f"web {settings.DSSPORTAL_PUBLIC_URL}/, {', '.join(services)}; Ctrl-C stops all."
        )
        if not options["bind"].startswith(("127.", "localhost", "[::1]")):
            # gunicorn alone holds a thread per slow client: README "Downloads and slow clients".
            self.stdout.write(
                "Without nginx in front, slow clients can hold every web thread: keep this "
                "address off the internet (README, 'Downloads and slow clients')."
            )
        if supervise(services, self.stdout.write):
            sys.exit(1)
