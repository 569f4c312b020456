"""Run the whole portal in the foreground: web, task worker and FTP, stopped by one Ctrl-C."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandParser

from dssportal.infra.publicurl import public_url_from_listen
from dssportal.infra.supervise import supervise


class Command(BaseCommand):
    help = "Prepare the embedded default (demo sky, demo user) and run web, worker and FTP."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-demo", action="store_true", help="Skip the demo sky and user.")

    def handle(self, *args: Any, **options: Any) -> None:
        public_url_from_listen(options["host"], options["port"])
        if not options["no_demo"] and "prepare_demo" in get_commands():
            call_command("prepare_demo")
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        services = {
            "web": [*manage, "runserver", f"{options['host']}:{options['port']}", "--noreload"],
            "worker": [*manage, "qcluster"],
        }
        if "runftpd" in get_commands():
            services["ftp"] = [
                *manage,
                "runftpd",
                "--host",
                settings.DSSPORTAL_FTP_HOST,
                "--port",
                str(settings.DSSPORTAL_FTP_PORT),
            ]
        self._banner(options["host"], options["port"], "ftp" in services)
        supervise(services, self.stdout.write)

    def _banner(self, host: str, port: int, with_ftp: bool) -> None:
        base = settings.DSSPORTAL_PUBLIC_URL
        lines = [
            "",
            "dssportal is starting:",
            f"  portal   {base}/",
            f"  admin    {base}/admin/",
        ]
        if with_ftp:
            lines.append(f"  ftp      {settings.DSSPORTAL_FTP_PUBLIC_URL}/")
        lines += [f"  data     {settings.DATA_DIR}", "Press Ctrl-C once to stop everything.", ""]
        self.stdout.write("\n".join(lines))
