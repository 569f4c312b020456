"""API tokens on the account page: make one (shown once), revoke one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.tokens import TokenError, api_token_create, api_token_revoke


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    try:
        token, raw = api_token_create(user=_user(request), name=request.POST.get("name", ""))
    except TokenError as exc:
        messages.error(request, str(exc))
        return redirect("account")
    # Rendered, not redirected: the token is never stored, so this page is the only place
    # it can be read. no-store keeps it out of the browser's cache.
    response = render(request, "registration/api_token_created.html", {"token": token, "raw": raw})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    if api_token_revoke(user=_user(request), token_id=pk):
        messages.success(request, "The API token was revoked; scripts using it are refused now.")
    else:
        messages.error(request, "You have no such live API token.")
    return redirect("account")
