"""Template filters and tags of the portal pages."""

from __future__ import annotations

from typing import Any

from django import template

from extraction.services.usage import StagingUsage, staging_usage
from extraction.text.textformat import human_bytes

register = template.Library()
register.filter("human_bytes", human_bytes)


@register.simple_tag
def usage_of(user: Any) -> StagingUsage:
    """``{% usage_of user as usage %}``: the user's staged, reserved and free bytes (the
    account page, which the accounts app renders without knowing about staging)."""
    return staging_usage(user)
