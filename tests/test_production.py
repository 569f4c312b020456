"""The production shape: a real gunicorn serving dssportal.wsgi with DEBUG=0, static files
through WhiteNoise (with and without collectstatic), `check --deploy` clean when the
production variables of deploy/dssportal.env are set, the nginx site of deploy/ in front of
it (TLS, proxy headers, downloads), and `serveportal` stopping all its processes on a signal."""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
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
    """A free loopback port below the kernel's ephemeral range: a port the kernel hands out
    (bind to 0) can be taken as the local end of any outgoing connection before the server
    that was to listen on it (nginx, started seconds later) binds it."""
    low, _high = (
        int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    )
    for _attempt in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


@contextmanager
def gunicorn(
    env: dict[str, str], port: int | None = None, log: Path | None = None
) -> Iterator[str]:
    """gunicorn as deploy/ runs it; its access and error logs go to ``log`` (a file, never a
    pipe nobody reads: a full pipe blocks gunicorn, which then cannot even stop)."""
    port = port or free_port()
    log = log or Path(env["DSSPORTAL_DATA_DIR"]) / f"gunicorn-{port}.log"
    output = log.open("w")
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
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).read()
                break
            except urllib.error.HTTPError:
                break  # it answers (a site never migrated is not healthy: its tables are missing)
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        output.close()


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
    assert manage(env, "migrate", "--verbosity", "0").returncode == 0  # healthy needs tables

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


# --- nginx in front (deploy/nginx/dssportal.conf) -----------------------------------------------

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SITE = ROOT / "deploy" / "nginx" / "dssportal.conf"
HOST = "dss.example.org"
#: The variables of deploy/dssportal.env that say how the app sits behind the proxy.
PROXY_VARIABLES = ("DEBUG", "SECURE_", "DSSPORTAL_TRUSTED_PROXIES", "DSSPORTAL_ACCEL_REDIRECT")


def deploy_env_proxy_variables() -> dict[str, str]:
    """The proxy-related settings exactly as the shipped environment file has them."""
    lines = (ROOT / "deploy" / "dssportal.env").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if "=" in line and not line.startswith("#")]
    return {k.strip(): v.strip() for k, v in pairs if k.strip().startswith(PROXY_VARIABLES)}


def nginx_site(
    http_port: int, https_port: int, upstream_port: int, tls: Path, data_dir: Path
) -> str:
    """The shipped site with only its ports, certificate paths, upstream and data directory
    changed."""
    site = SITE.read_text()
    replacements = [
        # Loopback only (tests talk to 127.0.0.1, nothing else may reach them).
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"listen \[::\]:80;", f"listen [::1]:{http_port};"),
        (r"listen 443 ", f"listen 127.0.0.1:{https_port} "),
        (r"listen \[::\]:443 ", f"listen [::1]:{https_port} "),
        (r"/etc/letsencrypt/live/dss\.example\.org/", f"{tls}/"),
        (r"http://127\.0\.0\.1:8000;", f"http://127.0.0.1:{upstream_port};"),
        (r"/srv/dssportal/", f"{data_dir}/"),
    ]
    for pattern, replacement in replacements:
        site, count = re.subn(pattern, replacement, site)
        assert count, f"{SITE.name} no longer has {pattern!r}; update this test with it"
    return site


def nginx_config(tmp: Path, site: str) -> Path:
    """A main nginx.conf that includes the site, with every path of nginx's own under ``tmp``."""
    (tmp / "site.conf").write_text(site)
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    lines = [
        # As root, nginx's workers would run as nobody, who cannot enter pytest's folders.
        *(["user root root;"] if os.geteuid() == 0 else []),
        f"pid {tmp}/nginx.pid;",
        f"error_log {tmp}/error.log;",
        "worker_processes 1;",
        "events { worker_connections 64; }",
        "http {",
        f"    access_log {tmp}/access.log;",
        *(f"    {kind}_temp_path {tmp}/{kind};" for kind in kinds),
        f"    include {tmp}/site.conf;",
        "}",
    ]
    config = tmp / "nginx.conf"
    config.write_text("\n".join(lines) + "\n")
    return config


