from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static

from dssportal.errors import OUTAGE_RETRY_AFTER_S
from dssportal.infra.signingkey import PUBLIC_PROBLEM, signing_key_problem
from extraction.core.surveys import survey_help
from extraction.services.queue import broker_problem
from extraction.text.requestlist import example_lines_text


def home(request: HttpRequest) -> HttpResponse:
    context = {"example_lines": example_lines_text(), "survey_help": survey_help()}
    return render(request, "home.html", context)


def _database_problem() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None


def _signing_key_problem() -> str | None:
    """In public, only that the key differs (the record's host and time are in the logs of
    the commands that refuse)."""
    try:
        return PUBLIC_PROBLEM if signing_key_problem() else None
    except DatabaseError as exc:  # unreachable, or never migrated
        return f"not checked: {type(exc).__name__}: {exc}"[:300]


def healthz(request: HttpRequest) -> HttpResponse:
    """Health for load balancers: the process answers, the database and the task broker are
    reachable, and this host signs with the site's key. 200 with ``"ok": true``, else 503
    naming what failed, with Retry-After."""
    problems = {
        "database": _database_problem(),
        "broker": broker_problem(),
        "signing_key": _signing_key_problem(),
    }
    ok = not any(problems.values())
    answer = {"ok": ok, **{name: problem or "ok" for name, problem in problems.items()}}
    response = JsonResponse(answer, status=200 if ok else 503)
    if not ok:
        response["Retry-After"] = str(OUTAGE_RETRY_AFTER_S)
    return response


def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``, which browsers ask for whatever a page says: the static icon (under
    its hashed name once ``collectstatic`` has run)."""
    return redirect(static("favicon.ico"), permanent=True)
