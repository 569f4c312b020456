"""Who is calling the API, whether the call may come from where it does, and its JSON body.

Scripts authenticate with ``Authorization: Bearer <token>`` (tokens from the account page or
``manage.py api_token``). HTTP Basic with the portal login (its password or an app password)
is accepted for reads and for a
POST whose body is ``application/json``: a foreign web page cannot send that content type
without a CORS preflight, so cached Basic credentials cannot be abused by a cross-site form.
The portal's own pages call the API with their session (unsafe methods then need the CSRF
token). Any request a browser marks as cross-site is refused, and a 401 never carries a
``WWW-Authenticate: Basic`` challenge (that would make the browser prompt for a password).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware

from accounts.models import User
from accounts.tokens import api_token_user

#: Deepest nesting of arrays and objects a JSON body may have (ours has depth 1).
MAX_JSON_DEPTH = 20
#: Longest number literal accepted in a JSON body (a float needs ~25 characters).
MAX_NUMBER_CHARS = 40
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_BRACKET_DEPTH = {"[": 1, "{": 1, "]": -1, "}": -1}
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]++|\\.)*+"?|[\[\]{}]', re.DOTALL)


class ApiError(Exception):
    """An answer other than success: HTTP status and the sentence the caller reads."""

    def __init__(self, status: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def response(self) -> JsonResponse:
        response = JsonResponse({"error": self.message, **self.extra}, status=self.status)
        if self.status == 401:
            # Bearer, not Basic: a Basic challenge makes browsers prompt and then cache the
            # password for every later request, including cross-site ones.
            response["WWW-Authenticate"] = 'Bearer realm="dssportal"'
        return response


def json_error(status: int, message: str, **extra: object) -> JsonResponse:
    return ApiError(status, message, **extra).response()


# -- Where the call comes from --------------------------------------------------------------


def refuse_cross_site(request: HttpRequest) -> None:
    """Refuse a call a browser sends on behalf of another site.

    ``Sec-Fetch-Site`` (set by every current browser) must be ``same-origin`` or ``none``
    (typed or bookmarked); an ``Origin`` header, when present, must be this site's (or one
    of ``CSRF_TRUSTED_ORIGINS``, for a site behind a proxy). Scripts send neither header.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
    if fetch_site and fetch_site not in ("same-origin", "none"):
        raise ApiError(403, "cross-site requests are refused; call the API from a script.")
    origin = request.headers.get("Origin")
    if origin is not None:
        own = f"{request.scheme}://{request.get_host()}"
        trusted = {o.lower() for o in (own, *getattr(settings, "CSRF_TRUSTED_ORIGINS", ()))}
        if origin.rstrip("/").lower() not in trusted:
            raise ApiError(403, f"requests from origin {origin[:100]!r} are refused.")


# -- Who is calling ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    user: User
    method: str  # "token", "basic" or "session"


def _basic_credentials(encoded: str) -> tuple[str, str]:
    try:
        login, sep, password = (
            base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        )
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError(401, "the Basic credentials are not base64 of 'login:password'.") from None
    if not sep or not login or "\x00" in login or "\x00" in password:
        raise ApiError(401, "the Basic credentials are not base64 of 'login:password'.")
    return login, password


def _basic_user(request: HttpRequest, encoded: str) -> User:
    if request.method not in _SAFE_METHODS and request.content_type != "application/json":
        raise ApiError(
            415,
            "Basic authentication is accepted only with a JSON body "
            "(Content-Type: application/json); or use an API token (Authorization: Bearer).",
        )
    login, password = _basic_credentials(encoded)
    user = authenticate(request, username=login, password=password, allow_app_password=True)
    if not isinstance(user, User):
        raise ApiError(401, "wrong login or password.")
    return user


def _no_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


def session_user(request: HttpRequest) -> User | None:
    user = getattr(request, "user", None)
    if not isinstance(user, User) or not user.is_authenticated:
        return None
    if request.method not in _SAFE_METHODS:
        # The portal's own pages may POST with their session, but only with the CSRF token.
        refused = CsrfViewMiddleware(_no_view).process_view(request, _no_view, (), {})
        if refused is not None:
            raise ApiError(403, "a session request must carry the CSRF token.")
    return user


