"""The web pages in a real browser: Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from extraction.models import Field
from extraction.services.extraction import field_extract
from tests.factories import register_real_dss_plate

# Playwright's sync API keeps an event loop in this thread; the ORM calls the test makes
# between browser steps are ordinary blocking calls and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Browser:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Page:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def log_in(page: Page, base: str, login: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", login)
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")


def test_submit_a_list_watch_it_progress_and_see_the_preview(
    page: Page, live_server, make_user, monkeypatch
) -> None:
    register_real_dss_plate()
    make_user("humason", "milton@example.org")
    # Let the test play the worker, so the page is seen while the field is still queued.
    monkeypatch.setattr("extraction.tasks.enqueue_field", lambda field_id: None)

    log_in(page, live_server.url, "milton@example.org")
    page.goto(f"{live_server.url}/requests/")
    page.fill(
        "textarea[name=text]",
        "real 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 G\nnot a field line",
    )
    page.click("#request-form button[type=submit]")

    expect(page.locator("#request-status")).to_have_text("queued")
    expect(page.locator(".messages")).to_contain_text("Line 2:")
    expect(page.locator("ul.rejected")).to_contain_text("not a field line")

    field_extract(field_id=Field.objects.get().pk)

    # The page polls the status and reloads by itself once the field has ended.
    expect(page.locator("#request-status")).to_have_text("done", timeout=15_000)
    preview = page.locator("img[alt='preview of real']")
    expect(preview).to_be_visible()
    assert preview.evaluate("img => img.complete && img.naturalWidth") == 35
    link = page.locator("a", has_text="real.fits.gz")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "real.fits.gz"


def test_home_page_shows_the_addresses_and_the_example(page: Page, live_server) -> None:
    page.goto(live_server.url + "/")
    expect(page.locator("h1")).to_contain_text("Digitized Sky Survey")
    expect(page.locator("pre.example")).to_contain_text("N7793")
    expect(page.locator("footer")).to_contain_text("dss-delete@")
