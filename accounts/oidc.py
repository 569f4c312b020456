"""The OpenID Connect protocol with the institute's provider (Authlib's Django client).

Configured by ``DSSPORTAL_OIDC_*`` (see settings and README); no issuer, no single sign-on.
Endpoints and keys come from ``<issuer>/.well-known/openid-configuration`` when first needed,
so a provider that is down when the portal starts does not stop it. Authlib keeps the state
and the nonce of each sign-in in the session and removes them when the provider answers, so
an answer is accepted once: a replayed callback finds no state. The id token's signature,
issuer, audience, expiry and nonce are checked (joserfc takes the only key of a key set when
the token names no ``kid``); the key set is fetched anew for every sign-in, so a provider
that rotates its only key is followed at once.

Which user a sign-in opens is decided in :mod:`accounts.oidc_users`.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import DjangoOAuth2App, OAuth
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from joserfc.errors import JoseError

log = logging.getLogger(__name__)

CLIENT_NAME = "institute"
#: Endpoints read from the discovery document are used for this long, then read again.
METADATA_MAX_AGE_S = 3600.0
#: Where the provider sends the browser back to: ``<public URL>`` + this.
CALLBACK_PATH = "/oidc/callback/"
#: Session key of the last id token (the ``id_token_hint`` of the provider's logout).
SESSION_ID_TOKEN = "oidc_id_token"


class ProviderUnavailable(Exception):
    """The provider did not answer, or answered with something that is not OpenID Connect."""


class SignInRefused(Exception):
    """The provider's answer cannot open a session; ``str()`` tells the user why."""


@dataclass(frozen=True)
class ProviderSignIn:
    """What a successful answer from the provider says about the person signing in."""

    issuer: str
    subject: str
    claims: dict[str, Any]  # id token claims, completed from the userinfo endpoint
    id_token: str


def oidc_enabled() -> bool:
    return bool(settings.DSSPORTAL_OIDC_ISSUER)


def redirect_uri() -> str:
    return settings.DSSPORTAL_PUBLIC_URL + CALLBACK_PATH


def _config_key() -> tuple[str, ...]:
    return (
        settings.DSSPORTAL_OIDC_ISSUER,
        settings.DSSPORTAL_OIDC_CLIENT_ID,
        settings.DSSPORTAL_OIDC_CLIENT_SECRET,
        settings.DSSPORTAL_OIDC_SCOPES,
        str(settings.DSSPORTAL_OIDC_TIMEOUT_S),
    )


_clients: dict[tuple[str, ...], tuple[float, DjangoOAuth2App]] = {}
_clients_lock = threading.Lock()


def _client() -> DjangoOAuth2App:
    """The client for the configured provider; its discovery document is kept for
    :data:`METADATA_MAX_AGE_S` (per process)."""
    key = _config_key()
    with _clients_lock:
        made_at, client = _clients.get(key, (0.0, None))
        if client is None or time.monotonic() - made_at > METADATA_MAX_AGE_S:
            issuer, client_id, secret, scopes, timeout = key
            registry = OAuth()
            client = registry.register(
                CLIENT_NAME,
                client_id=client_id,
                client_secret=secret,
                server_metadata_url=f"{issuer}/.well-known/openid-configuration",
                client_kwargs={
                    "scope": scopes,
                    "code_challenge_method": "S256",
                    "default_timeout": float(timeout),
                },
            )
            _clients.clear()
            _clients[key] = (time.monotonic(), client)
    return client


def _metadata(client: DjangoOAuth2App) -> dict[str, Any]:
    try:
        metadata: dict[str, Any] = client.load_server_metadata()
    except (requests.RequestException, ValueError) as exc:
        log.warning("OpenID provider %s unreachable: %s", settings.DSSPORTAL_OIDC_ISSUER, exc)
        raise ProviderUnavailable(str(exc)) from exc
    issuer = str(metadata.get("issuer", "")).rstrip("/")
    if issuer != settings.DSSPORTAL_OIDC_ISSUER:
        # OpenID Connect Discovery 4.3: the document must name the issuer it was read from.
        raise ProviderUnavailable(
            f"the discovery document names issuer {issuer!r}, not the configured "
            f"{settings.DSSPORTAL_OIDC_ISSUER!r}"
        )
    return metadata


def sign_in_redirect(request: HttpRequest) -> HttpResponse:
    """Send the browser to the provider's log-in page (state, nonce and PKCE in the session).

    Raises
    ------
    ProviderUnavailable
        When the discovery document cannot be read.
    """
    client = _client()
    _metadata(client)
    response: HttpResponse = client.authorize_redirect(request, redirect_uri())
    return response


def _userinfo(client: DjangoOAuth2App, token: dict[str, Any]) -> dict[str, Any]:
    if not client.load_server_metadata().get("userinfo_endpoint"):
        return {}
    info = dict(client.userinfo(token=token))
    return info


def sign_in_answer(request: HttpRequest) -> ProviderSignIn:
    """Check the provider's answer on the callback and read who signed in.

    Raises
    ------
    ProviderUnavailable
        The provider could not be reached to exchange the code.
    SignInRefused
        An answer without a matching state in this session (replayed, or from another
        browser), an error from the provider, an id token that fails its checks, a
        userinfo answer about another subject.
    """
    client = _client()
    metadata = _metadata(client)
    client.server_metadata.pop("jwks", None)  # fresh keys for every sign-in
    try:
        token = client.authorize_access_token(request)
        userinfo = _userinfo(client, token)
    except (requests.RequestException, ValueError) as exc:
        log.warning("OpenID provider %s failed during sign-in: %s", metadata["issuer"], exc)
        raise ProviderUnavailable(str(exc)) from exc
    except OAuthError as exc:
        raise SignInRefused(_oauth_error_text(exc)) from exc
    except JoseError as exc:
        log.warning("id token refused: %s", exc)
        raise SignInRefused(
            "The provider's answer did not pass its checks (signature, audience, expiry or "
            "nonce). Please sign in again."
        ) from exc
    claims = dict(token.get("userinfo") or {})
    if not claims.get("sub") or not token.get("id_token"):
        raise SignInRefused("The provider answered without an id token; please sign in again.")
    if userinfo and userinfo.get("sub") != claims["sub"]:
        # OpenID Connect Core 5.3.2: a userinfo answer about someone else must not be used.
        raise SignInRefused("The provider's user information names another person.")
    merged = {**userinfo, **claims}
    return ProviderSignIn(
        issuer=settings.DSSPORTAL_OIDC_ISSUER,
        subject=str(claims["sub"]),
        claims=merged,
        id_token=str(token["id_token"]),
    )


def _oauth_error_text(exc: OAuthError) -> str:
    if exc.error == "mismatching_state":
        return (
            "This sign-in answer does not belong to a sign-in started in this browser, or it "
            "was used already. Please sign in again."
        )
    if exc.error == "access_denied":
        return "The sign-in was cancelled at the provider."
    return f"The provider refused the sign-in ({exc.error}). Please sign in again."


def logout_url(id_token: str | None) -> str | None:
    """The provider's end-session URL for this session, or None when the provider offers
    none (or cannot be reached: the local logout happens anyway)."""
    if not oidc_enabled() or not id_token:
        return None
    client = _client()
    try:
        metadata = _metadata(client)
    except ProviderUnavailable:
        return None
    if not metadata.get("end_session_endpoint"):
        return None
    result = client.create_logout_url(
        post_logout_redirect_uri=settings.DSSPORTAL_PUBLIC_URL + "/",
        id_token_hint=id_token,
        client_id=settings.DSSPORTAL_OIDC_CLIENT_ID,
    )
    return str(result["url"])