def basic_user(request: HttpRequest) -> User | None:
    """The user of ``Authorization: Basic`` (login and password, or an app password); None
    without that header.

    Raises
    ------
    ApiError
        403 for a cross-site call (a browser's cached credentials), 401 for a wrong login or
        password, 415 for a method that changes something without a JSON body.
    """
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    refuse_cross_site(request)
    return _basic_user(request, value.strip())


def bearer_user(request: HttpRequest) -> User | None:
    """The user of a valid ``Authorization: Bearer`` token; None without that header.

    Raises
    ------
    ApiError
        401 for an unknown or revoked token.
    """
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    user = api_token_user(raw=value.strip())
    if user is None:
        raise ApiError(401, "this API token is unknown or revoked; make one on your account page.")
    return user


def api_caller(request: HttpRequest) -> Caller:
    """The authenticated caller of an API view.

    Raises
    ------
    ApiError
        403 for a cross-site call, 401 for missing or wrong credentials, 415 for Basic
        authentication without a JSON body.
    """
    refuse_cross_site(request)
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        user = bearer_user(request)
        assert user is not None
        return Caller(user, "token")
    if scheme.lower() == "basic":
        return Caller(_basic_user(request, value.strip()), "basic")
    if header:
        raise ApiError(401, "use 'Authorization: Bearer <token>' (or Basic with a JSON body).")
    user = session_user(request)
    if user is None:
        raise ApiError(
            401,
            "authenticate with 'Authorization: Bearer <token>'; make a token on your account page.",
        )
    return Caller(user, "session")


# -- The body -----------------------------------------------------------------------------


def _number(text: str) -> float | int:
    if len(text) > MAX_NUMBER_CHARS:
        raise ApiError(
            400, f"a number in the JSON body has more than {MAX_NUMBER_CHARS} characters."
        )
    value = float(text) if any(c in text for c in ".eE") else int(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise ApiError(400, "a number in the JSON body is out of range.")
    return value


def _no_constant(name: str) -> Any:
    raise ApiError(400, f"{name} is not valid JSON.")


def json_body(request: HttpRequest, *, max_bytes: int | None = None) -> object:
    """The request body parsed as JSON, within size, depth and number-length limits.

    Raises
    ------
    ApiError
        413 for a body over ``max_bytes`` (default ``DSSPORTAL_MAX_MAIL_BYTES``), 400 for
        anything that is not valid UTF-8 JSON within the limits.
    """
    limit = settings.DSSPORTAL_MAX_MAIL_BYTES if max_bytes is None else max_bytes
    body = request.body
    if len(body) > limit:
        raise ApiError(413, f"the body is larger than {limit} bytes.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"the body is not UTF-8 (byte {exc.start}).") from None
    if _nesting_depth(text) > MAX_JSON_DEPTH:
        raise ApiError(400, f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep.")
    try:
        return json.loads(text, parse_int=_number, parse_float=_number, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from None
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise ApiError(400, "the JSON body is nested too deeply.") from None


def _nesting_depth(text: str) -> int:
    """Deepest bracket nesting outside JSON strings (an upper bound for invalid JSON).

    One pass: each token is a string (its closing quote optional, so that an unterminated
    string ends the scan instead of being retried from every later quote, which took
    quadratic time) or a bracket; possessive repeats never backtrack.
    """
    steps = [
        _BRACKET_DEPTH[token]
        for token in _STRING_OR_BRACKET.findall(text)
        if token in _BRACKET_DEPTH
    ]
    return max(accumulate(steps), default=0)


def clean_text(value: object, *, field: str) -> str:
    """A JSON string the database and the parser can take: no NUL, no lone surrogate.

    Raises
    ------
    ApiError
        400 naming the field, and the line, of the offending character.
    """
    if not isinstance(value, str):
        raise ApiError(400, f'"{field}" must be a string, not {_json_type(value)}.')
    for bad, what in (("\x00", "a NUL character"),):
        if bad in value:
            line = value.count("\n", 0, value.index(bad)) + 1
            raise ApiError(400, f'"{field}" contains {what} on line {line}; remove it.')
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = value.count("\n", 0, exc.start) + 1
        raise ApiError(
            400, f'"{field}" contains a lone UTF-16 surrogate on line {line}; send real characters.'
        ) from None
    return value


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "true/false"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)
