"""Downloads (issue 23 "Downloads", issue 24 item 3): a 100 MB staged file and its zip, sent
by gunicorn alone and by nginx (X-Accel-Redirect, sendfile), fetched with curl.

Three shapes of the same data directory, measured in one run (best of BENCH_DOWNLOAD_ROUNDS,
default 3) and printed as seconds, MB/s and the ratio to gunicorn alone:

1. **gunicorn alone** (``make serve``): the app streams the bytes (plain HTTP).
2. **nginx, app streams** (``DSSPORTAL_ACCEL_REDIRECT`` unset): nginx proxies and buffers what
   gunicorn streams (HTTPS, the shipped site).
3. **nginx, X-Accel-Redirect** (the shipped ``deploy/`` shape): the app answers a redirect,
   nginx sends the file itself (HTTPS). For the zip, the first request builds the copy (its
   time is printed apart), the later ones are sent by nginx from it.

Shapes 2 and 3 are HTTPS (the shipped site has no plain-HTTP service), shape 1 plain HTTP:
on loopback their ratio is mostly the cost of TLS. Also printed: the CPU seconds gunicorn spent
per file, which says how much of a web worker a download costs. BENCH_DOWNLOAD_MB (default
100) sets the size.

    .venv/bin/python bench/bench_downloads.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# The same real servers the production tests start.
from tests.test_production import (
    HOST,
    deploy_env_proxy_variables,
    free_port,
    gunicorn,
    manage,
    nginx,
    nginx_config,
    nginx_site,
    production_env,
    self_signed_certificate,
    staged_file,
)

MB = int(os.environ.get("BENCH_DOWNLOAD_MB", "100"))
ROUNDS = int(os.environ.get("BENCH_DOWNLOAD_ROUNDS", "3"))
NAME = "dss-20261202-abcdefghijklm"


def fetch_seconds(url: str, token: str, port: int, *, rounds: int = ROUNDS) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        done = subprocess.run(
            [
                "curl", "-sS", "-k", "--fail", "-o", "/dev/null",
                "-w", "%{http_code} %{size_download}",
                "--resolve", f"{HOST}:{port}:127.0.0.1",
                "-H", f"Authorization: Bearer {token}", url,
            ],
            capture_output=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        status, size = done.stdout.decode().split()
        assert status == "200" and int(size) >= MB * 1_000_000, (url, done.stdout)
        best = min(best, time.perf_counter() - started)
    return best


def gunicorn_cpu(log_dir: Path) -> float:
    """CPU seconds (user + system) of the gunicorn processes started from ``log_dir``'s run."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes()
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if b"gunicorn" in b" ".join(cmdline) and str(log_dir).encode() in environ:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


@contextmanager
def shape(
    tmp: Path, data_dir: Path, *, accel: bool, with_nginx: bool
) -> Iterator[tuple[str, int, Path]]:
    """(base URL, port for --resolve, the marker dir of this gunicorn's environment)."""
    marker = Path(tempfile.mkdtemp(dir=tmp))
    variables = {
        **deploy_env_proxy_variables(),
        "ALLOWED_HOSTS": f"{HOST},127.0.0.1",
        "DSSPORTAL_ACCEL_REDIRECT": "/_accel/" if accel else "",
        "BENCH_MARKER": str(marker),
    }
    env = production_env(data_dir, **variables)
    if not with_nginx:
        env["SECURE_SSL_REDIRECT"] = "0"
        env.pop("SECURE_PROXY_SSL_HEADER", None)
    app_port = free_port()
    with ExitStack() as stack:
        stack.enter_context(gunicorn(env, app_port, marker / "gunicorn.log"))
        if not with_nginx:
            yield f"http://{HOST}:{app_port}", app_port, marker
            return
        http_port, https_port = free_port(), free_port()
        tls = self_signed_certificate(marker / "tls")
        config = nginx_config(marker, nginx_site(http_port, https_port, app_port, tls, data_dir))
        stack.enter_context(nginx(config, https_port))
        yield f"https://{HOST}:{https_port}", https_port, marker


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="dssportal-bench-downloads-"))
    data_dir = tmp / "data"
    data_dir.mkdir()
    env = production_env(data_dir, ALLOWED_HOSTS=f"{HOST},127.0.0.1")
    for step in (["migrate", "--noinput"], ["collectstatic", "--noinput", "--skip-checks"]):
        assert manage(env, *step).returncode == 0
    token, file_path = staged_file(env, data_dir, os.urandom(MB * 1_000_000))
    zip_path = f"/staging/{NAME}.zip"
    rows: list[tuple[str, float, float]] = []
    for label, accel, with_nginx in (
        ("gunicorn alone", False, False),
        ("nginx, app streams", False, True),
        ("nginx, X-Accel-Redirect", True, True),
    ):
        with shape(tmp, data_dir, accel=accel, with_nginx=with_nginx) as (base, port, marker):
            cpu_before = gunicorn_cpu(marker)
            file_s = fetch_seconds(base + file_path, token, port)
            cpu_file = (gunicorn_cpu(marker) - cpu_before) / ROUNDS
            first_zip = fetch_seconds(base + zip_path, token, port, rounds=1)
            zip_s = fetch_seconds(base + zip_path, token, port)
            rows.append((label, file_s, zip_s))
            print(
                f"{label:26s} file {file_s:6.2f} s ({MB / file_s:7.1f} MB/s), gunicorn CPU "
                f"{cpu_file:5.2f} s per file; zip first {first_zip:6.2f} s, then {zip_s:6.2f} s "
                f"({MB / zip_s:7.1f} MB/s)",
                flush=True,
            )
    base_file, base_zip = rows[0][1], rows[0][2]
    for label, file_s, zip_s in rows[1:]:
        print(
            f"ratio {label} / gunicorn alone: file {file_s / base_file:.2f}x, "
            f"zip {zip_s / base_zip:.2f}x"
        )


if __name__ == "__main__":
    main()
