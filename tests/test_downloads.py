"""Downloads: listing, Range, the streamed zip and delete, with a session or an API token."""

from __future__ import annotations

import base64
import gzip
import io
import os
import subprocess
import time
import zipfile

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.apppasswords import app_password_create
from accounts.tokens import api_token_create
from extraction.core import ziplayout
from extraction.models import Request, StagingDirectory
from extraction.web import downloads
from tests.factories import register_real_dss_plate

pytestmark = pytest.mark.django_db

LINE = "real 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 U"


@pytest.fixture
def staged(client, make_user, django_capture_on_commit_callbacks):
    """A served request of user hale with two files: real.fits (the cut-out) and notes.gz."""
    register_real_dss_plate()
    user = make_user("hale", "hale@example.org")
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("request-list"), {"text": LINE})
    directory = Request.objects.get(user=user).staging
    (directory.absolute_path / "notes.txt.gz").write_bytes(gzip.compress(b"seeing 1.2 arcsec\n"))
    return user, directory


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def file_url(directory: StagingDirectory, name: str = "real.fits") -> str:
    return reverse("staging-file", args=[directory.name, name])


# -- Range --------------------------------------------------------------------------------


def test_range_requests(client, staged):
    _, directory = staged
    data = (directory.absolute_path / "real.fits").read_bytes()
    size = len(data)
    url = file_url(directory)
    whole = client.get(url)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"
    assert body(whole) == data and whole["Content-Length"] == str(size)
    spans = {
        "bytes=0-99": (0, 99),
        "bytes=-10": (size - 10, size - 1),
        f"bytes={size - 5}-": (size - 5, size - 1),
        "bytes=2880-99999999": (2880, size - 1),
    }
    for header, (first, last) in spans.items():
        part = client.get(url, HTTP_RANGE=header)
        assert part.status_code == 206, header
        assert body(part) == data[first : last + 1], header
        assert part["Content-Range"] == f"bytes {first}-{last}/{size}"
        assert part["Content-Length"] == str(last - first + 1)
    past = client.get(url, HTTP_RANGE=f"bytes={size}-")
    assert past.status_code == 416 and past["Content-Range"] == f"bytes */{size}"
    # A malformed header, overlapping or too many ranges may be ignored: the whole file.
    too_many = "bytes=" + ",".join(f"{10 * n}-{10 * n + 1}" for n in range(17))
    for header in ["bytes=9-3", "pages=1-2", "bytes=0-9,5-20", "bytes=0-1,-5,0-0", too_many]:
        ignored = client.get(url, HTTP_RANGE=header)
        assert ignored.status_code == 200 and body(ignored) == data, header
    stale = client.get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE="Mon, 01 Jan 2001 00:00:00 GMT")
    assert stale.status_code == 200 and body(stale) == data


def test_files_carry_their_types_and_answer_conditional_requests(client, staged):
    _, directory = staged
    # The types /api/cutout gives the same bytes; the zip's own.
    assert client.get(file_url(directory))["Content-Type"] == "application/fits"
    packed = client.get(file_url(directory, "notes.txt.gz"))
    assert packed["Content-Type"] == "application/gzip" and "Content-Encoding" not in packed
    for url in (file_url(directory), reverse("staging-zip", args=[directory.name])):
        first = client.get(url)
        etag, modified = first["ETag"], first["Last-Modified"]
        unchanged = client.get(url, HTTP_IF_NONE_MATCH=etag)  # RFC 9110 §13.1.2
        assert unchanged.status_code == 304 and unchanged["ETag"] == etag, url
        assert unchanged.content == b""
        assert client.get(url, HTTP_IF_MODIFIED_SINCE=modified).status_code == 304, url
        assert client.get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200, url
        assert client.get(url, HTTP_IF_MATCH='"other"').status_code == 412, url  # §13.1.1
        part = client.get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=etag)
        assert part.status_code == 206 and len(body(part)) == 10, url


@pytest.mark.parametrize(
    "header, size, expected",
    [
        ("bytes=0-0", 10, [(0, 0)]),
        ("bytes=5-", 10, [(5, 9)]),
        ("bytes=-3", 10, [(7, 9)]),
        ("bytes=-30", 10, [(0, 9)]),
        ("bytes=3-2", 10, None),
        ("bytes=-", 10, None),
        ("bytes=1-2, 4-5", 10, [(1, 2), (4, 5)]),
        ("bytes=6-7,0-1", 10, [(6, 7), (0, 1)]),  # in the order asked
        ("bytes=0-1,20-30,-2", 10, [(0, 1), (8, 9)]),  # a range past the end is dropped
        ("bytes=1-2,2-3", 10, None),  # overlapping: the whole file
        ("bytes=1-2,x", 10, None),
        ("bytes=" + ",".join(["0-0"] + [f"{n}-{n}" for n in range(1, 17)]), 100, None),
        ("bytes=" + "9" * 40 + "-", 10, None),
    ],
)
def test_byte_range_parsing(header, size, expected):
    assert downloads.byte_ranges(header, size) == expected


