from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static

from extraction.core.surveys import survey_help
from extraction.text.requestlist import example_lines_text


def home(request: HttpRequest) -> HttpResponse:
    context = {"example_lines": example_lines_text(), "survey_help": survey_help()}
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
