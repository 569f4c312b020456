"""The JSON API for scripts: submit lists, follow requests, resolve names, find plates.

Authentication and the limits on what a body may be are in ``apiauth``. Every answer is
JSON, errors included (``{"error": "..."}`` with a 4xx status); nothing a caller sends may
produce a 500.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from extraction.core.surveys import PlateMode
from extraction.models import Request
from extraction.services.cutouts import CutoutRefused, cutout_make
from extraction.services.links import staging_ftp_url, staging_web_url
from extraction.services.mosaics import mosaic_plates_by_field
from extraction.services.names import NameNotFound, name_resolve
from extraction.services.notify import request_web_url
from extraction.services.platefinder import (
    FinderInputError,
    finder_surveys,
    known_surveys,
    plates_covering,
)
from extraction.services.requests import (
    REJECTED_ERROR_CHARS,
    REJECTED_TEXT_CHARS,
    parse_with_limits,
    rejected_listing,
    request_cancel,
    request_create_from_text,
)
from extraction.services.selection import FieldTarget
from extraction.services.staging import StagingError, staging_directory_delete
from extraction.text.mailtext import decode_text
from extraction.text.safetext import clip
from extraction.web.apiauth import (
    ApiError,
    Caller,
    api_caller,
    clean_text,
    json_body,
    json_error,
)

ApiView = Callable[..., HttpResponse]


def api_view(*methods: str) -> Callable[[Callable[..., HttpResponse]], ApiView]:
    """An API endpoint: allowed methods, an authenticated caller, errors as JSON.

    The view is called as ``view(request, caller, **kwargs)``.
    """

    def decorate(view: Callable[..., HttpResponse]) -> ApiView:
        @csrf_exempt  # sessions are checked for CSRF in api_caller; tokens need no check
        @wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            return _answered_as_json(
                request, methods, lambda: view(request, api_caller(request), **kwargs)
            )

        return wrapper

    return decorate


def _answered_as_json(
    request: HttpRequest, methods: tuple[str, ...], answer: Callable[[], HttpResponse]
) -> HttpResponse:
    """The view's answer, or its refusal as JSON (a 404 too: never an HTML page)."""
    try:
        if request.method not in methods:
            raise ApiError(405, f"use {' or '.join(methods)} here.")
        return answer()
    except ApiError as exc:
        response = exc.response()
        if exc.status == 405:
            response["Allow"] = ", ".join(methods)
        return response
    except Http404 as exc:
        return json_error(404, str(exc) or "no such object.")


def public_api_view(*methods: str) -> Callable[[Callable[..., HttpResponse]], ApiView]:
    """A read-only endpoint anyone may call, like the name resolvers and plate finders of
    the archives users compare us with: allowed methods and errors as JSON, no caller."""

    def decorate(view: Callable[..., HttpResponse]) -> ApiView:
        @wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            return _answered_as_json(request, methods, lambda: view(request, **kwargs))

        return wrapper

    return decorate


