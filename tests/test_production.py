"""The production shape: a real gunicorn serving dssportal.wsgi with DEBUG=0, static files
through WhiteNoise (with and without collectstatic), and `check --deploy` clean when the
production variables of deploy/dssportal.env are set."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE_CSS = ROOT / "static" / "css" / "portal.css"

pytestmark = pytest.mark.processes


def production_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The real environment minus anything that would point at shared services or DEBUG."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("DSSPORTAL_", "DATABASE_URL", "REDIS_URL", "SECURE_", "DEBUG", "DJANGO_ALLOW_ASYNC")
        )
    }
    env.update(
        DEBUG="0",
        SECRET_KEY="production-test-" + "k" * 50,
        ALLOWED_HOSTS="127.0.0.1",
        DSSPORTAL_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="dssportal.settings",
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET without following redirects (a redirect raises HTTPError with its code)."""
    opener = urllib.request.build_opener(NoRedirect())
    with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def stylesheet_url(page: bytes) -> str:
    match = re.search(rb'href="(/static/css/portal[^"]*\.css)"', page)
    assert match, "the page links no stylesheet"
    return match.group(1).decode()


PRODUCTION = {
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
}


def test_gunicorn_behind_the_proxy_serves_pages_and_hashed_static_files(tmp_path: Path) -> None:
    env = production_env(tmp_path, **PRODUCTION)
    collected = manage(env, "collectstatic", "--noinput", "--skip-checks")
    assert collected.returncode == 0, collected.stderr
    checked = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no issues" in checked.stdout

    via_proxy = {"X-Forwarded-Proto": "https"}
    with gunicorn(env) as base:
        status, headers, page = get(base + "/", via_proxy)
        assert status == 200
        assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
        css = stylesheet_url(page)
        assert re.fullmatch(r"/static/css/portal\.[0-9a-f]{12}\.css", css), css
        status, headers, body = get(base + css, via_proxy)
        assert status == 200 and body == SOURCE_CSS.read_bytes()
        assert "immutable" in headers["Cache-Control"]
        assert get(base + "/login/", via_proxy)[0] == 200

        # A plain-HTTP request that did not come through the TLS proxy is sent to https;
        # the load balancer's health probe is not.
        with pytest.raises(urllib.error.HTTPError) as redirected:
            get(base + "/login/")
        assert redirected.value.code == 301
        location = redirected.value.headers["Location"]
        assert location.startswith("https://127.0.0.1:") and location.endswith("/login/")
        assert get(base + "/healthz")[0] == 200


def test_without_collectstatic_or_production_variables_it_still_serves_and_check_says_why(
    tmp_path: Path,
) -> None:
    env = production_env(tmp_path)
    with gunicorn(env) as base:
        status, _headers, page = get(base + "/")
        assert status == 200
        css = stylesheet_url(page)
        assert css == "/static/css/portal.css"
        status, _headers, body = get(base + css)
        assert status == 200 and body == SOURCE_CSS.read_bytes()
    checked = manage(env, "check", "--deploy")
    for missing in ("dssportal.W001", "security.W004", "security.W008"):
        assert missing in checked.stderr, checked.stderr
    assert "collectstatic" in checked.stderr


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