@pytest.mark.parametrize(
    "header, size",
    [("bytes=10-", 10), ("bytes=-0", 10), ("bytes=0-", 0), ("bytes=10-12,20-", 10)],
)
def test_unsatisfiable_ranges(header, size):
    with pytest.raises(ValueError):
        downloads.byte_ranges(header, size)


# -- Zip ----------------------------------------------------------------------------------


def test_the_directory_streams_as_a_zip_that_unzip_accepts(client, staged, tmp_path, monkeypatch):
    _, directory = staged
    monkeypatch.setattr(ziplayout, "_READ_BYTES", 4096)
    (directory.absolute_path / "noise.fits").write_bytes(os.urandom(300_000))
    # A known time in the past (whole seconds, even: DOS times have 2 s steps).
    when = 1_700_000_000
    os.utime(directory.absolute_path / "noise.fits", (when, when))
    response = client.get(reverse("staging-zip", args=[directory.name]))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Disposition"] == f'attachment; filename="{directory.name}.zip"'
    assert response["Accept-Ranges"] == "bytes" and response["ETag"].startswith('"')
    parts = list(response.streaming_content)
    assert len(parts) > 10 and max(map(len, parts)) < 50_000  # sent as made, never whole
    archive = tmp_path / "all.zip"
    archive.write_bytes(b"".join(parts))
    assert int(response["Content-Length"]) == archive.stat().st_size
    tested = subprocess.run(["unzip", "-t", str(archive)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    subprocess.run(["unzip", "-q", str(archive), "-d", str(tmp_path / "out")], check=True)
    for name in ["real.fits", "notes.txt.gz", "noise.fits"]:
        unpacked = tmp_path / "out" / directory.name / name
        original = directory.absolute_path / name
        assert unpacked.read_bytes() == original.read_bytes()
        # unzip restores the exact time from the extended timestamp field.
        assert int(unpacked.stat().st_mtime) == int(original.stat().st_mtime)
    with zipfile.ZipFile(archive) as opened:
        infos = {i.filename.rsplit("/", 1)[1]: i for i in opened.infolist()}
    assert {i.compress_type for i in infos.values()} == {zipfile.ZIP_STORED}
    assert infos["noise.fits"].date_time == time.localtime(when)[:6]
    assert infos["noise.fits"].date_time[0] != 1980


def test_any_range_of_the_zip_is_the_same_bytes_as_the_whole(client, staged):
    _, directory = staged
    (directory.absolute_path / "noise.fits").write_bytes(os.urandom(200_000))
    url = reverse("staging-zip", args=[directory.name])
    whole = body(client.get(url))
    size = len(whole)
    for first, last in [(0, 0), (0, 29), (30, 100_000), (size - 22, size - 1), (12345, size - 1)]:
        part = client.get(url, HTTP_RANGE=f"bytes={first}-{last}")
        assert part.status_code == 206
        assert part["Content-Range"] == f"bytes {first}-{last}/{size}"
        assert body(part) == whole[first : last + 1]
        assert part["Content-Length"] == str(last - first + 1)
    tail = client.get(url, HTTP_RANGE="bytes=-100")
    assert body(tail) == whole[-100:]
    several = client.get(url, HTTP_RANGE="bytes=0-9,100-109")
    assert several.status_code == 206 and several["Content-Type"].startswith("multipart/byteranges")
    assert client.get(url, HTTP_RANGE=f"bytes={size}-").status_code == 416
    # If-Range: the same entity tag gets the range, a changed directory the whole new zip.
    etag = client.get(url)["ETag"]
    assert client.get(url, HTTP_RANGE="bytes=5-9", HTTP_IF_RANGE=etag).status_code == 206
    (directory.absolute_path / "more.fits").write_bytes(b"x" * 2880)
    changed = client.get(url, HTTP_RANGE="bytes=5-9", HTTP_IF_RANGE=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert len(body(changed)) == int(changed["Content-Length"])


def test_with_accel_redirect_nginx_is_told_which_file_or_built_zip_to_send(
    client, staged, settings, tmp_path
):
    _, directory = staged
    settings.DSSPORTAL_ACCEL_REDIRECT = "/_accel/"
    settings.ZIP_CACHE_DIR = tmp_path / "zips"
    answer = client.get(file_url(directory))
    relative = directory.absolute_path.relative_to(settings.STAGING_DIR).as_posix()
    assert answer.status_code == 200 and answer.content == b""
    assert answer["X-Accel-Redirect"] == f"/_accel/staging/{relative}/real.fits"
    assert answer["Content-Disposition"] == 'attachment; filename="real.fits"'
    zipped = client.get(reverse("staging-zip", args=[directory.name]))
    internal = zipped["X-Accel-Redirect"]
    assert internal.startswith(f"/_accel/zips/{directory.name}/") and internal.endswith(".zip")
    built = settings.ZIP_CACHE_DIR / internal.removeprefix("/_accel/zips/")
    settings.DSSPORTAL_ACCEL_REDIRECT = ""
    assert built.read_bytes() == body(client.get(reverse("staging-zip", args=[directory.name])))
    # A new file: a new copy, the old one removed; deleting the directory removes them all.
    settings.DSSPORTAL_ACCEL_REDIRECT = "/_accel/"
    (directory.absolute_path / "more.fits").write_bytes(b"x" * 2880)
    again = client.get(reverse("staging-zip", args=[directory.name]))["X-Accel-Redirect"]
    assert again != internal and not built.exists()
    assert len(list((settings.ZIP_CACHE_DIR / directory.name).glob("*.zip"))) == 1
    client.post(reverse("staging-delete", args=[directory.name]))
    assert not (settings.ZIP_CACHE_DIR / directory.name).exists()


def test_symlinks_in_a_directory_are_never_followed(client, staged, tmp_path):
    _, directory = staged
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    (directory.absolute_path / "link.fits").symlink_to(secret)
    assert client.get(file_url(directory, "link.fits")).status_code == 404
    assert (
        "link.fits"
        not in client.get(reverse("staging-listing", args=[directory.name])).content.decode()
    )
    zipped = b"".join(client.get(reverse("staging-zip", args=[directory.name])).streaming_content)
    names = zipfile.ZipFile(io.BytesIO(zipped)).namelist()
    assert not any("link" in n for n in names) and len(names) == 2


# -- Tokens and isolation -----------------------------------------------------------------


def test_a_script_fetches_the_web_url_and_files_with_its_token(staged):
    user, directory = staged
    raw = api_token_create(user=user)[1]
    script = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    listing = script.get(reverse("staging-listing", args=[directory.name]), **auth)
    assert listing.status_code == 200
    files = {f["name"]: f for f in listing.json()["files"]}
    assert set(files) == {"real.fits", "notes.txt.gz"}
    fetched = script.get(files["real.fits"]["url"].removeprefix("http://testserver"), **auth)
    assert body(fetched) == (directory.absolute_path / "real.fits").read_bytes()
    assert script.get(reverse("staging-zip", args=[directory.name]), **auth).status_code == 200
    detail = script.get(f"/api/requests/{directory.request_id}", **auth).json()
    assert detail["web_url"].endswith(f"/staging/{directory.name}/")
    api_file = detail["fields"][0]["file_url"].removeprefix(settings.DSSPORTAL_PUBLIC_URL)
    assert (
        body(script.get(api_file, **auth)) == (directory.absolute_path / "real.fits").read_bytes()
    )
    assert script.post(file_url(directory), **auth).status_code == 405
    bad = script.get(file_url(directory), HTTP_AUTHORIZATION="Bearer dss_wrong")
    assert bad.status_code == 401 and "token" in bad.json()["error"]
    anonymous = script.get(file_url(directory))
    assert anonymous.status_code == 302 and reverse("login") in anonymous["Location"]


def test_a_script_may_fetch_with_basic_as_curl_u_sends_it(staged):
    """The README gives app passwords "for FTP and HTTP Basic": ``curl -u`` on the web link
    of the completion mail was refused ("Bearer only")."""
    user, directory = staged
    app_password = app_password_create(user=user, label="curl")[1]
    data = (directory.absolute_path / "real.fits").read_bytes()
    script = Client()
    for password in ("correct horse battery", app_password):
        auth = {"HTTP_AUTHORIZATION": _basic(user.username, password)}
        listing = script.get(reverse("staging-listing", args=[directory.name]), **auth)
        assert listing.status_code == 200 and listing["Content-Type"] == "application/json"
        assert body(script.get(file_url(directory), **auth)) == data
        zipped = script.get(reverse("staging-zip", args=[directory.name]), **auth)
        assert zipped.status_code == 200
    wrong = script.get(file_url(directory), HTTP_AUTHORIZATION=_basic(user.username, "nope"))
    assert wrong.status_code == 401 and "wrong login or password" in wrong.json()["error"]
    auth = {"HTTP_AUTHORIZATION": _basic(user.username, app_password)}
    cross = script.get(file_url(directory), HTTP_SEC_FETCH_SITE="cross-site", **auth)
    assert cross.status_code == 403
    deleted = script.post(reverse("staging-delete", args=[directory.name]), **auth)
    assert deleted.status_code == 415 and directory.absolute_path.exists()


def _basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


def test_another_user_reaches_nothing(staged, make_user):
    _, directory = staged
    other = make_user("zwicky", "fritz@example.org")
    session = Client()
    session.force_login(other)
    token = {"HTTP_AUTHORIZATION": f"Bearer {api_token_create(user=other)[1]}"}
    urls = [
        reverse("staging-listing", args=[directory.name]),
        file_url(directory),
        reverse("staging-zip", args=[directory.name]),
        reverse("staging-delete", args=[directory.name]),
    ]
    for url in urls:
        assert session.get(url).status_code == 404, url
        assert Client().get(url, **token).status_code == 404, url
    assert Client().post(urls[-1], **token).status_code == 404
    assert session.post(urls[-1]).status_code == 404
    assert directory.absolute_path.is_dir()


# -- Delete -------------------------------------------------------------------------------


def test_delete_from_the_page_needs_the_csrf_token(staged):
    user, directory = staged
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    url = reverse("staging-delete", args=[directory.name])
    confirm = browser.get(url)
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    forged = browser.post(url)
    assert forged.status_code == 403 and directory.absolute_path.is_dir()
    csrf = browser.cookies["csrftoken"].value
    done = browser.post(url, {"csrfmiddlewaretoken": csrf})
    assert done.status_code == 302
    assert not directory.absolute_path.exists()
    directory.refresh_from_db()
    assert directory.deleted_at is not None
    assert browser.get(file_url(directory)).status_code == 404


def test_delete_with_a_token(staged):
    user, directory = staged
    size = sum(p.stat().st_size for p in directory.absolute_path.iterdir())
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_token_create(user=user)[1]}"}
    url = reverse("staging-delete", args=[directory.name])
    cross = Client().post(url, HTTP_SEC_FETCH_SITE="cross-site", **auth)
    assert cross.status_code == 403 and directory.absolute_path.is_dir()
    deleted = Client().post(url, **auth)
    assert deleted.json() == {"deleted": directory.name, "freed_bytes": size}
    assert Client().post(url, **auth).status_code == 404


# -- Several ranges, over real HTTP -------------------------------------------------------


def _fetch(url: str, token: str, range_header: str) -> tuple[int, dict[str, str], bytes]:
    """One GET with urllib (a real HTTP client against the live server)."""
    import urllib.error
    import urllib.request

    asked = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}", "Range": range_header}
    )
    try:
        with urllib.request.urlopen(asked, timeout=30) as answer:
            return answer.status, dict(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers.items()), refused.read()


