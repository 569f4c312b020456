"""The portal's public address: one rule for every link in mail, pages and the API.

``DSSPORTAL_PUBLIC_URL`` when the environment sets it (behind a proxy, with TLS: always set
it). Otherwise the address the portal runs at: ``runportal`` and ``serveportal`` (``make run``,
``make serve``) put ``http://HOST:PORT`` into the environment before they start the web
server, the workers and FTP, so that a mail written by a worker links where the pages are.
"""

from __future__ import annotations

import os
import socket

from django.conf import settings

ENV_NAME = "DSSPORTAL_PUBLIC_URL"
_ANY_ADDRESS = {"0.0.0.0", "::", "[::]", ""}


def public_url_from_listen(host: str, port: int) -> str:
    """Derive the public URL from where the web server listens, unless the environment
    names it; export it to this process's settings and to every process it starts."""
    if os.environ.get(ENV_NAME):
        return str(settings.DSSPORTAL_PUBLIC_URL)
    # Listening on every address: the name other machines reach this one by.
    name = socket.getfqdn() if host in _ANY_ADDRESS else host
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"  # an IPv6 literal
    url = f"http://{name}:{port}"
    os.environ[ENV_NAME] = url
    settings.DSSPORTAL_PUBLIC_URL = url
    return url
