from __future__ import annotations

from django.db import models


class SigningKeyRecord(models.Model):
    """Which signing key this site's hosts share, as a fingerprint (never the key): recorded by
    the first host that starts, compared by every host after it (dssportal.infra.signingkey)."""

    fingerprint = models.CharField(max_length=64)
    recorded_by = models.CharField("recorded by host", max_length=255)
    recorded_at = models.DateTimeField()

    class Meta:
        verbose_name = "signing key record"

    def __str__(self) -> str:
        return f"signing key {self.fingerprint[:12]}… recorded by {self.recorded_by}"
