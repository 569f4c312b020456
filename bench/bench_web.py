"""Web under load (issue 13): gunicorn with 2 workers x 4 threads, 20 concurrent users.

Three measurements against one server, printed as p50/p95 per kind of page against the goals
(submission 150 ms, request page and status JSON 50 ms):

1. **Service time**: one client alone, one request at a time (BENCH_WEB_ROUNDS rounds, default
   20): what a page costs when nobody else is there; also the request page and status JSON of
   a served mail-sized request (BENCH_WEB_LARGE fields, default 500, extracted during set-up),
   whose service time alone is judged against the goals: a page that misses them with nobody
   else there misses them under load.
2. **20 users** (BENCH_CLIENTS, default 20) for BENCH_WEB_SECONDS (default 60), behaving like
   people with the real pages: a user opens the form and fills it in (5-15 s of think time,
   the first one staggered over the first 10 s), submits one field, lands on the request page
   and watches it: the page's script (static/js/progress.js) asks for the status JSON 1.5 s
   after each answer, and the user watches for 10-30 s before the next request. This is the
   figure the goals are about.
3. **Saturation**: the same 20 clients in a closed loop with no think time for
   BENCH_SATURATION_SECONDS (default 10): requests per second the server sustains. Latency
   here is mostly queueing (Little's law: clients / throughput), so it is printed, not judged.

No task cluster runs, so the submitted fields stay queued and the pages keep polling
(enqueueing is part of the submission). The load generator is threads over http.client
keep-alive connections, to leave the 2 cores to the server. Uses DATABASE_URL (PostgreSQL for
the figure that matters; an EMPTY database) or a private SQLite file:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/EMPTY_DB .venv/bin/python bench/bench_web.py
"""

from __future__ import annotations

import http.client
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from _common import ROOT, percentile

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "20"))
ROUNDS = int(os.environ.get("BENCH_WEB_ROUNDS", "20"))
USERS_SECONDS = float(os.environ.get("BENCH_WEB_SECONDS", "60"))
SATURATION_SECONDS = float(os.environ.get("BENCH_SATURATION_SECONDS", "10"))
LARGE = int(os.environ.get("BENCH_WEB_LARGE", "500"))
POLL_S = 1.5  # static/js/progress.js: the next poll 1.5 s after the last answer
FORM_THINK_S, WATCH_S = (5.0, 15.0), (10.0, 30.0)
GOALS_MS = {
    "submission": 150.0,
    "request page": 50.0,
    "status JSON": 50.0,
    "form page": None,
    "large page": 50.0,
    "large status": 50.0,
}
LINE = "m{n} 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 U"
PASSWORD = "bench-pass-1"


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
    user_create(username=f"web{{n}}", email=f"web{{n}}@example.org", password={password!r},
                quota_mb=10_000)
if {large}:  # served at once (DSSPORTAL_TASKS_SYNC): a mail-sized request with its files
    from accounts.models import User
    from extraction.services.requests import request_create_from_text
    text = "\\n".join({line!r}.format(n=n) for n in range({large}))
    made = request_create_from_text(user=User.objects.get(username="web0"), text=text,
                                    source="mail")
    print("LARGE", made.request.pk, made.request.fields.filter(status="done").count())
"""


class Results:
    """Timings (s) per kind of page, and the requests that went wrong, from every thread."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {kind: [] for kind in GOALS_MS}
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def add(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.times[kind].append(seconds)

    def fail(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)

    def count(self) -> int:
        return sum(len(times) for times in self.times.values())


class Browser:
    """One user's keep-alive connection and cookies."""

    def __init__(self, port: int, results: Results) -> None:
        self.port, self.results = port, results
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}

    def fetch(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[http.client.HTTPResponse, bytes, float]:
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError):
                # The server closed the idle keep-alive connection: a browser reconnects too.
                self.connection.close()
                if attempt == 2:
                    raise
        elapsed = time.perf_counter() - started
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value
        return response, data, elapsed

    def timed(self, kind: str, method: str, path: str, form: dict[str, str] | None = None) -> str:
        """Fetch and record; returns where a redirect points ('' otherwise)."""
        response, _, elapsed = self.fetch(method, path, form)
        expected = 302 if kind == "submission" else 200
        if response.status != expected:
            self.results.fail(f"{kind} {path}: HTTP {response.status}")
            return ""
        self.results.add(kind, elapsed)
        return response.headers.get("Location", "")

    def log_in(self, username: str) -> None:
        self.fetch("GET", "/login/")
        form = {"csrfmiddlewaretoken": self.cookies["csrftoken"], "username": username}
        response, _, _ = self.fetch("POST", "/login/", form | {"password": PASSWORD})
        assert response.status == 302, f"{username} could not log in (HTTP {response.status})"

    def submit(self, n: int) -> str:
        """Open the form, send one field; returns the request page's path ('' on failure)."""
        self.timed("form page", "GET", "/requests/")
        form = {"csrfmiddlewaretoken": self.cookies["csrftoken"], "text": LINE.format(n=n)}
        landed = self.timed("submission", "POST", "/requests/", form)
        match = re.search(r"/requests/(\d+)/", landed)
        return match.group(0) if match else ""


