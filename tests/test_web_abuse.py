"""Issue 24 on the web side: GET never changes anything, request bodies are capped before
they are read, and every answer under /api/ is JSON, an outage included."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError, connection
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.tokens import api_token_create
from dssportal.errors import server_error
from extraction.models import CutoutUsage
from tests.factories import register_real_dss_plate
from tests.test_downloads import staged  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def test_a_get_with_a_token_never_deletes_a_staging_directory(staged):  # noqa: F811
    user, directory = staged
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_token_create(user=user)[1]}"}
    url = reverse("staging-delete", args=[directory.name])
    answer = Client().get(url, **auth)
    assert answer.status_code == 405 and answer["Allow"] == "POST"
    assert "POST" in answer.json()["error"]
    directory.refresh_from_db()
    assert directory.deleted_at is None and directory.absolute_path.is_dir()
    assert Client().post(url, **auth).status_code == 200  # POST still deletes


# -- Request bodies are capped before they are read ----------------------------------------


def test_a_body_larger_than_the_cap_is_refused_from_its_content_length(client, make_user, settings):
    settings.DSSPORTAL_MAX_REQUEST_BODY_BYTES = 10_000
    client.force_login(make_user("ann", "ann@example.org"))
    upload = SimpleUploadedFile("list.txt", b"x" * 50_000, content_type="text/plain")
    page = client.post(reverse("request-list"), {"which": "list", "upload": upload})
    assert page.status_code == 413 and "10000" in page.content.decode()
    api = client.post(
        "/api/requests", data=b"{}", content_type="application/json", CONTENT_LENGTH="300000000"
    )
    assert api.status_code == 413 and "at most 10000" in api.json()["error"]


def test_a_300_mb_upload_is_refused_at_once_over_http_without_reading_it(live_server):
    """Over a real socket: the answer comes before any of the 300 MB is sent."""
    host, port = live_server.thread.host, live_server.thread.port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            b"POST /requests/ HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 300000000\r\n\r\n--b\r\n"
        )
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


# -- Every answer under /api/ is JSON, an outage included -------------------------------------


@contextmanager
def _database_down(settings):
    """The database refuses connections, as when every connection slot is taken.

    PostgreSQL: the connection is pointed at a closed port. SQLite (the in-memory test
    database cannot be closed without losing it): every statement fails as a locked
    database does."""
    settings.DSSPORTAL_TASKS_SYNC = False
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    if connection.vendor == "sqlite":

        def locked(*args):
            raise OperationalError("database is locked")

        with connection.execute_wrapper(locked):
            yield
        return
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT="9")
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
def test_with_the_database_down_the_api_answers_json_503_and_healthz_says_so(make_user, settings):
    user = make_user("ann", "ann@example.org")
    token = api_token_create(user=user)[1]
    client = Client(raise_request_exception=False)
    assert client.get("/healthz").json() == {
        "ok": True, "database": "ok", "broker": "ok", "signing_key": "ok"
    }  # fmt: skip
    with _database_down(settings):
        for path in ("/api/requests", "/api/plates?ra=10&dec=41", "/api/requests/1"):
            answer = client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")
            assert answer.status_code == 503, (path, answer.content[:300])
            assert answer["Content-Type"] == "application/json"
            assert answer["Retry-After"] == "30" and "try again" in answer.json()["error"]
        health = client.get("/healthz")
        assert health.status_code == 503 and health["Retry-After"] == "30"
        report = health.json()
        assert report["ok"] is False and report["database"] != "ok"
        if connection.vendor == "postgresql":  # the ORM broker's connection is refused too
            assert report["broker"] != "ok"
    assert client.get("/healthz").status_code == 200


def test_a_server_error_is_json_under_the_api_and_a_page_elsewhere():
    factory = RequestFactory()
    api = server_error(factory.get("/api/requests"))
    assert api.status_code == 500 and "staff" in json.loads(api.content)["error"]
    page = server_error(factory.get("/requests/"))
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


# -- The cut-out allowance is reserved before a cut-out is made ------------------------------


@pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning")
def test_concurrent_cutouts_never_overshoot_the_daily_allowance(live_server, make_user, settings):
    """Eight cut-outs at once over real HTTP, an allowance that holds three of them."""
    register_real_dss_plate()
    user = make_user("hale", "hale@example.org")
    token = api_token_create(user=user)[1]
    settings.DSSPORTAL_CUTOUT_DAILY_MB = 1
    settings.DSSPORTAL_CUTOUT_PER_MINUTE = 100
    query = urlencode({"RA": "217.4833", "DEC": "-62.6847", "SURVEY": "DSS1", "SIZE": "0.15"})
    url = f"{live_server.url}/api/cutout?{query}"
    start = threading.Barrier(8)

    def fetch(_: int) -> int:
        start.wait()
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                answer.read()
                return answer.status
        except urllib.error.HTTPError as refused:
            return refused.code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(fetch, range(8)))
    usage = CutoutUsage.objects.get(user=user)
    assert usage.bytes <= 1_000_000, (usage.bytes, statuses)
    assert statuses.count(200) >= 1 and 429 in statuses and set(statuses) <= {200, 429}, statuses
