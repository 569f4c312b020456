"""Account journeys in a real browser (Debian's chromium through Playwright): registration
and its confirmation, then the whole request journey; password reset. Mail is read from
the outbox folder as an operator of the embedded default would."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from tests.factories import register_real_dss_plate
from tests.test_browser import (  # noqa: F401  (browser, page: fixtures)
    browser,
    page,
    plate_finder_journey,
    request_journey,
    shoot,
)

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
    settings.EMAIL_BACKEND = "dssportal.infra.outbox.OutboxEmailBackend"
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


def mail_link(message: email.message.EmailMessage, path: str) -> str:
    body = message.get_body(preferencelist=("plain",)).get_content()
    link = re.search(rf"http://\S+{path}\S+/", body)
    assert link, body
    return link.group(0)


def test_a_new_user_registers_confirms_and_goes_through_the_whole_journey(
    page: Page,  # noqa: F811
    live_server,
    settings,
    tmp_path: Path,
    monkeypatch,
) -> None:
    settings.EMAIL_BACKEND = "dssportal.infra.outbox.OutboxEmailBackend"
    settings.OUTBOX_DIR = outbox = tmp_path / "outbox"
    settings.DSSPORTAL_PUBLIC_URL = live_server.url
    register_real_dss_plate()
    # The test plays the worker (see request_journey).
    monkeypatch.setattr("extraction.services.queue.enqueue_field", lambda field_id, **_: None)
    base = live_server.url

    page.goto(f"{base}/")
    page.click("nav >> text=register")
    page.fill("#id_username", "leavitt")
    page.fill("#id_first_name", "Henrietta")
    page.fill("#id_last_name", "Leavitt")
    page.fill("#id_affiliation", "Harvard College Observatory")
    page.fill("#id_email", "henrietta@example.org")
    page.fill("#id_password", NEW_PASSWORD)
    page.fill("#id_password_again", NEW_PASSWORD)
    shoot(page, "register-form")
    page.click("#register-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Check your mail")
    user = User.objects.get(username="leavitt")
    assert (user.first_name, user.last_name, user.is_active) == ("Henrietta", "Leavitt", False)
    assert user.affiliation == "Harvard College Observatory"

    # Logging in before confirming says so, with a link to send the mail again.
    log_in(page, base, "leavitt", NEW_PASSWORD)
    alert = page.locator("[role=alert]")
    expect(alert).to_contain_text("Please confirm your address first")
    expect(alert).to_contain_text("henrietta@example.org")
    shoot(page, "login-before-confirming")
    page.click("#resend-link")
    expect(page.locator("#id_email")).to_have_value("henrietta@example.org")
    page.click("#resend-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Check your mail")

    first, again = outbox_messages(outbox)
    assert first["To"] == again["To"] == "henrietta@example.org"
    assert first["Subject"] == "Confirm your address for the DSS archive"
    assert "Hello leavitt," in again.get_body(preferencelist=("plain",)).get_content()
    page.goto(mail_link(again, "/confirm/"))
    # Opening the link asks first (a GET changes nothing); the button confirms.
    expect(page.locator("h1")).to_have_text("Confirm your address")
    page.get_by_role("button", name="Confirm henrietta@example.org for leavitt").click()
    expect(page.locator("h1")).to_have_text("Address confirmed")
    shoot(page, "address-confirmed")

    log_in(page, base, "henrietta@example.org", NEW_PASSWORD)
    expect(page.locator("a.who")).to_have_text("leavitt")
    request_journey(page, base)
    plate_finder_journey(page, base)
