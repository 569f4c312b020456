"""First start of the embedded default: the demo sky, a demo user and an operator account."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from tqdm import tqdm

from accounts.models import User
from accounts.services import user_create
from extraction.models import Plate
from extraction.services.obscore import footprints_store, plates_without_footprint
from extraction.text.requestlist import example_lines_text

DEMO_USER = ("demo", "demo@example.org", "dss-demo")
DEMO_OPERATOR = ("operator", "operator@example.org", "dss-operator")


class Command(BaseCommand):
    help = "Build the demo sky and demo accounts if they are missing (development only)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not Plate.objects.filter(online=True, synthetic=True).exists():
            self.stdout.write("Building the demo sky (synthetic DSS plates), once...")
            call_command("synthesize_plates", "--demo")
        self._outline_plates()
        if not settings.DEBUG:
            self.stdout.write("DEBUG is off: no demo accounts are created.")
            return
        for username, email, password in (DEMO_USER, DEMO_OPERATOR):
            if not User.objects.filter(username=username).exists():
                user = user_create(
                    username=username,
                    email=email,
                    password=password,
                    is_staff=username == "operator",
                )
                if user.is_staff:
                    user.is_superuser = True
                    user.save(update_fields=["is_superuser"])
        self.stdout.write(self._instructions())

    def _outline_plates(self) -> None:
        """The plates' footprints now, so that the first SIA-2 or MOC query answers at once."""
        missing = plates_without_footprint()
        if not missing:
            return
        self.stdout.write(f"Outlining {len(missing)} plates on the sky (SIA-2, MOC), once...")
        with tqdm(total=len(missing), desc="footprints", unit=" plates", disable=None) as bar:
            footprints_store(missing, progress=bar.update)

    def _instructions(self) -> str:
        base = settings.DSSPORTAL_PUBLIC_URL
        user, email, password = DEMO_USER
        operator, _, operator_password = DEMO_OPERATOR
        example_lines = example_lines_text()
        return f"""
Demo accounts: user {user} / {password} (address {email}); staff {operator} / {operator_password}.

Send the example request through the web form: log in at {base}/login/ as {user},
open {base}/requests/ and paste:

{example_lines}
or by e-mail, as the mail system would deliver it (paste at a shell prompt):

.venv/bin/python manage.py ingest_mail <<'MAIL'
From: {email}
To: {settings.DSSPORTAL_REQUEST_ADDRESS}
Subject: DSS request
Message-ID: <demo-1@example.org>

{example_lines}MAIL

Replies land in {settings.OUTBOX_DIR}/ as .eml files; the images in the staging directory
named in them (FTP: {settings.DSSPORTAL_FTP_PUBLIC_URL}/, log in as {user}).
"""
