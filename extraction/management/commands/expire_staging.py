from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from extraction.services.staging import staging_expire, staging_usage_recompute


class Command(BaseCommand):
    help = "Delete staging directories past their expiry and re-measure staged bytes from disk."

    def handle(self, *args: Any, **options: Any) -> None:
        expired = staging_expire()
        for deletion in expired:
            self.stdout.write(f"expired {deletion.name} ({deletion.freed_bytes} bytes freed)")
        total = staging_usage_recompute()
        self.stdout.write(f"{len(expired)} directories expired; {total} bytes staged in all.")
