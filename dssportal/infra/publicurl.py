"""The portal's public address: one rule for every link in mail, pages and the API.

``DSSPORTAL_PUBLIC_URL`` when the environment sets it (behind a proxy, with TLS: always set
it). Otherwise the address the portal runs at: ``runportal`` and ``serveportal`` (``make run``,
``make serve``) put ``http://HOST:PORT`` into the environment before they start the web
server, the workers and FTP, so that a mail written by a worker links where the pages are,
and write it to ``DSSPORTAL_PORTAL_URL_FILE`` in the data directory, which the settings of a
process started by hand (``ingest_mail`` from a shell, as ``make run`` shows) read.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from django.conf import settings

from extraction.core.files import write_atomically

ENV_NAME = "DSSPORTAL_PUBLIC_URL"
_ANY_ADDRESS = {"0.0.0.0", "::", "[::]", ""}


def public_url_from_listen(host: str, port: int) -> str:
    """Derive the public URL from where the web server listens, unless the environment
    names it; export it to this process's settings and to every process it starts."""
    if os.environ.get(ENV_NAME):
        url = str(settings.DSSPORTAL_PUBLIC_URL)
    else:
        # Listening on every address: the name other machines reach this one by.
        name = socket.getfqdn() if host in _ANY_ADDRESS else host
        if ":" in name and not name.startswith("["):
            name = f"[{name}]"  # an IPv6 literal
        url = f"http://{name}:{port}"
        os.environ[ENV_NAME] = url
        settings.DSSPORTAL_PUBLIC_URL = url
    recorded = Path(settings.DSSPORTAL_PORTAL_URL_FILE)
    recorded.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(recorded, f"{url}\n".encode())
    return url
