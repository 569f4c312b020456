"""A user's staging area in figures: staged, reserved for fields in progress, quota, free."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import User
from extraction.services.requests import bytes_reserved
from extraction.services.staging import staging_bytes_used


@dataclass(frozen=True)
class StagingUsage:
    used: int
    reserved: int
    quota: int

    @property
    def free(self) -> int:
        return max(0, self.quota - self.used - self.reserved)


def staging_usage(user: User) -> StagingUsage:
    return StagingUsage(
        used=staging_bytes_used(user=user),
        reserved=bytes_reserved(user=user),
        quota=user.quota_bytes,
    )
