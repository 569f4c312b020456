"""Secrets shown once (API tokens, app passwords): made on POST, shown after a redirect.

POST/redirect/GET: the POST keeps the new secret in the session and redirects; the GET takes
it out as it renders the one page that shows it (not cached), so a reload, or the back button,
never makes a second secret nor shows the first again.
"""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render


def secret_keep(request: HttpRequest, *, key: str, row: Model, raw: str, then: str) -> HttpResponse:
    """Keep ``raw`` (the secret of ``row``) for the page ``then``, and redirect there."""
    request.session[key] = {"id": row.pk, "raw": raw}
    return redirect(then)


def secret_page(
    request: HttpRequest,
    *,
    key: str,
    rows: QuerySet[Model],
    template: str,
    name: str,
    what: str,
) -> HttpResponse:
    """The page showing the kept secret once (``rows``: the user's own), or, when it was shown
    already, the account page saying so."""
    shown = request.session.pop(key, None)
    row = rows.filter(pk=shown["id"]).first() if shown else None
    if row is None:
        messages.info(
            request,
            f"{what} is shown only once, right after it is made; make a new one if you did "
            "not copy it (and revoke the old one).",
        )
        return redirect("account")
    response = render(request, template, {name: row, "raw": shown["raw"]})
    response["Cache-Control"] = "no-store"
    return response
