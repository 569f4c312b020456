"""Where users fetch a staging directory: the links that go into mails and pages.

Built from the public addresses in settings (``DSSPORTAL_FTP_PUBLIC_URL``,
``DSSPORTAL_PUBLIC_URL``), never from the address a server happens to listen on, which behind a
firewall or a proxy is not the one users reach. Staging names match
``extraction.text.naming.STAGING_NAME_RE`` (lower-case letters, digits, hyphens), so they need
no quoting in a URL.
"""

from __future__ import annotations

from django.conf import settings

from extraction.models import StagingDirectory


def public_url(path: str) -> str:
    """``<portal><path>`` for a path from ``reverse()``: the one rule for links users get
    (``dssportal.infra.publicurl`` says where the address comes from)."""
    return f"{settings.DSSPORTAL_PUBLIC_URL.rstrip('/')}{path}"


def staging_ftp_url(directory: StagingDirectory) -> str:
    """``ftp://HOST:PORT/<name>/``: the directory as the user's FTP login shows it."""
    return f"{settings.DSSPORTAL_FTP_PUBLIC_URL.rstrip('/')}/{directory.name}/"


def staging_web_url(directory: StagingDirectory) -> str:
    """``<portal>/staging/<name>/``: the same directory through the portal (HTTP)."""
    return public_url(f"/staging/{directory.name}/")
