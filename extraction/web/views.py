"""Web pages for users: submit a list, follow its progress, fetch files and previews."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet, prefetch_related_objects
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_http_methods

from accounts.models import User
from extraction.models import Field, FieldStatus, Request
from extraction.services.lifecycle import field_status_counts
from extraction.services.links import staging_ftp_url
from extraction.services.previews import field_preview_file
from extraction.services.requests import parse_with_limits, request_create_from_text
from extraction.text.requestlist import ParsedList, example_lines_text
from extraction.web.forms import FieldForm, RequestListForm


def _user(request: HttpRequest) -> User:
    """The logged-in user (views below are all behind ``login_required``)."""
    assert isinstance(request.user, User)
    return request.user


def _own_request(request: HttpRequest, pk: int) -> Request:
    # The staging directory comes in the same query (the page and the status JSON both ask for
    # it); the list as received (up to a megabyte of mail) is never shown here.
    requests = Request.objects.select_related("user", "staging").defer("raw_text")
    item = get_object_or_404(requests, pk=pk)
    if item.user_id != request.user.pk and not request.user.is_staff:
        raise Http404("No such request.")
    return item


#: Requests listed per page on /requests/, newest first.
REQUESTS_PER_PAGE = 50
_UNFINISHED = (FieldStatus.QUEUED, FieldStatus.RUNNING)


def _listed_errors(parsed: ParsedList) -> tuple[list[dict[str, object]], int]:
    """The rejected lines to show one by one, and how many more there are."""
    limit = settings.DSSPORTAL_MAX_LISTED_ERRORS
    errors: list[dict[str, object]] = [
        {"line": e.line_no, "text": e.raw, "error": e.error} for e in parsed.errors
    ]
    return errors[:limit], max(0, len(errors) - limit)


def _request_page(
    request: HttpRequest,
    *,
    field_form: FieldForm,
    list_form: RequestListForm,
    parsed: ParsedList | None = None,
    status: int = 200,
) -> HttpResponse:
    errors, more = _listed_errors(parsed) if parsed is not None else ([], 0)
    own = (
        Request.objects.filter(user=_user(request))
        .select_related("staging")
        # Not shown in the table: the list as received (up to a megabyte) and its rejected lines.
        .defer("raw_text", "rejected_lines")
    )
    return render(
        request,
        "extraction/request_list.html",
        {
            "field_form": field_form,
            "list_form": list_form,
            "requests": Paginator(own, REQUESTS_PER_PAGE).get_page(request.GET.get("page")),
            "example_lines": example_lines_text(),
            "line_errors": errors,
            "more_errors": more,
            "n_valid": len(parsed.fields) if parsed is not None else 0,
        },
        status=status,
    )


def _submit(request: HttpRequest, text: str, parsed: ParsedList) -> HttpResponse:
    outcome = request_create_from_text(user=_user(request), text=text, source="web", parsed=parsed)
    item = outcome.request
    left_out = f"; {len(outcome.rejected)} line(s) left out" if outcome.rejected else ""
    messages.success(request, f"Request #{item.pk}: {item.n_fields} field(s) queued{left_out}.")
    return redirect("request-detail", pk=item.pk)


@login_required
@require_http_methods(["GET", "POST"])
def request_list(request: HttpRequest) -> HttpResponse:
    """The request forms (one field, or a list typed or uploaded) and the user's requests.

    Nothing is stored unless the text holds a valid field. A list with bad lines comes back
    with every bad line named once and the text kept for correction, unless the user asked
    to send only the valid lines.
    """
    which = None
    if request.method == "POST":
        # A script posting just ``text`` (as the form did before it had two parts) sends a list.
        which = request.POST.get("submit") or "list"
    field_form = FieldForm(request.POST if which == "field" else None, prefix="f")
    list_form = (
        RequestListForm(request.POST, request.FILES) if which == "list" else RequestListForm()
    )
    if which == "field" and field_form.is_valid():
        line = field_form.list_line()
        parsed = parse_with_limits(line)
        if parsed.fields:
            return _submit(request, line, parsed)
        field_form.add_list_errors(parsed.errors[0].error or "")
        return _request_page(request, field_form=field_form, list_form=list_form, status=422)
    if which == "list" and list_form.is_valid():
        text = list_form.cleaned_data["text"]
        parsed = parse_with_limits(text)
        send_valid_only = request.POST.get("valid_only") == "1"
        if parsed.fields and (not parsed.errors or send_valid_only):
            return _submit(request, text, parsed)
        # Show the whole text, uploaded part included, so the bad lines can be mended.
        kept = RequestListForm(initial={"text": text})
        return _request_page(
            request, field_form=field_form, list_form=kept, parsed=parsed, status=422
        )
    status = 422 if which else 200
    return _request_page(request, field_form=field_form, list_form=list_form, status=status)


@login_required
@require_http_methods(["POST"])
def request_check(request: HttpRequest) -> JsonResponse:
    """Check a list as the mail gate would, storing nothing: for the form, as the user types."""
    text = request.POST.get("text", "")
    if len(text.encode("utf-8")) > settings.DSSPORTAL_MAX_MAIL_BYTES:
        return JsonResponse(
            {"error": f"the list is larger than {settings.DSSPORTAL_MAX_MAIL_BYTES // 1000} kB"},
            status=413,
        )
    parsed = parse_with_limits(text)
    errors, more = _listed_errors(parsed)
    return JsonResponse(
        {
            "n_fields": len(parsed.fields),
            "n_errors": len(parsed.errors),
            "errors": errors,
            "more_errors": more,
        }
    )


def _progress(counts: Counter[str]) -> dict[str, object]:
    """How far a request is, from the number of its fields in each state: a state added to
    ``FieldStatus`` is counted and named without touching the page or its script."""
    progress = {
        "n_fields": sum(counts.values()),
        "n_ended": sum(n for status, n in counts.items() if status not in _UNFINISHED),
    }
    named = [
        {"n": counts[value], "label": label}
        for value, label in FieldStatus.choices
        if counts[value]
    ]
    summary = render_to_string("extraction/_progress_summary.txt", {**progress, "counts": named})
    return {**progress, "summary": " ".join(summary.split())}


#: Fields a request page shows at once: a 10,000-field request is a quick page, and the page's
#: script (which polls the status JSON of the same page) reloads only for its own rows.
FIELDS_PER_PAGE = 100


def _fields_page(
    request: HttpRequest, item: Request, n_fields: int
) -> tuple[Page[Field], QuerySet[Field]]:
    """The page of the request's fields the URL asks for (``?page=N``; out of range: the
    nearest), and its fields. The count is known already: the paginator does not ask again."""
    ordered = item.fields.order_by("line_no")
    paginator = Paginator(ordered, FIELDS_PER_PAGE)
    paginator.count = n_fields
    page = paginator.get_page(request.GET.get("page"))
    start = (page.number - 1) * FIELDS_PER_PAGE
    return page, ordered[start : start + FIELDS_PER_PAGE]


@login_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = _own_request(request, pk)
    counts = field_status_counts(item.pk)
    page, on_page = _fields_page(request, item, sum(counts.values()))
    fields = list(on_page.select_related("plate"))
    if any(f.mode == "m" for f in fields):  # the plates of mosaics; no query for other pages
        prefetch_related_objects(fields, "mosaic_plates__plate")
    staging = getattr(item, "staging", None)
    live = staging is not None and staging.deleted_at is None
    limit = settings.DSSPORTAL_MAX_LISTED_ERRORS
    return render(
        request,
        "extraction/request_detail.html",
        {
            "item": item,
            "fields": fields,
            "page": page,
            "progress": _progress(counts),
            "running": any(counts[status] for status in _UNFINISHED),
            "previews": [
                f
                for f in fields
                if f.status == FieldStatus.DONE and f.makes_image and f.deleted_at is None
            ],
            "rejected": item.rejected_lines[:limit],
            "more_rejected": max(0, len(item.rejected_lines) - limit),
            "staging": staging if live else None,
            "ftp_url": staging_ftp_url(staging) if staging is not None and live else "",
        },
    )


@login_required
def request_status(request: HttpRequest, pk: int) -> JsonResponse:
    """Progress for the request page to poll: counts of the whole request, and the fields of
    the page asked for (``?page=N``, as on the request page)."""
    item = _own_request(request, pk)
    counts = field_status_counts(item.pk)
    page, on_page = _fields_page(request, item, sum(counts.values()))
    fields = list(
        on_page.values(
            "line_no",
            "identifier",
            "status",
            "output_name",
            "bytes",
            "message",
            "stem",
            "deleted_at",
        )
    )
    return JsonResponse(
        {
            **_progress(counts),
            "id": item.pk,
            "status": item.status,
            "status_display": item.get_status_display(),
            "n_done": item.n_done,
            "n_skipped": item.n_skipped,
            "n_failed": item.n_failed,
            "n_cancelled": item.n_cancelled,
            "files_deleted_at": item.files_deleted_at,
            "page": page.number,
            "pages": page.paginator.num_pages,
            "fields": fields,
        }
    )


@login_required
def field_preview(request: HttpRequest, pk: int, stem: str) -> FileResponse:
    item = _own_request(request, pk)
    field = item.fields.filter(stem=stem).first()
    if field is None:
        raise Http404("No such field.")
    if field.deleted_at is not None:
        raise Http404("Deleted with its staging directory.")
    path = field_preview_file(field=field)
    if path is None:
        raise Http404("No preview: not an image, not made yet, or deleted.")
    if not str(path.resolve()).startswith(str(Path(settings.PREVIEWS_DIR).resolve())):
        raise PermissionDenied
    return FileResponse(path.open("rb"), content_type="image/png")