def user_behaviour(browser: Browser, until: float, rng: random.Random) -> None:
    """Think, submit, watch the request page poll its status; again until ``until``."""
    time.sleep(rng.uniform(0, 10))
    n = 0
    while time.monotonic() < until:
        page = browser.submit(n)
        n += 1
        if not page:
            time.sleep(POLL_S)
            continue
        browser.timed("request page", "GET", page)
        stop_watching = time.monotonic() + rng.uniform(*WATCH_S)
        while time.monotonic() < min(stop_watching, until):
            time.sleep(POLL_S)
            browser.timed("status JSON", "GET", page + "status.json")
        time.sleep(rng.uniform(*FORM_THINK_S))


def closed_loop(browser: Browser, until: float, rng: random.Random) -> None:
    n = 10_000
    while time.monotonic() < until:
        page = browser.submit(n)
        n += 1
        if page:
            browser.timed("request page", "GET", page)
            browser.timed("status JSON", "GET", page + "status.json")


def single_client(browser: Browser, rounds: int, large: str = "") -> None:
    for n in range(rounds):
        page = browser.submit(20_000 + n)
        if page:
            browser.timed("request page", "GET", page)
            browser.timed("status JSON", "GET", page + "status.json")
        if large:
            browser.timed("large page", "GET", large)
            browser.timed("large status", "GET", large + "status.json")


def in_threads(
    browsers: list[Browser],
    behaviour: Callable[[Browser, float, random.Random], None],
    seconds: float,
) -> float:
    until = time.monotonic() + seconds

    def run(browser: Browser, seed: int) -> None:
        try:
            behaviour(browser, until, random.Random(seed))
        except Exception as exc:  # counted, so that a dead client fails the bench
            browser.results.fail(f"client stopped: {exc!r}")

    threads = [
        threading.Thread(target=run, args=(browser, n)) for n, browser in enumerate(browsers)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def report(results: Results, judge: bool, only: tuple[str, ...] = tuple(GOALS_MS)) -> bool:
    met = True
    for kind, goal in GOALS_MS.items():
        times = [t * 1000 for t in results.times[kind]]
        if not times:
            continue
        p95 = percentile(times, 0.95)
        verdict = ""
        if judge and goal is not None and kind in only:
            met &= p95 <= goal
            verdict = f" (goal {goal:.0f} ms: {'met' if p95 <= goal else 'NOT met'})"
        print(
            f"    {kind:<13} n={len(times):5d}  p50 {statistics.median(times):6.1f} ms  p95 "
            f"{p95:6.1f} ms{verdict}"
        )
    for error in results.errors[:5]:
        print(f"    ERROR {error}")
    return met


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
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
    for _ in range(300):
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            probe.request("GET", "/healthz")
            probe.getresponse().read()
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("gunicorn did not answer /healthz within a minute")


def logged_in(port: int, results: Results) -> list[Browser]:
    browsers = [Browser(port, results) for _ in range(CLIENTS)]
    # Logging in hashes a password (deliberately slow): done once per user, before any clock.
    for n, browser in enumerate(browsers):
        browser.log_in(f"web{n}")
    return browsers


def measure(port: int, large: str) -> int:
    database = os.environ.get("DATABASE_URL", "sqlite").split(":", 1)[0]
    print(f"gunicorn 2 workers x 4 threads, {database}")
    browsers = logged_in(port, Results())
    single_client(browsers[0], 5)  # untimed: templates compiled, connections opened
    results = Results()
    browsers[0].results = results
    single_client(browsers[0], ROUNDS, large)
    print(
        f"  1. service time, one client alone, {ROUNDS} rounds (large: the page and status JSON "
        f"of a served {LARGE}-field request; its service time alone is judged):"
    )
    met = report(results, judge=True, only=("large page", "large status"))
    failed = len(results.errors)

    results = Results()
    for browser in browsers:
        browser.results = results
    in_threads(browsers, user_behaviour, USERS_SECONDS)
    rate = results.count() / USERS_SECONDS
    print(
        f"  2. {CLIENTS} users with think time (form 5-15 s, watching 10-30 s with a status poll "
        f"1.5 s after each answer) for {USERS_SECONDS:.0f} s, {rate:.1f} requests/s:"
    )
    met &= report(results, judge=True)
    failed += len(results.errors)

    results = Results()
    for browser in browsers:
        browser.results = results
    elapsed = in_threads(browsers, closed_loop, SATURATION_SECONDS)
    rate = results.count() / elapsed
    print(
        f"  3. saturation, {CLIENTS} closed-loop clients with no think time: {results.count()} "
        f"requests in {elapsed:.1f} s = {rate:.0f} requests/s (Little's law: {CLIENTS} / "
        f"{rate:.0f} = {CLIENTS / rate * 1000:.0f} ms average latency):"
    )
    report(results, judge=False)
    failed += len(results.errors)
    print(f"  goals {'met' if met else 'NOT met'}; {failed} failed requests")
    return 1 if failed else 0


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    data_dir = Path(tempfile.mkdtemp(prefix="dssportal-bench-web-"))
    try:
        env = environment(data_dir)
        setup = SETUP.format(clients=CLIENTS, password=PASSWORD, large=LARGE, line=LINE)
        made = subprocess.run(
            [sys.executable, "-c", setup],
            env=env | {"DSSPORTAL_TASKS_SYNC": "1"},
            cwd=ROOT,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        ).stdout.split()
        large = f"/requests/{made[made.index('LARGE') + 1]}/" if LARGE else ""
        port = free_port()
        server = start_server(env, port)
        try:
            return measure(port, large)
        finally:
            server.terminate()
            server.wait(timeout=60)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