def api_not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any other address under ``/api/``: a JSON 404 naming the endpoints, never a page."""
    return json_error(
        404,
        f"there is no API endpoint {request.path!r}; the endpoints are /api/requests, "
        "/api/requests/<number>, /api/resolve, /api/plates and /api/cutout.",
    )


# -- Requests ---------------------------------------------------------------------------


def bounded_rejections(rejected: Sequence[Any], *, total: int | None = None) -> dict[str, object]:
    """At most ``DSSPORTAL_MAX_LISTED_ERRORS`` rejected lines, each cut short, and how many
    were left out (``total``: ``Request.n_rejected`` for the stored, already bounded list)."""
    shown = rejected_listing(rejected, total=total)
    return {
        "n_rejected": shown.total,
        "rejected": [_quoted(row) for row in shown.shown],
        "rejected_not_listed": shown.more,
    }


def _quoted(row: Any) -> Any:
    if not isinstance(row, dict):
        return row
    return {
        **row,
        "text": clip(str(row.get("text") or ""), REJECTED_TEXT_CHARS),
        "error": clip(str(row.get("error") or ""), REJECTED_ERROR_CHARS),
    }


def _request_summary(item: Request) -> dict[str, object]:
    staging = getattr(item, "staging", None)
    live = staging is not None and staging.deleted_at is None
    return {
        "id": item.pk,
        "status": item.status,
        "source": item.source,
        "received": item.received_at.isoformat(),
        "n_fields": item.n_fields,
        "n_done": item.n_done,
        "n_skipped": item.n_skipped,
        "n_failed": item.n_failed,
        "n_rejected": item.n_rejected,
        "url": request_web_url(item),
        "staging": staging.name if staging is not None and live else None,
        "ftp_url": staging_ftp_url(staging) if staging is not None and live else None,
        "web_url": staging_web_url(staging) if staging is not None and live else None,
    }


def _request_json(item: Request) -> dict[str, object]:
    rows = item.fields.order_by("line_no").values(
        "id", "line_no", "identifier", "status", "survey", "mode", "plate_id_asked",
        "output_name", "bytes", "message", "plate__plate_id",
    )  # fmt: skip
    mosaics = mosaic_plates_by_field(request_id=item.pk)
    summary = _request_summary(item)
    web_url = summary["web_url"]
    fields = []
    for row in rows:
        shown = {k: v for k, v in row.items() if k not in ("id", "plate__plate_id")}
        field_id, plate_id = row["id"], row["plate__plate_id"]
        # Each file's own URL, fetchable with the same token (Range supported).
        done = row["output_name"] and isinstance(web_url, str)
        fields.append(
            {
                **shown,
                "file_url": f"{web_url}{row['output_name']}" if done else None,
                # The plates the image was made from: one, or a mosaic's in PLATEn order.
                "plates_used": mosaics.get(field_id, [plate_id] if plate_id else []),
            }
        )
    rejections = bounded_rejections(list(item.rejected_lines), total=item.n_rejected)
    return {**summary, **rejections, "fields": fields}


def _submitted_text(request: HttpRequest, caller: Caller) -> str:
    if request.content_type == "application/json":
        payload = json_body(request)
        if not isinstance(payload, dict) or "text" not in payload:
            raise ApiError(400, 'send a JSON object {"text": "<request list>"}.')
        return clean_text(payload["text"], field="text")
    if caller.method == "basic":  # pragma: no cover - apiauth refuses it first
        raise ApiError(415, "Basic authentication needs a JSON body.")
    if request.content_type not in ("text/plain", ""):
        raise ApiError(415, 'send Content-Type application/json ({"text": ...}) or text/plain.')
    if len(request.body) > settings.DSSPORTAL_MAX_MAIL_BYTES:
        raise ApiError(413, f"the body is larger than {settings.DSSPORTAL_MAX_MAIL_BYTES} bytes.")
    text = _plain_text(request.body, (request.content_params or {}).get("charset"))
    return clean_text(text, field="body")


def _plain_text(body: bytes, charset: str | None) -> str:
    """A text/plain list: by its BOM or declared charset as the mail gate reads them, else
    UTF-8 strictly (a script is told, rather than served a guess)."""
    declared = (charset or "").strip().strip('"').lower()
    if body.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")) or declared not in (
        "",
        "utf-8",
        "utf8",
        "us-ascii",
    ):
        return decode_text(body, declared)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400,
            f"the body is not UTF-8 (byte {exc.start}); send UTF-8 or name its charset "
            "(Content-Type: text/plain; charset=iso-8859-1).",
        ) from None


def _create(request: HttpRequest, caller: Caller) -> JsonResponse:
    text = _submitted_text(request, caller)
    parsed = parse_with_limits(text)
    if not parsed.fields:
        rejected = [
            {"line": line.line_no, "text": line.raw, "error": line.error} for line in parsed.errors
        ]
        message = (
            "no line of the list is a valid field; nothing was stored."
            if rejected
            else "the list has no field line; nothing was stored."
        )
        raise ApiError(400, message, **bounded_rejections(rejected))
    outcome = request_create_from_text(user=caller.user, text=text, source="api", parsed=parsed)
    # Read it again: with inline tasks (DSSPORTAL_TASKS_SYNC) the fields may be done already.
    created = Request.objects.select_related("staging").get(pk=outcome.request.pk)
    return JsonResponse(_request_json(created), status=201)


def _int_param(request: HttpRequest, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.GET.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not lo <= int(raw) <= hi:
        raise ApiError(400, f"{name} must be a whole number from {lo} to {hi}.")
    return int(raw)


@api_view("GET", "POST")
def api_requests(request: HttpRequest, caller: Caller) -> JsonResponse:
    """``POST /api/requests``: submit a list; ``GET /api/requests``: one's own, newest first."""
    if request.method == "POST":
        return _create(request, caller)
    limit = _int_param(request, "limit", 50, 1, 200)
    offset = _int_param(request, "offset", 0, 0, 10**9)
    own = Request.objects.filter(user=caller.user).select_related("staging")
    page = own.order_by("-received_at", "-pk")[offset : offset + limit]
    return JsonResponse(
        {
            "count": own.count(),
            "limit": limit,
            "offset": offset,
            "requests": [_request_summary(item) for item in page],
        }
    )


