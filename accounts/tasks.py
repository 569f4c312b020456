"""django-q2 tasks of the accounts app: an interface that calls services, nothing more."""

from __future__ import annotations

from accounts.throttle import throttle_counters_prune


def prune_throttle_counters() -> str:
    return f"deleted {throttle_counters_prune()} idle throttle counters"
