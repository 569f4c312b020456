from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def service(request: HttpRequest) -> dict[str, object]:
    """The service's addresses, shown on every page."""
    return {
        "request_address": settings.DSSPORTAL_REQUEST_ADDRESS,
        "delete_address": settings.DSSPORTAL_DELETE_ADDRESS,
        "staging_days": settings.DSSPORTAL_STAGING_DAYS,
    }
