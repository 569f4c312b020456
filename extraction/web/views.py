"""Web pages for users: submit a list, follow its progress, fetch files and previews."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from accounts.models import User
from dssportal.views import EXAMPLE_LINES
from extraction.models import Request
from extraction.services.extraction import preview_path
from extraction.services.links import staging_ftp_url
from extraction.services.requests import request_create_from_text
from extraction.web.forms import RequestListForm


def _user(request: HttpRequest) -> User:
    """The logged-in user (views below are all behind ``login_required``)."""
    assert isinstance(request.user, User)
    return request.user


def _own_request(request: HttpRequest, pk: int) -> Request:
    item = get_object_or_404(Request.objects.select_related("user"), pk=pk)
    if item.user_id != request.user.pk and not request.user.is_staff:
        raise Http404("No such request.")
    return item


@login_required
@require_http_methods(["GET", "POST"])
def request_list(request: HttpRequest) -> HttpResponse:
    form = RequestListForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        outcome = request_create_from_text(
            user=_user(request), text=form.cleaned_data["text"], source="web"
        )
        accepted = outcome.request.n_fields
        if accepted:
            messages.success(request, f"Request #{outcome.request.pk}: {accepted} field(s) queued.")
        for rejected in outcome.rejected:
            messages.error(request, f"Line {rejected['line']}: {rejected['error']}")
        return redirect("request-detail", pk=outcome.request.pk)
    own = Request.objects.filter(user=_user(request)).select_related("staging")[:50]
    return render(
        request,
        "extraction/request_list.html",
        {"form": form, "requests": own, "example_lines": EXAMPLE_LINES},
    )


@login_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = _own_request(request, pk)
    fields = list(item.fields.select_related("plate").order_by("line_no"))
    staging = getattr(item, "staging", None)
    live = staging is not None and staging.deleted_at is None
    return render(
        request,
        "extraction/request_detail.html",
        {
            "item": item,
            "fields": fields,
            "staging": staging if live else None,
            "ftp_url": staging_ftp_url(staging) if staging is not None and live else "",
        },
    )


@login_required
def request_status(request: HttpRequest, pk: int) -> JsonResponse:
    """Progress for the request page to poll."""
    item = _own_request(request, pk)
    fields = item.fields.order_by("line_no").values(
        "line_no", "identifier", "status", "output_name", "bytes", "message", "stem"
    )
    return JsonResponse(
        {
            "id": item.pk,
            "status": item.status,
            "n_fields": item.n_fields,
            "n_done": item.n_done,
            "n_skipped": item.n_skipped,
            "n_failed": item.n_failed,
            "fields": list(fields),
        }
    )


@login_required
def field_preview(request: HttpRequest, pk: int, stem: str) -> FileResponse:
    item = _own_request(request, pk)
    field = item.fields.filter(stem=stem).first()
    if field is None:
        raise Http404("No such field.")
    path = preview_path(field)
    if not path.is_file():
        raise Http404("No preview yet.")
    if not str(path.resolve()).startswith(str(Path(settings.PREVIEWS_DIR).resolve())):
        raise PermissionDenied
    return FileResponse(path.open("rb"), content_type="image/png")
