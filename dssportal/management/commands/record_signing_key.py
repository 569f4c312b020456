"""``record_signing_key``: make this host's SECRET_KEY the site's, after a deliberate change."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from dssportal.infra.signingkey import record_signing_key


class Command(BaseCommand):
    help = (
        "Record this host's SECRET_KEY (as a fingerprint) as the key every host of the site must "
        "share. Run it once after changing the key on every host; qcluster and /healthz compare."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        record = record_signing_key()
        self.stdout.write(
            f"The site's signing key is now this host's ({record.recorded_by}); hosts started "
            "with another SECRET_KEY are refused."
        )
