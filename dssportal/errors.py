"""Answers when something fails before or outside a view: a body too large to read, a
server error, the database gone. Under the API prefixes (``/api/``, ``/vo/``) every such
answer is JSON, like the API's own; an outage is a 503 with ``Retry-After``, not a 500."""

from __future__ import annotations

import sys
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

#: Paths whose every answer is JSON: the API and the VO services.
API_PREFIXES = ("/api/", "/vo/")
#: Seconds a client should wait after an outage before trying again.
OUTAGE_RETRY_AFTER_S = 30
_OUTAGE_ERRORS = (OperationalError, InterfaceError)


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path in ("/api", "/vo")


def error_response(request: HttpRequest, status: int, message: str) -> HttpResponse:
    """JSON under the API prefixes, a short page elsewhere. The page is rendered without the
    request: its context processors would ask the database, which may be what failed."""
    if is_api_path(request.path):
        return JsonResponse({"error": message}, status=status)
    page = loader.get_template("error.html").render({"status": status, "message": message})
    return HttpResponse(page, status=status)


class RequestBodyLimitMiddleware:
    """Refuse a body larger than ``DSSPORTAL_MAX_REQUEST_BODY_BYTES`` from its
    Content-Length, before anything reads it: a 300 MB upload is never spooled to /tmp."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        limit = int(settings.DSSPORTAL_MAX_REQUEST_BODY_BYTES)
        try:
            length = int(declared)
        except ValueError:
            return error_response(request, 400, "The Content-Length header is not a number.")
        if length > limit:
            return error_response(
                request,
                413,
                f"The request body has {length} bytes; at most {limit} are accepted "
                f"({limit / 1_000_000:g} MB).",
            )
        return self.get_response(request)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: a 503 with Retry-After when the database is unreachable (connections
    exhausted, server restarting), else a 500; JSON under the API prefixes."""
    if isinstance(sys.exc_info()[1], _OUTAGE_ERRORS):
        response = error_response(
            request,
            503,
            "The archive's database is unavailable for a moment; please try again in "
            f"{OUTAGE_RETRY_AFTER_S} seconds.",
        )
        response["Retry-After"] = str(OUTAGE_RETRY_AFTER_S)
        return response
    return error_response(
        request, 500, "The archive failed to answer this request; the staff have been told."
    )


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler400`` (a suspicious request, a body over Django's own limits)."""
    return error_response(request, 400, "The request could not be read.")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler403``."""
    return error_response(request, 403, "You may not do this.")
