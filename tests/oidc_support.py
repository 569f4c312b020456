"""The test OpenID provider (tests/oidc_provider.py) in a second process, and the steps of a
sign-in that a browser would take, for the OIDC tests."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID = "dssportal-test"
CLIENT_SECRET = "portal-secret-for-tests"


@contextmanager
def oidc_provider(*, kid: str = "none", wrong_key: bool = False) -> Iterator[str]:
    """A running provider (``kid``: see tests/oidc_provider.py); yields its issuer URL
    (``http://127.0.0.1:<port>``)."""
    args = [sys.executable, "-m", "tests.oidc_provider", "--port", "0", "--kid", kid]
    if wrong_key:
        args.append("--wrong-key")
    process = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening "), f"the provider did not start: {line!r}"
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def set_person(issuer: str, subject: str, **claims: object) -> None:
    """What the provider says about ``subject`` from now on."""
    response = requests.put(f"{issuer}/users/{subject}", json=claims, timeout=10)
    assert response.status_code == 204, response.text


def authorize_at_provider(authorize_url: str, subject: str) -> str:
    """Submit the provider's log-in page as ``subject``; returns the callback URL it sends
    the browser to (``<redirect_uri>?code=…&state=…``)."""
    assert urlsplit(authorize_url).path == "/oauth2/authorize", authorize_url
    response = requests.post(
        authorize_url, data={"sub": subject}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def jwt_header(token: str) -> dict[str, object]:
    encoded = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
