"""What every IVOA view shares: parameters from GET or POST, CORS, VOTable and error answers,
and who is calling (an API token, or an anonymous address: sessions are never read here, so
a foreign page can use these endpoints only as anyone could)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from accounts.throttle import client_address
from extraction.services.cutouts import CutoutFile, CutoutRefused
from extraction.services.soda import CutoutCaller
from extraction.services.votables import VOTABLE_TYPE, error_document
from extraction.web.apiauth import ApiError, bearer_user

View = Callable[..., HttpResponseBase]


def vo_view(*methods: str) -> Callable[[View], View]:
    """An anonymous IVOA endpoint: allowed methods, CORS ``*`` on its answers, no CSRF (no
    cookie is read), ``OPTIONS`` answered for preflights."""

    def decorate(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method == "OPTIONS":
                response: HttpResponseBase = HttpResponse(status=204)
                response["Access-Control-Allow-Methods"] = ", ".join((*methods, "OPTIONS"))
                response["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
                response["Access-Control-Max-Age"] = "86400"
            elif request.method not in methods and not (
                request.method == "HEAD" and "GET" in methods
            ):
                response = HttpResponse(
                    f"use {' or '.join(methods)} here.\n",
                    status=405,
                    content_type="text/plain; charset=utf-8",
                )
                response["Allow"] = ", ".join(methods)
            else:
                response = view(request, *args, **kwargs)
            response["Access-Control-Allow-Origin"] = "*"
            response["Access-Control-Expose-Headers"] = "Content-Disposition, Retry-After"
            return response

        return wrapper

    return decorate


def parameters(request: HttpRequest) -> list[tuple[str, str]]:
    """Every (name, value) of the query string and, for POST, of the form body."""
    pairs = [(k, v) for k in request.GET for v in request.GET.getlist(k)]
    if request.method == "POST":
        pairs += [(k, v) for k in request.POST for v in request.POST.getlist(k)]
    return pairs


def votable(payload: bytes, *, status: int = 200) -> HttpResponse:
    return HttpResponse(payload, status=status, content_type=VOTABLE_TYPE)


def usage_error(message: str, *, status: int = 400) -> HttpResponse:
    """The DALI error document with ``UsageError: message``."""
    return votable(error_document(message), status=status)


def text_error(status: int, message: str, *, retry_after_s: int | None = None) -> HttpResponse:
    """A SODA or old-URL error: ``text/plain``, ``UsageError: ...`` (``NotFoundFault`` for
    404, ``RateLimited`` for 429)."""
    kind = {404: "NotFoundFault", 429: "RateLimited"}.get(status, "UsageError")
    response = HttpResponse(
        f"{kind}: {message}\n", status=status, content_type="text/plain; charset=utf-8"
    )
    if retry_after_s is not None:
        response["Retry-After"] = str(retry_after_s)
    return response


def refused(exc: CutoutRefused) -> HttpResponse:
    return text_error(exc.status, exc.message, retry_after_s=exc.retry_after_s)


def cutout_caller(request: HttpRequest) -> CutoutCaller:
    """The token's user, or the anonymous client address.

    Raises
    ------
    ApiError
        401 for a token that is unknown or revoked.
    """
    return CutoutCaller(user=bearer_user(request), address=client_address(request))


def unauthorised(exc: ApiError) -> HttpResponse:
    return text_error(exc.status, exc.message)


def file_answer(made: CutoutFile, *, attachment: bool = False) -> HttpResponse:
    """The cut-out's bytes, shown (``inline``) or, with ``attachment``, saved by a browser."""
    served = HttpResponse(made.payload, content_type=made.content_type)
    disposition = "attachment" if attachment else "inline"
    served["Content-Disposition"] = f'{disposition}; filename="{made.filename}"'
    served["X-DSS-Plate"] = made.plate_id
    served["X-DSS-Clipped"] = "yes" if made.clipped else "no"
    return served


def base_url(request: HttpRequest) -> str:
    """``scheme://host`` as the caller reached us (links in answers point back there)."""
    return f"{request.scheme}://{request.get_host()}"