def self_signed_certificate(folder: Path) -> Path:
    folder.mkdir()
    key, certificate = folder / "privkey.pem", folder / "fullchain.pem"
    request = [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        f"/CN={HOST}",
    ]
    subprocess.run(
        ["openssl", *request, "-keyout", str(key), "-out", str(certificate)],
        check=True,
        capture_output=True,
    )
    return folder


@contextmanager
def nginx(config: Path, https_port: int) -> Iterator[None]:
    server = subprocess.Popen(
        [NGINX, "-e", str(config.parent / "error.log"), "-c", str(config), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not listen within 10 s"
                time.sleep(0.1)
        yield
    finally:
        server.terminate()
        server.wait(timeout=10)


class Client:
    """HTTPS to nginx as the browser of one client address (127.0.0.x), keeping its cookies."""

    def __init__(self, port: int, address: str) -> None:
        self.port, self.address = port, address
        self.cookies: dict[str, str] = {}
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        connection = http.client.HTTPSConnection(
            "127.0.0.1",
            self.port,
            context=self.context,
            source_address=(self.address, 0),
            timeout=20,
        )
        sent = {"Host": HOST, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status, response.headers, data

    def password_reset(self, email: str) -> tuple[int, bytes]:
        _, _, form = self.request("GET", "/password/reset/")
        match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert match, form[:500]
        body = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": match.group(1).decode(), "email": email}
        )
        status, _, page = self.request(
            "POST",
            "/password/reset/",
            body,
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Referer": f"https://{HOST}/password/reset/",
                "Origin": f"https://{HOST}",
            },
        )
        return status, page


def staged_file(
    env: dict[str, str],
    data_dir: Path,
    content: bytes,
    login: str = "astro",
    name: str = "dss-20261202-abcdefghijklm",
) -> tuple[str, str]:
    """A user, an API token and one staged file of ``content``; (token, file URL path)."""
    added = manage(env, "add_user", login, f"{login}@example.org", "--password", "x-Astro-9")
    assert added.returncode == 0, added.stderr
    token = manage(env, "api_token", login)
    assert token.returncode == 0, token.stderr
    created = manage(
        env,
        "shell",
        "-c",
        "from datetime import timedelta; from django.utils import timezone; "
        "from accounts.models import User; from extraction.models import StagingDirectory; "
        f"u = User.objects.get(username='{login}'); "
        f"StagingDirectory.objects.create(user=u, name='{name}', "
        f"path=u.staging_area + '/{name}', expires_at=timezone.now() + timedelta(days=1)); "
        "print(u.staging_area)",
    )
    assert created.returncode == 0, created.stderr
    folder = data_dir / "staging" / created.stdout.split()[-1] / name
    folder.mkdir(parents=True)
    (folder / "big.fits").write_bytes(content)
    return token.stdout.strip(), f"/staging/{name}/big.fits"


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with a migrated SQLite database and static files, for the tests below."""
    data_dir = tmp_path_factory.mktemp("data")
    for step in (["migrate", "--noinput"], ["collectstatic", "--noinput", "--skip-checks"]):
        done = manage(production_env(data_dir), *step)
        assert done.returncode == 0, done.stderr
    return data_dir


def test_the_nginx_site_passes_nginx_t_and_gives_the_app_https_the_client_and_the_files(
    tmp_path: Path, migrated: Path
) -> None:
    env = production_env(
        migrated,
        **deploy_env_proxy_variables(),
        ALLOWED_HOSTS=f"{HOST},127.0.0.1",
        CSRF_TRUSTED_ORIGINS=f"https://{HOST}",
        DSSPORTAL_REGISTRATIONS_PER_ADDRESS_PER_HOUR="1",
    )
    assert env["DSSPORTAL_TRUSTED_PROXIES"] == "1" and env["SECURE_SSL_REDIRECT"] == "1"
    content = os.urandom(6_000_000)
    token, file_path = staged_file(env, migrated, content)
    http_port, https_port, app_port = free_port(), free_port(), free_port()
    tls = self_signed_certificate(tmp_path / "tls")
    config = nginx_config(tmp_path, nginx_site(http_port, https_port, app_port, tls, migrated))
    tested = subprocess.run(
        [NGINX, "-t", "-e", str(tmp_path / "error.log"), "-c", str(config)],
        capture_output=True,
        text=True,
    )
    assert tested.returncode == 0, tested.stderr

    log = tmp_path / "gunicorn.log"
    with gunicorn(env, app_port, log), nginx(config, https_port):
        # Plain HTTP is sent to https by nginx itself.
        plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        plain.request("GET", "/login/", headers={"Host": HOST})
        answer = plain.getresponse()
        assert answer.status == 301 and answer.headers["Location"] == f"https://{HOST}/login/"
        plain.close()

        # The app sees https: no redirect of its own, HSTS, cookies marked Secure.
        client = Client(https_port, "127.0.0.2")
        status, headers, _ = client.request("GET", "/healthz")
        assert status == 200 and headers["Strict-Transport-Security"].startswith("max-age=")
        status, headers, page = client.request("GET", "/login/")
        assert status == 200, headers
        assert "Secure" in headers["Set-Cookie"]
        status, headers, _ = client.request("GET", stylesheet_url(page))
        assert status == 200 and "immutable" in headers["Cache-Control"]

        # The app sees the client's address: the per-address limit (1 an hour here) stops a
        # second reset from 127.0.0.2 but not one from 127.0.0.3.
        assert client.password_reset("one@example.org")[0] == 302
        status, page = client.password_reset("two@example.org")
        assert status == 200 and b"Too many" in page
        assert Client(https_port, "127.0.0.3").password_reset("three@example.org")[0] == 302

        # A large staged file streams through nginx byte for byte, and so does a range of it.
        bearer = {"Authorization": f"Bearer {token}"}
        status, headers, body = client.request("GET", file_path, headers=bearer)
        assert status == 200 and body == content, body[:300]
        status, headers, body = client.request(
            "GET", file_path, headers={**bearer, "Range": "bytes=1000000-1999999"}
        )
        assert status == 206 and body == content[1_000_000:2_000_000]
        assert headers["Content-Range"] == f"bytes 1000000-1999999/{len(content)}"

    # gunicorn's access log names the client nginx passed on, after nginx's own address.
    assert re.search(r"^127\.0\.0\.1 127\.0\.0\.3 .*POST /password/reset/", log.read_text(), re.M)


# --- nginx sends download bodies: slow clients hold no gunicorn thread (issue 24, item 3) --------


@contextmanager
def behind_nginx(tmp_path: Path, data_dir: Path, env: dict[str, str]) -> Iterator[int]:
    """gunicorn (1 worker, 4 threads, as deploy/ runs it) behind the shipped nginx site; the
    HTTPS port."""
    http_port, https_port, app_port = free_port(), free_port(), free_port()
    tls = self_signed_certificate(tmp_path / "tls")
    site = nginx_site(http_port, https_port, app_port, tls, data_dir)
    config = nginx_config(tmp_path, site)
    with gunicorn(env, app_port, tmp_path / "gunicorn.log"), nginx(config, https_port):
        yield https_port


def tls_socket(port: int) -> ssl.SSLSocket:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return context.wrap_socket(raw, server_hostname=HOST)


def healthz_seconds(port: int) -> float:
    started = time.monotonic()
    status, _, body = Client(port, "127.0.0.4").request("GET", "/healthz")
    assert status == 200, body[:200]
    return time.monotonic() - started


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["curl", "-sS", "-k", "--fail", *args], capture_output=True, timeout=120)


def test_behind_nginx_slow_readers_and_partial_headers_leave_the_site_answering_and_zips_resume(
    tmp_path: Path, migrated: Path
) -> None:
    env = production_env(
        migrated, **deploy_env_proxy_variables(), ALLOWED_HOSTS=f"{HOST},127.0.0.1"
    )
    assert env["DSSPORTAL_ACCEL_REDIRECT"] == "/_accel/"
    content = os.urandom(24_000_000)
    name = "dss-20261207-slowreadersaa"
    token, file_path = staged_file(env, migrated, content, login="slow", name=name)
    folder = next((migrated / "staging").glob(f"*/{name}"))
    (folder / "small.fits.gz").write_bytes(os.urandom(70_000))
    when = 1_700_000_000  # a date in the past, whole even seconds (DOS times step by 2 s)
    for member in folder.iterdir():
        os.utime(member, (when, when))
    bearer = {"Authorization": f"Bearer {token}"}
    zip_path = f"/staging/{name}.zip"
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {token}\r\n\r\n"
        for path in (file_path, zip_path)
    ]

    with behind_nginx(tmp_path, migrated, env) as port, contextlib.ExitStack() as held:
        assert healthz_seconds(port) < 5
        # 10 clients ask for the 24 MB file or the zip and read nothing; 16 send half their
        # headers.
        for n in range(10):
            reader = held.enter_context(tls_socket(port))
            reader.sendall(requests[n % 2].encode())
        for _ in range(16):
            talker = held.enter_context(tls_socket(port))
            talker.sendall(f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nX-Slow: ".encode())
        time.sleep(1.0)
        waits = [healthz_seconds(port) for _ in range(8)]
        assert max(waits) < 3.0, waits

        # Range on a file, sent by nginx: one range, a suffix, and the headers the app set.
        client = Client(port, "127.0.0.2")
        status, headers, body = client.request(
            "GET", file_path, headers={**bearer, "Range": "bytes=5000000-5999999"}
        )
        assert status == 206 and body == content[5_000_000:6_000_000]
        assert headers["Content-Range"] == f"bytes 5000000-5999999/{len(content)}"
        assert headers["Content-Disposition"] == 'attachment; filename="big.fits"'
        assert "X-Accel-Redirect" not in headers
        status, _, body = client.request(
            "GET", file_path, headers={**bearer, "Range": "bytes=-1000"}
        )
        assert status == 206 and body == content[-1000:]
        assert client.request("GET", "/_accel/staging/")[0] == 404  # internal only

        # curl fetches the zip whole, then resumes a cut-off copy: the same bytes.
        url = f"https://{HOST}:{port}/staging/{name}.zip"
        resolve = ["--resolve", f"{HOST}:{port}:127.0.0.1", "-H", f"Authorization: Bearer {token}"]
        whole, part = tmp_path / "whole.zip", tmp_path / "part.zip"
        fetched = curl(*resolve, "-o", str(whole), url)
        assert fetched.returncode == 0, fetched.stderr
        fetched = curl(*resolve, "-r", "0-9999999", "-o", str(part), url)
        assert fetched.returncode == 0 and part.stat().st_size == 10_000_000, fetched.stderr
        resumed = curl(*resolve, "-C", "-", "-o", str(part), url)
        assert resumed.returncode == 0, resumed.stderr
        assert part.read_bytes() == whole.read_bytes()

    out = tmp_path / "out"
    unzipped = subprocess.run(["unzip", "-q", str(part), "-d", str(out)], capture_output=True)
    assert unzipped.returncode == 0, unzipped.stderr
    for member in folder.iterdir():
        copy = out / folder.name / member.name
        assert copy.read_bytes() == member.read_bytes()
        assert int(copy.stat().st_mtime) == when
    with zipfile.ZipFile(part) as opened:
        assert {i.date_time for i in opened.infolist()} == {time.localtime(when)[:6]}


# --- serveportal (make serve) stops everything it started ---------------------------------------


def process_tree(root: int) -> list[int]:
    from dssportal.infra.processes import descendant_pids

    return descendant_pids(root)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _ignore_sigint() -> None:
    # As for any command a script starts in the background: SIGINT ignored from the start.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serveportal_alone_signalled_stops_every_process_it_started_within_seconds(
    migrated: Path, signum: int
) -> None:
    port = free_port()
    env = production_env(migrated, DSSPORTAL_FTP_PORT=str(free_port()))
    portal = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "serveportal", "--bind", f"127.0.0.1:{port}"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_ignore_sigint,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert portal.poll() is None, "serveportal stopped by itself"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
                tree = process_tree(portal.pid)
                if len(tree) >= 6:  # gunicorn and its 2 workers, qcluster and its own, runftpd
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "serveportal did not start within 60 s"
            time.sleep(0.3)
        time.sleep(1)
        tree = process_tree(portal.pid)
        portal.send_signal(signum)  # to serveportal alone, not its process group
        stopped_by = time.monotonic() + 6
        while time.monotonic() < stopped_by and (portal.poll() is None or any(map(alive, tree))):
            time.sleep(0.2)
        left = [pid for pid in tree if alive(pid)]
        assert portal.poll() is not None and not left, f"still running after 6 s: {left}"
    finally:
        for pid in [portal.pid, *process_tree(portal.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        portal.wait()
