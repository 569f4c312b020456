"""API tokens on the account page: make one (shown once), revoke one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.models import ApiToken, User
from accounts.tokens import TokenError, api_token_create, api_token_revoke


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


#: Session key holding a new token until the one page that shows it has been rendered.
_NEW_TOKEN_KEY = "api_token_to_show"


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    """Make a token, then redirect (POST/redirect/GET): reloading the page that shows it
    never makes a second token."""
    try:
        token, raw = api_token_create(user=_user(request), name=request.POST.get("name", ""))
    except TokenError as exc:
        messages.error(request, str(exc))
        return redirect("account")
    request.session[_NEW_TOKEN_KEY] = {"id": token.pk, "raw": raw}
    return redirect("api-token-created")


@login_required
@require_GET
def token_created(request: HttpRequest) -> HttpResponse:
    """The new token, shown once: it is taken out of the session as the page is made, and
    the page is not cached, so a reload or the back button does not show it again."""
    shown = request.session.pop(_NEW_TOKEN_KEY, None)
    token = ApiToken.objects.filter(pk=shown["id"], user=_user(request)).first() if shown else None
    if token is None:
        messages.info(
            request,
            "A token is shown only once, right after it is made; make a new one if you did "
            "not copy it (and revoke the old one).",
        )
        return redirect("account")
    response = render(
        request, "registration/api_token_created.html", {"token": token, "raw": shown["raw"]}
    )
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
