"""nginx serving a plates folder with the shipped site (deploy/nginx/dssportal-plates.conf),
on loopback, logging the bytes of every request: for tests/test_plates_http.py and the bench."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from tests.test_production import ROOT, nginx_config

PLATES_SITE = ROOT / "deploy" / "nginx" / "dssportal-plates.conf"


@dataclass(frozen=True)
class PlateServer:
    port: int
    plates: Path
    config: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/plates"

    def log_lines(self, at_least: int = 0) -> list[tuple[str, int, int, int]]:
        """(method, status, body bytes, bytes sent) of every request so far, waiting for
        ``at_least`` lines: nginx logs a request after sending it, so a client may be faster."""
        deadline = time.monotonic() + 10
        while True:
            text = self.log.read_text() if self.log.exists() else ""
            rows = [line.split() for line in text.splitlines()]
            if len(rows) >= at_least or time.monotonic() > deadline:
                return [(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]
            time.sleep(0.02)


def plates_site(port: int, plates: Path, log: Path) -> str:
    """The shipped plates site on loopback, serving ``plates``, logging bytes per request."""
    site = PLATES_SITE.read_text()
    replacements = [
        (r"listen 10\.0\.0\.1:8081;", f"listen 127.0.0.1:{port};"),
        (r"allow 10\.0\.0\.0/24;", "allow 127.0.0.1;"),
        (r"alias /srv/dssportal/var/plates/;", f"alias {plates}/;"),
    ]
    for pattern, replacement in replacements:
        site, count = re.subn(pattern, replacement, site)
        assert count, f"{PLATES_SITE.name} no longer has {pattern!r}; update this test with it"
    log_format = "log_format plates '$request_method $status $body_bytes_sent $bytes_sent';"
    return f"{log_format}\n" + site.replace(
        "server {", f"server {{\n    access_log {log} plates;", 1
    )


def plate_server_config(tmp: Path, port: int, plates: Path, log: Path) -> Path:
    """An nginx.conf under ``tmp`` running the shipped plates site (also used by the bench)."""
    # nginx_config runs the workers as root when we are (nobody may not enter a private tmp).
    return nginx_config(tmp, plates_site(port, plates, log))