#: The actions ``POST /api/requests/<id>`` takes (:func:`_request_act` does them).
REQUEST_ACTIONS = ("cancel", "delete")


@api_view("GET", "POST")
def api_request_detail(request: HttpRequest, caller: Caller, pk: int) -> JsonResponse:
    """``GET /api/requests/<id>``: the request's progress and where its files are.

    ``POST`` with ``{"action": "cancel"}`` cancels its queued fields (running ones finish),
    with ``{"action": "delete"}`` deletes its staging directory (as the page's delete
    button does); either answers as ``GET`` does, after the action. Both are harmless when
    repeated.
    """
    item = _own_request(caller, pk)
    if request.method == "POST":
        _request_act(item, _action(request))
        item = _own_request(caller, pk)
    return JsonResponse(_request_json(item))


def _own_request(caller: Caller, pk: int) -> Request:
    item = Request.objects.filter(pk=pk, user=caller.user).select_related("staging").first()
    if item is None:
        raise ApiError(404, f"you have no request #{pk}.")
    return item


def _action(request: HttpRequest) -> str:
    allowed = " or ".join(f'{{"action": "{name}"}}' for name in REQUEST_ACTIONS)
    if request.content_type != "application/json":
        raise ApiError(415, f"send Content-Type application/json with {allowed}.")
    payload = json_body(request)
    action = payload.get("action") if isinstance(payload, dict) else None
    if action not in REQUEST_ACTIONS:
        what = f"unknown action {clip(str(action), 40)!r}" if action is not None else "no action"
        raise ApiError(400, f"{what}; send {allowed}.", allowed_actions=list(REQUEST_ACTIONS))
    return str(action)


def _request_act(item: Request, action: str) -> None:
    if action == "cancel":
        request_cancel(request=item, by_owner=True)
        return
    staging = getattr(item, "staging", None)
    if staging is None or staging.deleted_at is not None:
        return  # nothing staged, or deleted already
    try:
        staging_directory_delete(directory=staging, reason="deleted through the API")
    except StagingError as exc:
        raise ApiError(409, str(exc)) from None


# -- Names and plates -------------------------------------------------------------------


