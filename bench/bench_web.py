"""Web under load (issue 13): gunicorn with 2 workers, 20 concurrent logged-in clients.

Each client submits a one-line request through the web form, opens its request page and polls
its status JSON, BENCH_ROUNDS times (default 10). Printed: p50/p95 per kind against the goals
(submission 150 ms, request page and status JSON 50 ms). Uses DATABASE_URL (PostgreSQL for the
figure that matters; an EMPTY database) or a private SQLite file; no task cluster runs, so the
submitted fields stay queued (enqueueing is part of the submission).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/EMPTY_DB .venv/bin/python bench/bench_web.py
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "20"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "10"))
GOALS_MS = {"submission": 150.0, "request page": 50.0, "status JSON": 50.0}
LINE = "m{n} 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 U"


def environment(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DEBUG="0",
        SECRET_KEY="bench-web-" + "w" * 50,
        ALLOWED_HOSTS="127.0.0.1",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        DSSPORTAL_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="dssportal.settings",
        LOG_LEVEL="WARNING",
    )
    env.setdefault("DATABASE_URL", f"sqlite:///{data_dir / 'web.sqlite3'}")
    return env


SETUP = """
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("collectstatic", "--noinput", verbosity=0)
from accounts.services import user_create
from tests.factories import register_real_dss_plate
register_real_dss_plate()
for n in range({clients}):
    user_create(username=f"web{{n}}", email=f"web{{n}}@example.org", password="bench-pass-1",
                quota_mb=10_000)
"""


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class Client:
    def __init__(self, base: str, n: int) -> None:
        self.base, self.n = base, n
        cookies = urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        self.opener = urllib.request.build_opener(cookies)
        # The submission is timed up to its redirect, without loading the page it points to.
        self.submitter = urllib.request.build_opener(cookies, NoRedirect())

    def _csrf(self, path: str) -> str:
        page = self.opener.open(self.base + path, timeout=120).read().decode()
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def post(self, path: str, fields: dict[str, str]) -> str:
        fields = {"csrfmiddlewaretoken": self._csrf(path), **fields}
        data = urllib.parse.urlencode(fields).encode()
        with self.opener.open(self.base + path, data=data, timeout=120) as response:
            return str(response.geturl())

    def timed_get(self, path: str) -> float:
        started = time.perf_counter()
        with self.opener.open(self.base + path, timeout=120) as response:
            response.read()
            assert response.status == 200
        return time.perf_counter() - started

    def run(self, results: dict[str, list[float]], lock: threading.Lock) -> None:
        # Logging in hashes a password (deliberately slow); 20 at once queue up, untimed.
        self.post("/login/", {"username": f"web{self.n}", "password": "bench-pass-1"})
        for round_no in range(ROUNDS):
            token = self._csrf("/requests/")
            data = urllib.parse.urlencode(
                {"csrfmiddlewaretoken": token, "text": LINE.format(n=round_no)}
            ).encode()
            started = time.perf_counter()
            try:
                self.submitter.open(self.base + "/requests/", data=data, timeout=120).read()
                landed = "(no redirect: the form was refused)"
            except urllib.error.HTTPError as redirect:
                landed = redirect.headers.get("Location", "")
            submission = time.perf_counter() - started
            match = re.search(r"/requests/(\d+)/", landed)
            assert match, f"the submission landed on {landed}"
            page = self.timed_get(f"/requests/{match.group(1)}/")
            status = self.timed_get(f"/requests/{match.group(1)}/status.json")
            with lock:
                results["submission"].append(submission)
                results["request page"].append(page)
                results["status JSON"].append(status)


def main() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="dssportal-bench-web-"))
    env = environment(data_dir)
    subprocess.run(
        [sys.executable, "-c", SETUP.format(clients=CLIENTS)], env=env, cwd=ROOT, check=True
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "deploy/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--access-logfile",
            "/dev/null",
        ],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        results: dict[str, list[float]] = {kind: [] for kind in GOALS_MS}
        lock = threading.Lock()
        clients = [
            threading.Thread(target=Client(base, n).run, args=(results, lock))
            for n in range(CLIENTS)
        ]
        started = time.perf_counter()
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=120)
    database = env["DATABASE_URL"].split(":", 1)[0]
    print(
        f"gunicorn 2 workers x 4 threads, {database}, {CLIENTS} clients x {ROUNDS} rounds "
        f"in {elapsed:.1f} s"
    )
    for kind, goal in GOALS_MS.items():
        times = sorted(t * 1000 for t in results[kind])
        p95 = times[max(0, round(0.95 * len(times)) - 1)]
        print(
            f"  {kind:<13} n={len(times)} p50 {statistics.median(times):6.1f} ms  p95 "
            f"{p95:6.1f} ms (goal {goal:.0f} ms: {'met' if p95 <= goal else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
