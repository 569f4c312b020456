"""Downloads from a staging directory: listing, files with HTTP Range, a streamed zip, delete.

Each URL works with the portal session (the pages) and with ``Authorization: Bearer
<token>`` (scripts fetching the ``web_url`` the API gives). A directory is found by name
among the caller's own live directories only (staff may read any); a file only by a name
listed in that directory, so no path is ever built from what the caller sent.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from functools import wraps
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.utils.http import http_date, parse_http_date_safe
from django.views.decorators.csrf import csrf_exempt

from accounts.models import User
from extraction.models import StagingDirectory
from extraction.services.links import public_url, staging_ftp_url
from extraction.services.staging import StagingError, staging_directory_delete
from extraction.services.zips import staging_zip as staging_zip_archive
from extraction.services.zips import zip_copy_built
from extraction.web.apiauth import (
    ApiError,
    basic_user,
    bearer_user,
    refuse_cross_site,
    session_user,
)

#: Bytes read from disk per chunk when streaming a file or a zip.
CHUNK_BYTES = 256 * 1024
_RANGES_RE = re.compile(r"bytes=([\d\s,-]{1,2000})")
_RANGE_RE = re.compile(r"(\d{0,18})-(\d{0,18})")
#: More ranges than this in one request are answered with the whole file (RFC 9110 §14.2).
MAX_RANGES = 16
#: Content-Type of a staged file (and of each part of a multipart/byteranges answer), by its
#: name's ending: the types /api/cutout and the old URLs give the same bytes. Not FITS with
#: ``Content-Encoding: gzip``: clients would unpack the file they asked to save.
_FILE_TYPES = {
    ".fits": "application/fits",
    ".gz": "application/gzip",
    ".bz2": "application/x-bzip2",
    ".xz": "application/x-xz",
}
_FILE_TYPE = "application/octet-stream"
#: ``read(first, length)``: that many bytes of a file or an archive from ``first`` on.
Reader = Callable[[int, int], Iterator[bytes]]


# -- Who is asking ------------------------------------------------------------------------


class _LogIn(Exception):
    """No credentials: a browser is sent to the login page."""


def _caller(request: HttpRequest) -> tuple[User, bool]:
    """The caller and whether they came with credentials of their own (scripts: a token, or
    Basic as ``curl -u`` and ``wget --user`` send it; they get JSON, browsers pages)."""
    user = bearer_user(request) or basic_user(request)
    if user is not None:
        return user, True
    if request.headers.get("Authorization"):
        raise ApiError(
            401,
            "staging URLs accept 'Authorization: Bearer <token>' or Basic (your login with "
            "your password or an app password).",
        )
    session = session_user(request)
    if session is None:
        raise _LogIn
    return session, False


DownloadView = Callable[..., HttpResponseBase]


def download_view(
    *methods: str,
) -> Callable[[Callable[..., HttpResponseBase]], DownloadView]:
    """Allow ``methods``, authenticate, then call ``view(request, user, by_token, **kwargs)``;
    errors for token callers are JSON, a browser without a session goes to the login page."""

    def decorate(view: Callable[..., HttpResponseBase]) -> DownloadView:
        return _download_wrapper(view, methods)

    return decorate


def _download_wrapper(
    view: Callable[..., HttpResponseBase], methods: tuple[str, ...]
) -> DownloadView:
    @csrf_exempt  # session POSTs are CSRF-checked in session_user; tokens need no check
    @wraps(view)
    def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
        try:
            if request.method not in methods:
                raise ApiError(405, f"use {' or '.join(methods)} here.")
            user, by_token = _caller(request)
            return view(request, user, by_token, **kwargs)
        except _LogIn:
            return redirect_to_login(request.get_full_path())
        except ApiError as exc:
            return exc.response()
        except Http404 as exc:
            if request.headers.get("Authorization"):  # a script: answer in JSON
                return ApiError(404, str(exc)).response()
            raise

    return wrapper


def _live_directory(user: User, name: str, *, own_only: bool = False) -> StagingDirectory:
    directory = StagingDirectory.objects.filter(
        name=name, deleted_at__isnull=True, expires_at__gt=timezone.now()
    ).first()
    if directory is None or (directory.user_id != user.pk and (own_only or not user.is_staff)):
        raise Http404("No such staging directory.")
    return directory


def staged_files(directory: StagingDirectory) -> list[Path]:
    """The regular files of the directory (no symlinks, no subfolders), by name."""
    root = directory.absolute_path
    if not root.is_dir() or root.is_symlink():
        return []
    return sorted(p for p in root.iterdir() if p.is_file() and not p.is_symlink())


def _staged_file(directory: StagingDirectory, filename: str) -> Path:
    for path in staged_files(directory):
        if path.name == filename:
            return path
    raise Http404("No such file.")


# -- Listing ------------------------------------------------------------------------------


@download_view("GET", "HEAD")
def staging_listing(request: HttpRequest, user: User, by_token: bool, name: str) -> HttpResponse:
    directory = _live_directory(user, name)
    files = [(p.name, p.stat().st_size) for p in staged_files(directory)]
    if by_token or "application/json" in request.headers.get("Accept", ""):
        return JsonResponse(
            {
                "name": directory.name,
                "expires": directory.expires_at.isoformat(),
                "ftp_url": staging_ftp_url(directory),
                "zip_url": public_url(reverse("staging-zip", args=[name])),
                "files": [
                    {
                        "name": fname,
                        "bytes": size,
                        "url": public_url(reverse("staging-file", args=[name, fname])),
                    }
                    for fname, size in files
                ],
            }
        )
    return render(
        request,
        "extraction/staging_listing.html",
        {"directory": directory, "files": files, "ftp_url": staging_ftp_url(directory)},
    )


# -- One file, with Range -----------------------------------------------------------------


def byte_ranges(header: str, size: int) -> list[tuple[int, int]] | None:
    """The ``(first, last)`` bytes (inclusive) a ``Range`` header asks of a ``size``-byte
    file, in the order asked; ranges past the end are dropped (RFC 9110 §14.1.1).

    None means "send the whole file" (200), as RFC 9110 §14.2 lets a server answer any
    Range: no header, a syntax this server does not read, a range whose last byte comes
    before its first, more than :data:`MAX_RANGES` ranges, or ranges that overlap (a
    denial-of-service pattern §14.2 names: many small or overlapping ranges cost more to
    send than the file).

    Raises
    ------
    ValueError
        When every range is valid but none lies inside the file (answered 416).
    """
    match = _RANGES_RE.fullmatch(header.strip())
    if match is None:
        return None
    specs = [spec.strip() for spec in match.group(1).split(",") if spec.strip()]
    if not specs or len(specs) > MAX_RANGES:
        return None
    try:
        spans = [span for span in (_one_range(spec, size) for spec in specs) if span is not None]
    except _Unreadable:
        return None
    if not spans:
        raise ValueError("no range lies inside the file")
    ordered = sorted(spans)
    if any(later[0] <= earlier[1] for earlier, later in pairwise(ordered)):
        return None
    return spans


class _Unreadable(Exception):
    """A range spec this server does not read: the whole header is ignored."""


def _one_range(spec: str, size: int) -> tuple[int, int] | None:
    """One ``first-last`` / ``first-`` / ``-suffix`` spec: its span, or None when it lies
    outside the file."""
    match = _RANGE_RE.fullmatch(spec)
    if match is None:
        raise _Unreadable(spec)
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        raise _Unreadable(spec)
    if not first_text:  # the last N bytes
        length = int(last_text)
        return (max(0, size - length), size - 1) if length and size else None
    first = int(first_text)
    if last_text and int(last_text) < first:
        raise _Unreadable(spec)
    if first >= size:
        return None
    return first, min(int(last_text), size - 1) if last_text else size - 1


def _file_reader(path: Path) -> Reader:
    def read(first: int, length: int) -> Iterator[bytes]:
        with path.open("rb") as handle:
            handle.seek(first)
            while length > 0:
                chunk = handle.read(min(CHUNK_BYTES, length))
                if not chunk:
                    return
                length -= len(chunk)
                yield chunk

    return read


def _range_applies(request: HttpRequest, mtime: float, etag: str | None) -> bool:
    """``If-Range``: honour the Range only if the content has not changed since that date
    (or still has that entity tag)."""
    condition = request.headers.get("If-Range")
    if condition is None:
        return True
    if condition.startswith(('"', "W/")):
        return etag is not None and condition == etag
    since = parse_http_date_safe(condition)
    return since is not None and int(mtime) <= since


def _ranged(
    request: HttpRequest,
    *,
    size: int,
    mtime: float,
    read: Reader,
    headers: dict[str, str],
    content_type: str = _FILE_TYPE,
    etag: str | None = None,
) -> HttpResponseBase:
    """The whole content (200) or the ranges asked (206, RFC 9110 §14), always with its
    Content-Length, so that any download can be resumed."""
    headers = {**headers, "Accept-Ranges": "bytes", "Last-Modified": http_date(mtime)}
    if etag:
        headers["ETag"] = etag
    # If-None-Match / If-Modified-Since (304) and If-Match / If-Unmodified-Since (412),
    # RFC 9110 §13, as Django reads them.
    unchanged = HttpResponse(headers=headers)
    conditional = get_conditional_response(
        request, etag=etag, last_modified=int(mtime), response=unchanged
    )
    if conditional is not None and conditional is not unchanged:
        return conditional
    wanted = request.headers.get("Range", "")
    try:
        spans = (
            byte_ranges(wanted, size) if wanted and _range_applies(request, mtime, etag) else None
        )
    except ValueError:
        response = HttpResponse(status=416, headers=headers)
        response["Content-Range"] = f"bytes */{size}"
        return response
    if spans is not None and len(spans) > 1:
        return _multipart_ranges(read, spans, size, headers, content_type)
    first, last = spans[0] if spans is not None else (0, size - 1)
    streamed = StreamingHttpResponse(
        read(first, last - first + 1) if size else iter(()),
        status=206 if spans is not None else 200,
        content_type=content_type,
        headers=headers,
    )
    streamed["Content-Length"] = str(max(0, last - first + 1))
    if spans is not None:
        streamed["Content-Range"] = f"bytes {first}-{last}/{size}"
    return streamed


def _accel(internal: str, headers: dict[str, str], content_type: str) -> HttpResponse:
    """Let nginx send ``<DSSPORTAL_ACCEL_REDIRECT><internal>`` (with Range, sendfile and its
    own buffers): no web worker waits on a slow client."""
    response = HttpResponse(content_type=content_type, headers=headers)
    response["X-Accel-Redirect"] = quote(settings.DSSPORTAL_ACCEL_REDIRECT + internal)
    return response


@download_view("GET", "HEAD")
def staging_file(
    request: HttpRequest, user: User, by_token: bool, name: str, filename: str
) -> HttpResponseBase:
    path = _staged_file(_live_directory(user, name), filename)
    headers = {
        "Content-Disposition": f'attachment; filename="{path.name}"',
        "X-Content-Type-Options": "nosniff",
    }
    content_type = _FILE_TYPES.get(path.suffix.lower(), _FILE_TYPE)
    if settings.DSSPORTAL_ACCEL_REDIRECT:
        relative = path.relative_to(settings.STAGING_DIR).as_posix()
        return _accel(f"staging/{relative}", headers, content_type)
    info = path.stat()
    return _ranged(
        request,
        size=info.st_size,
        mtime=info.st_mtime,
        read=_file_reader(path),
        headers=headers,
        content_type=content_type,
        etag=f'"{info.st_size:x}-{info.st_mtime_ns:x}"',
    )


def _multipart_ranges(
    read: Reader,
    spans: list[tuple[int, int]],
    size: int,
    headers: dict[str, str],
    content_type: str,
) -> StreamingHttpResponse:
    """206 ``multipart/byteranges`` (RFC 9110 §14.6): one part per range, in the order
    asked, each with its Content-Type and Content-Range; the length is known beforehand."""
    boundary = secrets.token_hex(16)
    heads = [
        (b"\r\n" if n else b"")  # the line end before a delimiter belongs to it
        + (
            f"--{boundary}\r\nContent-Type: {content_type}\r\n"
            f"Content-Range: bytes {first}-{last}/{size}\r\n\r\n"
        ).encode("ascii")
        for n, (first, last) in enumerate(spans)
    ]
    tail = f"\r\n--{boundary}--\r\n".encode("ascii")

    def parts() -> Iterator[bytes]:
        for head, (first, last) in zip(heads, spans, strict=True):
            yield head
            yield from read(first, last - first + 1)
        yield tail

    streamed = StreamingHttpResponse(
        parts(),
        status=206,
        content_type=f"multipart/byteranges; boundary={boundary}",
        headers=headers,
    )
    length = sum(map(len, heads)) + sum(last - first + 1 for first, last in spans) + len(tail)
    streamed["Content-Length"] = str(length)
    return streamed


# -- The whole directory as a zip ---------------------------------------------------------


@download_view("GET", "HEAD")
def staging_zip(request: HttpRequest, user: User, by_token: bool, name: str) -> HttpResponseBase:
    """The directory as one zip of stored members: its length is known before it is sent
    and any range of it can be asked (``curl -C -`` resumes it)."""
    directory = _live_directory(user, name)
    archive = staging_zip_archive(files=staged_files(directory), folder=name)
    headers = {
        "Content-Disposition": f'attachment; filename="{name}.zip"',
        "X-Content-Type-Options": "nosniff",
    }
    if settings.DSSPORTAL_ACCEL_REDIRECT:
        built = zip_copy_built(archive)
        return _accel(f"zips/{built.as_posix()}", headers, "application/zip")
    return _ranged(
        request,
        size=archive.layout.size,
        mtime=archive.mtime,
        read=archive.layout.read,
        headers=headers,
        content_type="application/zip",
        etag=f'"{archive.fingerprint}"',
    )


# -- Delete -------------------------------------------------------------------------------


@download_view("GET", "POST")
def staging_delete(request: HttpRequest, user: User, by_token: bool, name: str) -> HttpResponse:
    """``POST /staging/<name>/delete``; a GET only shows the confirmation (the page's) or
    says to POST (a script's): a GET never deletes, whoever sends it."""
    directory = _live_directory(user, name, own_only=True)
    if request.method == "GET":
        if by_token:
            error = ApiError(405, "use POST to delete a staging directory; GET changes nothing.")
            response = error.response()
            response["Allow"] = "POST"
            return response
        files = staged_files(directory)
        return render(
            request,
            "extraction/staging_delete.html",
            {"directory": directory, "n_files": len(files)},
        )
    refuse_cross_site(request)
    try:
        deletion = staging_directory_delete(directory=directory, reason="deleted on the web")
    except StagingError as exc:
        raise ApiError(409, str(exc)) from None
    if by_token:
        return JsonResponse({"deleted": deletion.name, "freed_bytes": deletion.freed_bytes})
    messages.success(request, f"Staging directory {deletion.name} was deleted.")
    if directory.request_id:
        return redirect("request-detail", pk=directory.request_id)
    return redirect("request-list")