@public_api_view("GET")
def api_resolve(request: HttpRequest) -> JsonResponse:
    """``GET /api/resolve?name=NGC%20253``: the object's J2000 position from OpenNGC."""
    name = clean_text(request.GET.get("name", ""), field="name").strip()
    if not name:
        raise ApiError(400, "give name, an object name (e.g. name=NGC%20253 or name=M31).")
    try:
        found = name_resolve(name=name)
    except NameNotFound as exc:
        raise ApiError(exc.status, str(exc)) from None
    return JsonResponse(found.as_json())


def float_param(request: HttpRequest, name: str, *, default: float | None = None) -> float:
    """A finite decimal number from the query string."""
    raw = request.GET.get(name)
    if raw is None or raw.strip() == "":
        if default is None:
            raise ApiError(400, f"give {name} (a decimal number).")
        return default
    return finite_number(raw, name, "a decimal number")


def finite_number(text: str, name: str, what: str) -> float:
    """``text`` as a finite float, or a 400 saying that ``name`` must be ``what``."""
    try:
        if len(text) > 40:
            raise ValueError
        value = float(text)
    except ValueError:
        raise ApiError(400, f"{name} must be {what}, not {text[:40]!r}.") from None
    if not math.isfinite(value):
        raise ApiError(400, f"{name} must be a finite number, {what}.")
    return value