@pytest.mark.django_db(transaction=True)
def test_several_ranges_come_as_multipart_byteranges_over_http(live_server, make_user):
    import email
    import email.policy

    from extraction.services.requests import request_create_from_text

    register_real_dss_plate()
    user = make_user("hale", "hale@example.org")
    outcome = request_create_from_text(user=user, text=LINE, source="api")  # tasks run inline
    directory = Request.objects.get(pk=outcome.request.pk).staging
    data = (directory.absolute_path / "real.fits").read_bytes()
    size = len(data)
    token = api_token_create(user=user)[1]
    url = live_server.url + file_url(directory)

    middle = size // 2  # in the binary pixel data
    asked = [(0, 99), (middle, middle + 999), (200, 299), (size - 50, size - 1)]
    header = f"bytes=0-99, {middle}-{middle + 999},200-299,-50"
    status, headers, payload = _fetch(url, token, header)
    assert status == 206
    content_type = headers["Content-Type"]
    assert content_type.startswith("multipart/byteranges; boundary=")
    assert int(headers["Content-Length"]) == len(payload)
    message = email.message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + payload, policy=email.policy.HTTP
    )
    parts = list(message.iter_parts())
    assert len(parts) == 4
    for part, (first, last) in zip(parts, asked, strict=True):
        assert part["Content-Type"] == "application/fits"
        assert part["Content-Range"] == f"bytes {first}-{last}/{size}"
        assert part.get_payload(decode=True) == data[first : last + 1]  # byte for byte

    # One range alone is a plain 206; overlapping ones are answered with the whole file.
    status, headers, payload = _fetch(url, token, "bytes=10-19")
    assert status == 206 and payload == data[10:20]
    assert headers["Content-Range"] == f"bytes 10-19/{size}"
    status, headers, payload = _fetch(url, token, "bytes=0-99,50-150")
    assert status == 200 and payload == data
    # None of them inside the file: 416 naming the size.
    status, headers, _ = _fetch(url, token, f"bytes={size}-,{size + 10}-{size + 20}")
    assert status == 416 and headers["Content-Range"] == f"bytes */{size}"
