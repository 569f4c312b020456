"""Single sign-on in the shape of ``make serve``: gunicorn with ``DEBUG=0`` over plain HTTP
(cookies not marked Secure), configured only through the ``DSSPORTAL_OIDC_*`` environment,
against the real provider in another process; a ``requests`` session plays the browser."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.oidc_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    authorize_at_provider,
    oidc_provider,
    query,
    set_person,
)
from tests.test_production import free_port, gunicorn, manage, production_env

pytestmark = pytest.mark.processes


def test_sign_in_and_logout_under_make_serve_settings(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with oidc_provider(kid="none") as issuer:
        env = production_env(
            tmp_path,
            SESSION_COOKIE_SECURE="0",
            CSRF_COOKIE_SECURE="0",
            DSSPORTAL_PUBLIC_URL=base,
            DSSPORTAL_OIDC_ISSUER=issuer,
            DSSPORTAL_OIDC_CLIENT_ID=CLIENT_ID,
            DSSPORTAL_OIDC_CLIENT_SECRET=CLIENT_SECRET,
            DSSPORTAL_OIDC_LABEL="Example Observatory",
        )
        done = manage(env, "migrate", "--noinput")
        assert done.returncode == 0, done.stderr
        set_person(issuer, "serve-1", email="serve@example.edu", email_verified=True)
        with gunicorn(env, port=port):
            browser = requests.Session()
            login_page = browser.get(f"{base}/login/", timeout=10).text
            assert "Sign in with Example Observatory" in login_page
            start = browser.get(f"{base}/oidc/login/", allow_redirects=False, timeout=10)
            assert start.status_code == 302
            assert query(start.headers["Location"])["redirect_uri"] == f"{base}/oidc/callback/"
            callback = authorize_at_provider(start.headers["Location"], "serve-1")
            done_ = browser.get(callback, allow_redirects=False, timeout=10)
            assert done_.status_code == 302, done_.text
            account = browser.get(f"{base}/account/", allow_redirects=False, timeout=10)
            assert account.status_code == 200 and "serve@example.edu" in account.text

            csrf = browser.cookies["csrftoken"]
            logout = browser.post(
                f"{base}/logout/",
                data={"csrfmiddlewaretoken": csrf},
                headers={"Referer": f"{base}/account/"},
                allow_redirects=False,
                timeout=10,
            )
            assert logout.status_code == 302
            assert logout.headers["Location"].startswith(f"{issuer}/oauth2/end_session?")
            after = browser.get(f"{base}/account/", allow_redirects=False, timeout=10)
            assert after.status_code == 302 and "/login/" in after.headers["Location"]