def survey_param(request: HttpRequest, *, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = request.GET.get("survey", "").strip().upper()
    return (raw,) if raw else default


@public_api_view("GET")
def api_plates(request: HttpRequest) -> JsonResponse:
    """``GET /api/plates?ra=&dec=&width=&height=&survey=``: mode ``n`` as JSON.

    ``ra``/``dec`` J2000 degrees, ``width``/``height`` arcmin (default 10), ``survey``
    optional (DSS1, DSS2, DSS2R, DSS2B, DSS2I; default every survey and band).
    """
    ra = float_param(request, "ra")
    dec = float_param(request, "dec")
    width = float_param(request, "width", default=10.0)
    height = float_param(request, "height", default=width)
    surveys = survey_param(request, default=finder_surveys())
    try:
        found = plates_covering(
            ra_deg=ra, dec_deg=dec, width_arcmin=width, height_arcmin=height, surveys=surveys
        )
    except FinderInputError as exc:
        raise ApiError(400, str(exc)) from None
    return JsonResponse(
        {
            "ra_deg": ra,
            "dec_deg": dec,
            "width_arcmin": width,
            "height_arcmin": height,
            "surveys": [group.as_json() for group in found],
        }
    )


# -- Synchronous cut-out ------------------------------------------------------------------

_ID_RE = re.compile(r"[A-Za-z0-9._+-]{1,64}")
_PLATE_ID_RE = re.compile(r"[A-Za-z0-9]{2,6}")
_FORMAT_ALIASES = {
    "fits": "fits",
    "application/fits": "fits",
    "image/fits": "fits",
    "fits.gz": "fits.gz",
    "application/gzip": "fits.gz",
    "png": "png",
    "image/png": "png",
}


def _soda_params(request: HttpRequest) -> dict[str, str]:
    """Query parameters by upper-case name (IVOA DALI: names are case-insensitive)."""
    params: dict[str, str] = {}
    for key in request.GET:
        values = request.GET.getlist(key)
        if key.upper() in params or len(values) > 1:
            raise ApiError(400, f"give {key.upper()} once.")
        params[key.upper()] = str(values[0]).strip()
    return params


def _degrees(text: str, name: str) -> float:
    return finite_number(text, name, "a number of degrees")


def _field_of(params: dict[str, str]) -> tuple[float, float, float, float]:
    """``(ra_deg, dec_deg, width_arcmin, height_arcmin)`` from POS=CIRCLE or RA/DEC/SIZE."""
    both = [p for p in ("RA", "DEC", "SIZE") if p in params]
    if "POS" in params and both:
        raise ApiError(
            400, f"give POS or RA, DEC and SIZE, not both (POS and {', '.join(both)} given)."
        )
    if "POS" in params:
        words = params["POS"].split()
        if not words or words[0].upper() != "CIRCLE" or len(words) != 4:
            raise ApiError(
                400,
                "POS must be 'CIRCLE <ra> <dec> <radius>' in degrees (RANGE and POLYGON "
                "are not supported); or give RA, DEC and SIZE.",
            )
        ra, dec, radius = (_degrees(words[i], n) for i, n in ((1, "ra"), (2, "dec"), (3, "radius")))
        width = height = 2.0 * radius * 60.0
    else:
        missing = [p for p in ("RA", "DEC", "SIZE") if p not in params]
        if missing:
            raise ApiError(
                400,
                "give POS=CIRCLE ra dec radius, or RA, DEC and SIZE "
                f"(missing {', '.join(missing)}).",
            )
        ra, dec = _degrees(params["RA"], "RA"), _degrees(params["DEC"], "DEC")
        sizes = params["SIZE"].replace(",", " ").split()
        if len(sizes) not in (1, 2):
            raise ApiError(400, "SIZE is one size, or width and height, in degrees.")
        width = _degrees(sizes[0], "SIZE") * 60.0
        height = _degrees(sizes[-1], "SIZE") * 60.0
    if not 0.0 <= ra < 360.0 or not -90.0 <= dec <= 90.0:
        raise ApiError(400, "the position must have 0 <= ra < 360 and -90 <= dec <= 90 degrees.")
    if width <= 0 or height <= 0:
        raise ApiError(400, "the size must be more than 0.")
    return ra, dec, width, height


def _cutout_target(params: dict[str, str]) -> tuple[FieldTarget, str, str]:
    ra, dec, width, height = _field_of(params)
    survey = params.get("SURVEY", "DSS2").upper()
    known = known_surveys()
    if survey not in known:
        raise ApiError(400, f"SURVEY must be one of {', '.join(sorted(known))}.")
    mode = params.get("MODE", "e")
    if mode.lower() in (PlateMode.EDGE, PlateMode.CENTRE):
        mode, plate_id = mode.lower(), ""
    elif mode.lower() in ("mosaic", PlateMode.MOSAIC):
        mode, plate_id = PlateMode.MOSAIC, ""
    elif _PLATE_ID_RE.fullmatch(mode):
        mode, plate_id = PlateMode.PLATE, mode.upper()
    else:
        raise ApiError(400, "MODE must be e, c, mosaic or a plate id such as 04IN.")
    output = _FORMAT_ALIASES.get(params.get("FORMAT", "fits").lower())
    if output is None:
        raise ApiError(400, "FORMAT must be fits, fits.gz or png.")
    identifier = params.get("ID", "cutout")
    if not _ID_RE.fullmatch(identifier):
        raise ApiError(400, "ID must be 1-64 letters, digits, '.', '_', '+' or '-'.")
    target = FieldTarget(
        survey=survey, mode=mode, plate_id=plate_id, ra_deg=ra, dec_deg=dec,
        width_arcmin=width, height_arcmin=height,
    )  # fmt: skip
    return target, identifier, output


@api_view("GET")
def api_cutout(request: HttpRequest, caller: Caller) -> HttpResponse:
    """``GET /api/cutout``: one field cut now and returned (IVOA SODA style parameters)."""
    target, identifier, output = _cutout_target(_soda_params(request))
    try:
        made = cutout_make(
            user=caller.user, target=target, identifier=identifier, output_format=output
        )
    except CutoutRefused as refused:
        response = json_error(refused.status, refused.message)
        if refused.retry_after_s is not None:
            response["Retry-After"] = str(refused.retry_after_s)
        return response
    served = HttpResponse(made.payload, content_type=made.content_type)
    served["Content-Disposition"] = f'attachment; filename="{made.filename}"'
    served["X-DSS-Plate"] = made.plate_id  # a mosaic's plates, comma-separated
    served["X-DSS-Clipped"] = "yes" if made.clipped else "no"
    return served
