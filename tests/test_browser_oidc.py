"""The sign-in journey through the institute's provider in a real browser (Debian's chromium
through Playwright): the portal's button, the provider's own log-in page (a real provider in
a second process on loopback), back signed in, an app password made, and the logout that
ends the provider's session too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from accounts.models import AppPassword, User
from tests.oidc_support import CLIENT_ID, CLIENT_SECRET, oidc_provider, set_person
from tests.test_browser import browser, page, shoot  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.processes, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def issuer() -> Iterator[str]:
    with oidc_provider(kid="none") as url:
        yield url


def test_sign_in_through_the_providers_page_app_password_and_logout(
    page: Page,  # noqa: F811
    live_server,
    settings,
    issuer: str,
) -> None:
    settings.DSSPORTAL_PUBLIC_URL = live_server.url
    settings.DSSPORTAL_OIDC_ISSUER = issuer
    settings.DSSPORTAL_OIDC_CLIENT_ID = CLIENT_ID
    settings.DSSPORTAL_OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.DSSPORTAL_OIDC_LABEL = "Example Observatory"
    set_person(
        issuer, "hubble-1", email="edwin@example.edu", email_verified=True, name="Edwin Hubble"
    )
    off_loopback: list[str] = []

    def loopback_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            off_loopback.append(route.request.url)
            route.abort()

    page.route("**/*", loopback_only)

    page.goto(f"{live_server.url}/login/")
    expect(page.locator("#oidc-login")).to_have_text("Sign in with Example Observatory")
    shoot(page, "oidc-login-button")
    page.click("#oidc-login")
    expect(page.locator("h1")).to_have_text("Authorize Client")  # the provider's page
    assert page.url.startswith(f"{issuer}/oauth2/authorize?")
    shoot(page, "oidc-provider-login")
    page.fill("input[name=sub]", "hubble-1")
    page.click("button:has-text('Authorize')")
    expect(page.locator("header")).to_contain_text("log out")
    assert page.url == f"{live_server.url}/"
    assert User.objects.get(oidc_identities__subject="hubble-1").get_full_name() == "Edwin Hubble"

    page.goto(f"{live_server.url}/account/")
    expect(page.locator("main")).to_contain_text("You sign in through your institute")
    page.fill("#app-password-form input[name=label]", "FileZilla")
    page.click("#app-password-form button[type=submit]")
    raw = page.locator("#new-app-password").inner_text()
    assert re.fullmatch(r"dssapp-\w{8}-\w{32}", raw)
    assert AppPassword.objects.get().label == "FileZilla"
    shoot(page, "oidc-app-password")

    page.click("header button:has-text('log out')")
    expect(page.locator("h1")).to_have_text("End Session")  # the provider's logout page
    assert page.url.startswith(f"{issuer}/oauth2/end_session?")
    page.click("button:has-text('End session')")
    expect(page.locator("header")).to_contain_text("log in")
    assert page.url.startswith(f"{live_server.url}/")
    page.goto(f"{live_server.url}/account/")
    assert "/login/" in page.url  # signed out of the portal
    assert off_loopback == []
