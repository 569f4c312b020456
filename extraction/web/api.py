"""A small JSON API for scripts: submit a list, read a request's progress.

Authentication is HTTP Basic with the portal login (username or verified address) and password,
so that a script needs no session or CSRF token; use it over HTTPS.
"""

from __future__ import annotations

import base64
import binascii
import json

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from accounts.models import User
from extraction.models import Request
from extraction.services.links import staging_ftp_url, staging_web_url
from extraction.services.notify import request_web_url
from extraction.services.requests import request_create_from_text


def _error(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Basic realm="dssportal", charset="UTF-8"'
    return response


def _basic_user(request: HttpRequest) -> User | None:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        login, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user = authenticate(request, username=login, password=password)
    return user if isinstance(user, User) else None


def _request_json(item: Request) -> dict[str, object]:
    staging = getattr(item, "staging", None)
    live = staging is not None and staging.deleted_at is None
    return {
        "id": item.pk,
        "status": item.status,
        "received": item.received_at.isoformat(),
        "n_fields": item.n_fields,
        "n_done": item.n_done,
        "n_skipped": item.n_skipped,
        "n_failed": item.n_failed,
        "rejected": item.rejected_lines,
        "url": request_web_url(item),
        "staging": staging.name if staging is not None and live else None,
        "ftp_url": staging_ftp_url(staging) if staging is not None and live else None,
        "web_url": staging_web_url(staging) if staging is not None and live else None,
        "fields": list(
            item.fields.order_by("line_no").values(
                "line_no", "identifier", "status", "output_name", "bytes", "message"
            )
        ),
    }


def _submitted_text(request: HttpRequest) -> str | None:
    body = request.body
    if len(body) > settings.DSSPORTAL_MAX_MAIL_BYTES:
        return None
    if request.content_type == "application/json":
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        text = payload.get("text") if isinstance(payload, dict) else None
        return text if isinstance(text, str) else None
    return body.decode("utf-8", errors="replace")


@csrf_exempt
@require_http_methods(["POST"])
def api_request_create(request: HttpRequest) -> JsonResponse:
    """``POST /api/requests``: JSON ``{"text": "..."}`` or a text/plain body."""
    user = _basic_user(request)
    if user is None:
        return _error(401, "log in with HTTP Basic authentication (portal login and password)")
    text = _submitted_text(request)
    if text is None:
        return _error(
            400,
            'send JSON {"text": "<request list>"} or a text/plain body of at most '
            f"{settings.DSSPORTAL_MAX_MAIL_BYTES} bytes",
        )
    outcome = request_create_from_text(user=user, text=text, source="api")
    return JsonResponse(_request_json(outcome.request), status=201)


@csrf_exempt
@require_http_methods(["GET"])
def api_request_detail(request: HttpRequest, pk: int) -> JsonResponse:
    """``GET /api/requests/<id>``: the request's progress and where its files are."""
    user = _basic_user(request)
    if user is None:
        return _error(401, "log in with HTTP Basic authentication (portal login and password)")
    item = Request.objects.filter(pk=pk, user=user).select_related("staging").first()
    if item is None:
        return _error(404, f"you have no request #{pk}")
    return JsonResponse(_request_json(item))
