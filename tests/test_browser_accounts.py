"""The password-reset journey in a real browser (Debian's chromium through Playwright), with
the mail read from the outbox folder as an operator of the embedded default would."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.test_browser import browser, page  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OLD_PASSWORD = "correct horse battery"
NEW_PASSWORD = "Andromeda-is-2.5-Mly"


def outbox_messages(outbox: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(outbox.glob("*.eml"))
    ]


def log_in(tab: Page, base: str, login: str, password: str) -> None:
    tab.goto(f"{base}/login/")
    tab.fill("input[name=username]", login)
    tab.fill("input[name=password]", password)
    tab.click("main button[type=submit]")


def test_password_reset_journey(
    page: Page,  # noqa: F811
    live_server,
    make_user,
    settings,
    tmp_path: Path,
) -> None:
    settings.EMAIL_BACKEND = "dssportal.mail.OutboxEmailBackend"
    settings.OUTBOX_DIR = outbox = tmp_path / "outbox"
    settings.DSSPORTAL_PUBLIC_URL = live_server.url
    make_user("bob", "bob@example.org")

    page.goto(f"{live_server.url}/login/")
    page.click("text=Forgot your password?")
    page.fill("input[name=email]", "bob@example.org")
    page.click("#password-reset-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Check your mail")
    page.screenshot(path=str(tmp_path / "reset-requested.png"))

    (message,) = outbox_messages(outbox)
    assert message["To"] == "bob@example.org"
    body = message.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"http://\S+/password/reset/\S+/", body)
    assert link, body

    page.goto(link.group(0))
    expect(page.locator("h1")).to_have_text("Set a new password")
    page.fill("input[name=new_password1]", NEW_PASSWORD)
    page.fill("input[name=new_password2]", NEW_PASSWORD)
    page.click("#set-password-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Password set")

    # The link works once.
    page.goto(link.group(0))
    expect(page.locator("h1")).to_have_text("This link cannot be used")

    log_in(page, live_server.url, "bob@example.org", OLD_PASSWORD)
    expect(page.locator("main")).to_contain_text("Please enter a correct username")
    log_in(page, live_server.url, "bob@example.org", NEW_PASSWORD)
    expect(page.locator("a.who")).to_have_text("bob")
    page.screenshot(path=str(tmp_path / "logged-in-after-reset.png"))
