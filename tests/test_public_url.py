"""One public-URL rule: with the portal started on another port (``make run PORT=...``,
``make serve``), every link users get (API, staging listing, mail written by a worker) points
where the portal runs, unless ``DSSPORTAL_PUBLIC_URL`` says otherwise."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.test_production import (
    ROOT,
    free_port,
    manage,
    migrated,  # noqa: F401  (module fixture)
    process_tree,
    production_env,
)

pytestmark = pytest.mark.processes

LINE = "nowhere 12 00 00 +10 00 00 5. 5. J2000 DSS1 e U"


def _wait_for(url: str, portal: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        assert portal.poll() is None, "serveportal stopped by itself"
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            assert time.monotonic() < deadline, f"{url} did not answer within {seconds} s"
            time.sleep(0.3)


def _api(url: str, token: str, body: dict[str, str] | None = None) -> dict[str, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def test_links_in_the_api_and_in_worker_mail_follow_the_port_the_portal_runs_on(
    migrated: Path,  # noqa: F811
) -> None:
    port = free_port()
    env = production_env(migrated)
    assert "DSSPORTAL_PUBLIC_URL" not in env
    assert (
        manage(env, "add_user", "lowell", "percival@example.org", "--password", "p").returncode == 0
    )
    token = manage(env, "api_token", "lowell").stdout.strip().split()[-1]
    portal = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "serveportal",
            "--bind",
            f"127.0.0.1:{port}",
            "--no-ftp",
            "--web-workers",
            "1",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/healthz", portal)
        made = _api(f"{base}/api/requests", token, {"text": LINE})
        assert str(made["url"]).startswith(f"{base}/requests/")
        # The worker (qcluster, another process) settles the request and writes the mail.
        outbox = migrated / "outbox"
        deadline = time.monotonic() + 60
        mails: list[str] = []
        while not mails:
            assert time.monotonic() < deadline, "no completion mail within 60 s"
            time.sleep(0.5)
            mails = [
                p.read_text(errors="replace")
                for p in outbox.glob("*.eml")
                if f"/requests/{made['id']}/" in p.read_text(errors="replace")
            ]
        assert f"{base}/requests/{made['id']}/" in mails[0]
        assert "127.0.0.1:8000" not in "".join(mails)
        # A process started by hand beside the portal (ingest_mail from a shell, as make run
        # shows) has not the portal's environment: it reads where the portal runs from the
        # data directory.
        before = set(outbox.glob("*.eml"))
        message = (
            "From: percival@example.org\nTo: dss-request@localhost\nSubject: by hand\n"
            f"Message-ID: <by-hand@example.org>\n\n{LINE}\n"
        ).encode()
        by_hand = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "ingest_mail", "--kind", "request"],
            input=message,
            env=env,
            cwd=ROOT,
            capture_output=True,
            timeout=120,
        )
        assert by_hand.returncode == 0, by_hand.stderr.decode(errors="replace")
        receipt = [
            p.read_text(errors="replace")
            for p in set(outbox.glob("*.eml")) - before
            if "received" in p.read_text(errors="replace")
        ]
        assert receipt and f"{base}/requests/" in receipt[0], receipt
        assert "127.0.0.1:8000" not in receipt[0]
    finally:
        for pid in [portal.pid, *process_tree(portal.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        portal.wait()
    assert portal.stdout is not None
    assert f"web {base}/" in portal.stdout.read().decode()


def test_an_explicit_public_url_wins(tmp_path: Path) -> None:
    from django.conf import settings

    from dssportal.infra.publicurl import public_url_from_listen

    saved = settings.DSSPORTAL_PUBLIC_URL
    os.environ["DSSPORTAL_PUBLIC_URL"] = "https://dss.example.org"
    settings.DSSPORTAL_PUBLIC_URL = "https://dss.example.org"
    try:
        assert public_url_from_listen("127.0.0.1", 18000) == "https://dss.example.org"
    finally:
        del os.environ["DSSPORTAL_PUBLIC_URL"]
        settings.DSSPORTAL_PUBLIC_URL = saved
