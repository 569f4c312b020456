"""API tokens on the account page: make one (shown once), revoke one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from accounts.models import ApiToken, User
from accounts.shown_once import secret_keep, secret_page
from accounts.tokens import TokenError, api_token_create, api_token_revoke


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


#: Session key holding a new token until the one page that shows it has been rendered.
_NEW_TOKEN_KEY = "api_token_to_show"


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    """Make a token, then show it once after a redirect (:mod:`accounts.shown_once`)."""
    try:
        token, raw = api_token_create(user=_user(request), name=request.POST.get("name", ""))
    except TokenError as exc:
        messages.error(request, str(exc))
        return redirect("account")
    return secret_keep(request, key=_NEW_TOKEN_KEY, row=token, raw=raw, then="api-token-created")


@login_required
@require_GET
def token_created(request: HttpRequest) -> HttpResponse:
    return secret_page(
        request,
        key=_NEW_TOKEN_KEY,
        rows=ApiToken.objects.filter(user=_user(request)),
        template="registration/api_token_created.html",
        name="token",
        what="A token",
    )


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    if api_token_revoke(user=_user(request), token_id=pk):
        messages.success(request, "The API token was revoked; scripts using it are refused now.")
    else:
        messages.error(request, "You have no such live API token.")
    return redirect("account")
