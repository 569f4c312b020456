from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static

from dssportal.errors import OUTAGE_RETRY_AFTER_S
from extraction.core.surveys import survey_help
from extraction.services.queue import broker_problem

# The three example lines of the original service description, columns aligned as there.
EXAMPLE_LINES = (
    "\n".join(
        "{:<8}{:<8}{:<8}{:<8}{:<8}{:<8}{:<8}{:<8}{:<8}{:<8}{:<8}{:<8}{}".format(*line.split())
        for line in (
            "field01 12 5 13 30 45 32 10. 10. B1950 DSS1 e G",
            "N7793 23 57 49.4 -32 35 24. 60. 60. J2000 DSS1 04IN U",
            "NGC253 0 47 34.3 -25 17 32. 45. 45. J2000 DSS2 c B",
        )
    )
    + "\n"
)


def home(request: HttpRequest) -> HttpResponse:
    context = {"example_lines": EXAMPLE_LINES, "survey_help": survey_help()}
    return render(request, "home.html", context)


def _database_problem() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None


def healthz(request: HttpRequest) -> HttpResponse:
    """Health for load balancers: the process answers, the database and the task broker are
    reachable. 200 with ``"ok": true``, else 503 naming what failed, with Retry-After."""
    problems = {"database": _database_problem(), "broker": broker_problem()}
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
