from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static

from extraction.core.surveys import survey_help

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


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for load balancers: the process answers and the database is reachable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True})


def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``, which browsers ask for whatever a page says: the static icon (under
    its hashed name once ``collectstatic`` has run)."""
    return redirect(static("favicon.ico"), permanent=True)
