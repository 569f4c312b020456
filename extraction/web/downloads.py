"""Downloads from a staging directory: listing, files with HTTP Range, a streamed zip, delete.

Each URL works with the portal session (the pages) and with ``Authorization: Bearer
<token>`` (scripts fetching the ``web_url`` the API gives). A directory is found by name
among the caller's own live directories only (staff may read any); a file only by a name
listed in that directory, so no path is ever built from what the caller sent.
"""

from __future__ import annotations

import os
import re
import secrets
import zipfile
from collections.abc import Callable, Iterator
from functools import wraps
from itertools import pairwise
from pathlib import Path
from typing import IO, Any, cast

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
from django.utils.http import http_date, parse_http_date_safe
from django.views.decorators.csrf import csrf_exempt

from accounts.models import User
from extraction.models import StagingDirectory
from extraction.services.links import public_url, staging_ftp_url
from extraction.services.staging import StagingError, staging_directory_delete
from extraction.web.apiauth import ApiError, bearer_user, refuse_cross_site, session_user

#: Bytes read from disk per chunk when streaming a file or a zip.
CHUNK_BYTES = 256 * 1024
_RANGES_RE = re.compile(r"bytes=([\d\s,-]{1,2000})")
_RANGE_RE = re.compile(r"(\d{0,18})-(\d{0,18})")
#: More ranges than this in one request are answered with the whole file (RFC 9110 §14.2).
MAX_RANGES = 16
#: Content-Type of a file and of each part of a multipart/byteranges answer.
_FILE_TYPE = "application/octet-stream"
#: Already compressed members are stored in the zip, the rest deflated at level 1 (16-bit
#: noisy FITS data barely compress; a higher level costs time for nothing).
_COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".png", ".zip")


# -- Who is asking ------------------------------------------------------------------------


class _LogIn(Exception):
    """No credentials: a browser is sent to the login page."""


def _caller(request: HttpRequest) -> tuple[User, bool]:
    """The caller and whether they came with a token (scripts get JSON, browsers pages)."""
    user = bearer_user(request)
    if user is not None:
        return user, True
    if request.headers.get("Authorization"):
        raise ApiError(401, "staging URLs accept 'Authorization: Bearer <token>' only.")
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


def _chunks(handle: IO[bytes], first: int, length: int) -> Iterator[bytes]:
    """``length`` bytes from ``first`` on, then the file is closed."""
    with handle:
        yield from _read_span(handle, first, length)


def _read_span(handle: IO[bytes], first: int, length: int) -> Iterator[bytes]:
    handle.seek(first)
    while length > 0:
        chunk = handle.read(min(CHUNK_BYTES, length))
        if not chunk:
            return
        length -= len(chunk)
        yield chunk


def _range_applies(request: HttpRequest, mtime: float) -> bool:
    """``If-Range``: honour the Range only if the file has not changed since that date."""
    condition = request.headers.get("If-Range")
    if condition is None:
        return True
    since = parse_http_date_safe(condition)
    return since is not None and int(mtime) <= since


@download_view("GET", "HEAD")
def staging_file(
    request: HttpRequest, user: User, by_token: bool, name: str, filename: str
) -> HttpResponseBase:
    path = _staged_file(_live_directory(user, name), filename)
    handle = path.open("rb")
    info = os.fstat(handle.fileno())
    size = info.st_size
    headers = {
        "Accept-Ranges": "bytes",
        "Last-Modified": http_date(info.st_mtime),
        "Content-Disposition": f'attachment; filename="{path.name}"',
        "X-Content-Type-Options": "nosniff",
    }
    wanted = request.headers.get("Range", "")
    try:
        spans = (
            byte_ranges(wanted, size) if wanted and _range_applies(request, info.st_mtime) else None
        )
    except ValueError:
        handle.close()
        response = HttpResponse(status=416, headers=headers)
        response["Content-Range"] = f"bytes */{size}"
        return response
    if spans is not None and len(spans) > 1:
        return _multipart_ranges(handle, spans, size, headers)
    first, last = spans[0] if spans is not None else (0, size - 1)
    streamed = StreamingHttpResponse(
        _chunks(handle, first, last - first + 1),
        status=206 if spans is not None else 200,
        content_type=_FILE_TYPE,
        headers=headers,
    )
    streamed["Content-Length"] = str(max(0, last - first + 1))
    if spans is not None:
        streamed["Content-Range"] = f"bytes {first}-{last}/{size}"
    return streamed


def _multipart_ranges(
    handle: IO[bytes], spans: list[tuple[int, int]], size: int, headers: dict[str, str]
) -> StreamingHttpResponse:
    """206 ``multipart/byteranges`` (RFC 9110 §14.6): one part per range, in the order
    asked, each with its Content-Type and Content-Range; the length is known beforehand."""
    boundary = secrets.token_hex(16)
    heads = [
        (b"\r\n" if n else b"")  # the line end before a delimiter belongs to it
        + (
            f"--{boundary}\r\nContent-Type: {_FILE_TYPE}\r\n"
            f"Content-Range: bytes {first}-{last}/{size}\r\n\r\n"
        ).encode("ascii")
        for n, (first, last) in enumerate(spans)
    ]
    tail = f"\r\n--{boundary}--\r\n".encode("ascii")

    def parts() -> Iterator[bytes]:
        with handle:
            for head, (first, last) in zip(heads, spans, strict=True):
                yield head
                yield from _read_span(handle, first, last - first + 1)
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


class _Pipe:
    """A write-only, unseekable sink that ``zipfile`` writes into and the response drains.

    ``zipfile`` writes local headers, data and data descriptors in order and never seeks on
    an unseekable stream, so the archive is produced as it is sent, never held whole.
    """

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._offset = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def zip_stream(files: list[Path], *, folder: str) -> Iterator[bytes]:
    """The files as one zip archive under ``folder/``, yielded piece by piece."""
    pipe = _Pipe()
    sink = cast(IO[bytes], pipe)
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in files:
            try:
                handle = path.open("rb")
            except FileNotFoundError:
                continue  # deleted or expired while we were sending
            with handle:
                stat = os.fstat(handle.fileno())
                stored = path.name.endswith(_COMPRESSED_SUFFIXES)
                # open(name) takes the archive's method and level (a ZipInfo would not).
                archive.compression = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                big = stat.st_size > 2**31
                with archive.open(f"{folder}/{path.name}", mode="w", force_zip64=big) as out:
                    while chunk := handle.read(CHUNK_BYTES):
                        out.write(chunk)
                        yield pipe.drain()
            yield pipe.drain()
    yield pipe.drain()


@download_view("GET", "HEAD")
def staging_zip(request: HttpRequest, user: User, by_token: bool, name: str) -> HttpResponseBase:
    directory = _live_directory(user, name)
    response = StreamingHttpResponse(
        (part for part in zip_stream(staged_files(directory), folder=name) if part),
        content_type="application/zip",
    )
    response["Content-Disposition"] = f'attachment; filename="{name}.zip"'
    return response


# -- Delete -------------------------------------------------------------------------------


@download_view("GET", "POST")
def staging_delete(request: HttpRequest, user: User, by_token: bool, name: str) -> HttpResponse:
    """``POST /staging/<name>/delete``; a GET from the pages shows the confirmation."""
    directory = _live_directory(user, name, own_only=True)
    if request.method == "GET" and not by_token:
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
