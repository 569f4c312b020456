"""Sign-in through the institute's OpenID Connect provider, and a logout that also ends the
provider's session: thin views over :mod:`accounts.oidc` (protocol) and
:mod:`accounts.oidc_users` (which account)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import logout as auth_logout
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from accounts.oidc import (
    SESSION_ID_TOKEN,
    ProviderUnavailable,
    SignInRefused,
    logout_url,
    oidc_enabled,
    sign_in_answer,
    sign_in_redirect,
)
from accounts.oidc_users import SignInError, oidc_user
from accounts.throttle import client_address

_SESSION_NEXT = "oidc_next"
_BACKEND = "accounts.backends.UsernameOrEmailBackend"


def _unavailable(request: HttpRequest) -> HttpResponse:
    return render(request, "registration/oidc_unavailable.html", status=503)


def _refused(request: HttpRequest, reason: str) -> HttpResponse:
    return render(request, "registration/oidc_refused.html", {"reason": reason}, status=403)


def _safe_next(request: HttpRequest, target: str) -> str:
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and allowed else resolve_url(settings.LOGIN_REDIRECT_URL)


@require_GET
def oidc_login(request: HttpRequest) -> HttpResponse:
    if not oidc_enabled():
        raise Http404("Single sign-on is not configured.")
    request.session[_SESSION_NEXT] = _safe_next(request, request.GET.get("next", ""))
    try:
        return sign_in_redirect(request)
    except ProviderUnavailable:
        return _unavailable(request)


@require_GET
def oidc_callback(request: HttpRequest) -> HttpResponse:
    if not oidc_enabled():
        raise Http404("Single sign-on is not configured.")
    try:
        answer = sign_in_answer(request)
        user = oidc_user(
            issuer=answer.issuer,
            subject=answer.subject,
            claims=answer.claims,
            client_address=client_address(request),
        )
    except ProviderUnavailable:
        return _unavailable(request)
    except (SignInRefused, SignInError) as exc:
        return _refused(request, str(exc))
    target = request.session.pop(_SESSION_NEXT, "")
    login(request, user, backend=_BACKEND)
    request.session[SESSION_ID_TOKEN] = answer.id_token
    return redirect(_safe_next(request, target))


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    """End the portal's session, then the provider's when the user signed in there and the
    provider offers an end-session endpoint."""
    provider_logout = logout_url(request.session.get(SESSION_ID_TOKEN))
    auth_logout(request)
    return redirect(provider_logout or resolve_url(settings.LOGOUT_REDIRECT_URL))
