"""Web pages for users: submit a list, follow its progress, fetch files and previews."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.models import User
from dssportal.views import EXAMPLE_LINES
from extraction.models import Request, StagingDirectory
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
        "line_no", "identifier", "status", "output_name", "bytes", "message", "stem", "deleted_at"
    )
    return JsonResponse(
        {
            "id": item.pk,
            "status": item.status,
            "n_fields": item.n_fields,
            "n_done": item.n_done,
            "n_skipped": item.n_skipped,
            "n_failed": item.n_failed,
            "n_cancelled": item.n_cancelled,
            "files_deleted_at": item.files_deleted_at,
            "fields": list(fields),
        }
    )


def _live_own_directory(request: HttpRequest, name: str) -> StagingDirectory:
    directory = get_object_or_404(
        StagingDirectory, name=name, deleted_at__isnull=True, expires_at__gt=timezone.now()
    )
    if directory.user_id != request.user.pk and not request.user.is_staff:
        raise Http404("No such staging directory.")
    return directory


def _staged_files(directory: StagingDirectory) -> list[Path]:
    root = directory.absolute_path
    if not root.is_dir() or root.is_symlink():
        return []
    return sorted(p for p in root.iterdir() if p.is_file() and not p.is_symlink())


@login_required
def staging_listing(request: HttpRequest, name: str) -> HttpResponse:
    directory = _live_own_directory(request, name)
    files = [(p.name, p.stat().st_size) for p in _staged_files(directory)]
    return render(
        request,
        "extraction/staging_listing.html",
        {"directory": directory, "files": files, "ftp_url": staging_ftp_url(directory)},
    )


@login_required
def staging_file(request: HttpRequest, name: str, filename: str) -> FileResponse:
    directory = _live_own_directory(request, name)
    # Serve only a name that is listed in the directory: no path is ever built from input.
    for path in _staged_files(directory):
        if path.name == filename:
            return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
    raise Http404("No such file.")


@login_required
def field_preview(request: HttpRequest, pk: int, stem: str) -> FileResponse:
    item = _own_request(request, pk)
    field = item.fields.filter(stem=stem).first()
    if field is None:
        raise Http404("No such field.")
    if field.deleted_at is not None:
        raise Http404("Deleted with its staging directory.")
    path = preview_path(field)
    if not path.is_file():
        raise Http404("No preview yet.")
    if not str(path.resolve()).startswith(str(Path(settings.PREVIEWS_DIR).resolve())):
        raise PermissionDenied
    return FileResponse(path.open("rb"), content_type="image/png")
