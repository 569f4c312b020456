"""App passwords on the account page: make one (shown once), revoke one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import apppasswords
from accounts.models import User


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@login_required
@require_POST
def app_password_create(request: HttpRequest) -> HttpResponse:
    try:
        row, raw = apppasswords.app_password_create(
            user=_user(request), label=request.POST.get("label", "")
        )
    except apppasswords.AppPasswordError as exc:
        messages.error(request, str(exc)[:1].upper() + str(exc)[1:])
        return redirect("account")
    # Rendered, not redirected: only a hash is kept, so this page is the one place to read it.
    response = render(
        request, "registration/app_password_created.html", {"app_password": row, "raw": raw}
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def app_password_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    if apppasswords.app_password_revoke(user=_user(request), app_password_id=pk):
        messages.success(request, "The app password was revoked; FTP and scripts using it stop.")
    else:
        messages.error(request, "You have no such live app password.")
    return redirect("account")
