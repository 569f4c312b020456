"""The web pages in a real browser: Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from accounts.models import User
from extraction.models import Request, StagingDirectory
from extraction.services.extraction import field_extract
from extraction.services.requests import request_create_from_text
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


LINE = "real 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 G"
ARTIFACTS = Path(__file__).resolve().parents[1] / "var" / "test-artifacts"


def shoot(page: Page, name: str) -> None:
    """Keep a full-page screenshot as a test artifact (``var/`` is not committed)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def served_request(user_login: str) -> Request:
    """A request of the real DSS plate, extracted in this thread (the test plays the worker)."""
    user = User.objects.get(username=user_login)
    outcome = request_create_from_text(user=user, text=LINE, source="web")
    for field in outcome.request.fields.all():
        field_extract(field_id=field.pk)
    return Request.objects.get(pk=outcome.request.pk)


def test_the_whole_journey_from_the_form_to_the_files(
    page: Page, live_server, make_user, monkeypatch
) -> None:
    register_real_dss_plate()
    make_user("humason", "milton@example.org")
    # Let the test play the worker, so the page is seen while the fields are still queued.
    monkeypatch.setattr("extraction.services.queue.enqueue_field", lambda field_id, **_: None)
    log_in(page, live_server.url, "milton@example.org")
    request_journey(page, live_server.url)


def request_journey(page: Page, base: str) -> None:
    """From the request form to the files, for a user just logged in with no request yet
    (the caller has the real DSS plate registered and field tasks not enqueued)."""
    # A field by object name, resolved offline.
    page.goto(f"{base}/requests/")
    page.fill("#id_f-name", "NGC 253")
    page.locator("#id_f-name").blur()
    expect(page.locator("#name-position")).to_contain_text("00 47 3")
    page.click("button[value=field]")
    expect(page.locator("#fields")).to_contain_text("NGC253")
    expect(page.locator("#fields")).to_contain_text("00 47 3")

    # A field in galactic coordinates: the list line says J2000.
    page.goto(f"{base}/requests/")
    page.fill("#id_f-identifier", "gc")
    page.fill("#id_f-lon", "359.9442")
    page.fill("#id_f-lat", "-0.0462")
    page.select_option("#id_f-frame", "galactic")
    page.click("button[value=field]")
    expect(page.locator("#fields")).to_contain_text("17 45 ")
    expect(page.locator("#fields")).to_contain_text("J2000")
    assert Request.objects.count() == 2

    # A batch with a bad line: shown as typed, refused on sending, mended, then sent.
    page.goto(f"{base}/requests/")
    page.click("button[value=list]")
    expect(page.locator("#line-check")).to_contain_text("The list is empty")
    bad = "real2 14 29 56 -62 75 05 1. 1. J2000 DSS1 e U"
    page.fill("#id_text", f"{LINE}\n{bad}")
    expect(page.locator("#line-check")).to_contain_text("line 2:")
    expect(page.locator("#line-check")).to_contain_text("is not in 0-59")
    page.click("button[value=list]")
    expect(page.locator("#line-check")).to_contain_text("1 valid line(s); 1 line(s) cannot be read")
    assert Request.objects.count() == 2 and page.url.endswith("/requests/")
    assert page.locator("#id_text").input_value() == f"{LINE}\n{bad}"  # kept to mend
    shoot(page, "request-form-bad-line")
    page.fill("#id_text", f"{LINE}\n{bad.replace('-62 75', '-62 41')}")
    expect(page.locator("#line-check")).to_contain_text("2 valid line(s)")
    page.click("button[value=list]")
    expect(page.locator("#request-status")).to_have_text("queued")
    batch = Request.objects.latest("pk")
    assert batch.n_fields == 2 and batch.n_rejected == 0
    shoot(page, "request-queued")

    # Progress to done: the page follows by itself.
    for field in batch.fields.all():
        field_extract(field_id=field.pk)
    expect(page.locator("#request-status")).to_have_text("done", timeout=15_000)
    assert page.locator("#progress-bar").evaluate("p => [p.value, p.max]") == [2, 2]
    expect(page.locator("#progress")).to_have_attribute("aria-live", "polite")

    # Previews as a contact sheet that open full size.
    previews = page.locator(".contact-sheet img")
    expect(previews).to_have_count(2)
    # The preview is made on first view: wait until the browser has it (under load it may
    # still be loading when the element appears), then check its size.
    previews.first.evaluate(
        "img => img.complete ? null : new Promise(done => img.addEventListener('load', done))"
    )
    assert previews.first.evaluate("img => img.complete && img.naturalWidth") == 35
    with page.expect_popup() as popup:
        page.locator(".contact-sheet a").first.click()
    assert popup.value.url.endswith("/preview/real.png")
    popup.value.close()
    shoot(page, "request-done")

    # A file, then the zip of the whole directory.
    with page.expect_download() as download:
        page.locator("a", has_text="real.fits.gz").click()
    assert download.value.suggested_filename == "real.fits.gz"
    staging = batch.staging
    assert (
        Path(download.value.path()).read_bytes()
        == (staging.absolute_path / "real.fits.gz").read_bytes()
    )
    with page.expect_download() as zipped:
        page.click("#zip-link")
    with zipfile.ZipFile(zipped.value.path()) as archive:
        assert sorted(Path(n).name for n in archive.namelist()) == [
            "real.fits.gz",
            "real2.fits",
        ]

    # Delete, with confirmation.
    page.click("#delete-form button[type=submit]")
    assert StagingDirectory.objects.get(pk=staging.pk).deleted_at is None  # box not ticked
    page.check("#delete-form input[name=confirm]")
    page.click("#delete-form button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("was deleted")
    assert StagingDirectory.objects.get(pk=staging.pk).deleted_at is not None
    assert not staging.absolute_path.exists()

    # An uploaded list.
    page.goto(f"{base}/requests/")
    page.set_input_files(
        "#id_upload",
        files=[{"name": "fields.txt", "mimeType": "text/plain", "buffer": f"{LINE}\n".encode()}],
    )
    page.click("button[value=list]")
    expect(page.locator("#request-status")).to_have_text("queued")
    assert Request.objects.latest("pk").fields.get().identifier == "real"


def test_the_plate_finder_lists_and_draws_the_covering_plates(
    page: Page, live_server, make_user
) -> None:
    register_real_dss_plate()
    make_user("humason", "milton@example.org")
    log_in(page, live_server.url, "milton@example.org")
    plate_finder_journey(page, live_server.url)


def plate_finder_journey(page: Page, base: str) -> None:
    """The plate finder, a plate page, and the covering plates offered by the request form
    (for a logged-in user; the real DSS plate registered)."""
    page.click("nav >> text=plates")
    page.fill("#id_lon", "14 29 56")
    page.fill("#id_lat", "-62 41 05")
    page.fill("#id_width", "1")
    page.fill("#id_height", "1")
    page.click("#finder-form button[type=submit]")
    row = page.locator("#plate-0025")
    expect(row).to_contain_text("1976.")  # the epoch of the real plate, rounded
    expect(page.locator("svg.field-map polygon")).to_have_count(2)  # the plate and the field
    shoot(page, "plate-finder")
    row.locator("a").first.click()
    expect(page.locator("h1")).to_have_text("DSS1 plate 0025")

    # The request form offers the covering plates when the user names a plate.
    page.goto(f"{base}/requests/")
    expect(page.locator("#plate-box")).to_be_hidden()
    page.fill("#id_f-lon", "14 29 56")
    page.fill("#id_f-lat", "-62 41 05")
    page.fill("#id_f-width", "1")
    page.fill("#id_f-height", "1")
    page.select_option("#id_f-survey", "DSS1")
    page.select_option("#id_f-mode", "plate")
    expect(page.locator("#plate-offer")).to_contain_text("0025 (whole field")
    assert page.locator("#plate-choices option").evaluate_all("o => o.map(x => x.value)") == [
        "0025"
    ]
    page.fill("#id_f-plate_id", "0025")
    page.click("button[value=field]")
    expect(page.locator("#fields")).to_contain_text("plate 0025")


def test_a_second_user_gets_404_on_every_url_of_the_first(
    page: Page, live_server, make_user
) -> None:
    register_real_dss_plate()
    make_user("humason", "milton@example.org")
    make_user("zwicky", "fritz@example.org")
    first = served_request("humason")
    name = first.staging.name
    urls = [
        f"/requests/{first.pk}/",
        f"/requests/{first.pk}/status.json",
        f"/requests/{first.pk}/preview/real.png",
        f"/staging/{name}/",
        f"/staging/{name}/real.fits.gz",
        f"/staging/{name}.zip",
        f"/staging/{name}/delete",
    ]
    log_in(page, live_server.url, "milton@example.org")
    assert [page.request.get(live_server.url + u).status for u in urls] == [200] * len(urls)
    page.context.clear_cookies()
    log_in(page, live_server.url, "fritz@example.org")
    assert [page.request.get(live_server.url + u).status for u in urls] == [404] * len(urls)


def test_at_390_px_nothing_overflows_and_the_skip_link_comes_first(
    browser: Browser, live_server, make_user, staff_user
) -> None:
    register_real_dss_plate()
    make_user("humason", "milton@example.org")
    request = served_request("humason")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    base = live_server.url
    anonymous = {
        "login": "/login/",
        "register": "/register/",
        "password-reset": "/password/reset/",
        "resend": "/confirm/resend/",
    }
    user_pages = {
        "home": "/",
        "requests": "/requests/",
        "request": f"/requests/{request.pk}/",
        "staging": f"/staging/{request.staging.name}/",
        "delete": f"/staging/{request.staging.name}/delete",
        "plates": "/plates/?lon=14+29+56&lat=-62+41+05&width=5&height=5",
        "plate": "/plates/DSS1/0025/",
        "account": "/account/",
    }
    staff_pages = {
        "admin-plates": "/admin/extraction/plate/",
        "admin-plate": f"/admin/extraction/plate/{request.fields.get().plate_id}/change/",
        "admin-sky-map": "/admin/extraction/plate/sky-map/",
        "admin-requests": "/admin/extraction/request/",
        "admin-request": f"/admin/extraction/request/{request.pk}/change/",
    }
    try:
        check_pages_at_390_px(page, base, anonymous)
        log_in(page, base, "milton@example.org")
        check_pages_at_390_px(page, base, user_pages)
        # Tables of many columns become cards: status, file, edge margin stay in sight.
        for path, cell in [
            (f"/requests/{request.pk}/", "#fields td[data-label=file] a"),
            ("/requests/", "table.requests td[data-label=status]"),
            (user_pages["plates"], "#plate-0025 td[data-label='edge margin']"),
        ]:
            page.goto(base + path)
            box = page.locator(cell).first.bounding_box()
            assert box is not None and box["x"] + box["width"] <= 390, (path, box)
        page.goto(f"{base}/requests/")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
        page.context.clear_cookies()
        log_in(page, base, staff_user.username)
        check_pages_at_390_px(page, base, staff_pages, labels=False)
        # Positions read as sexagesimal, epochs rounded: no raw float in the plate list.
        page.goto(f"{base}/admin/extraction/plate/")
        listed = page.locator("#result_list").inner_text()
        assert re.search(r"\b14 37 46\b", listed) and re.search(r"-60 12 59", listed)
        assert not re.search(r"\d\.\d{4,}", listed), listed
    finally:
        context.close()


def check_pages_at_390_px(page: Page, base: str, pages: dict[str, str], labels: bool = True):
    """Each page fits 390 px (no sideways scrolling of the document) and, on our own pages,
    every form control has a label; a screenshot of each is kept."""
    for label, path in pages.items():
        answer = page.goto(base + path)
        assert answer is not None and answer.status == 200, (label, answer and answer.status)
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        shoot(page, f"390px-{label}")
        assert widths[0] <= widths[1], (label, widths)
        if not labels:
            continue
        unlabelled = page.evaluate(
            """() => Array.from(document.querySelectorAll(
                     'main input, main select, main textarea'))
                 .filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length))
                 .map(e => e.name)"""
        )
        assert unlabelled == [], (label, unlabelled)


def test_home_page_shows_the_addresses_and_the_example(page: Page, live_server) -> None:
    page.goto(live_server.url + "/")
    expect(page.locator("h1")).to_contain_text("Digitized Sky Survey")
    expect(page.locator("pre.example")).to_contain_text("N7793")
    expect(page.locator("footer")).to_contain_text("dss-delete@")


def test_at_desktop_width_names_and_tables_read_as_written(
    page: Page, live_server, make_user
) -> None:
    """File names are never broken mid-word, mode n's plate table keeps its lines, the
    survey choice is shown whole (issue: "m31a.fit s.xz", wrapped plate lists, a cut
    select)."""
    register_real_dss_plate()
    make_user("leavitt", "henrietta@example.org")
    user = User.objects.get(username="leavitt")
    text = (
        "m31a_with_a_long_name 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 X\n"
        "plates 14 29 56 -62 41 05 1. 1. J2000 DSS1 n U"
    )
    outcome = request_create_from_text(user=user, text=text, source="web")
    for field in outcome.request.fields.all():
        field_extract(field_id=field.pk)
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server.url, "henrietta@example.org")
    page.goto(f"{live_server.url}/requests/{outcome.request.pk}/")
    link = page.locator("#fields a[download]", has_text="m31a_with_a_long_name")
    expect(link).to_have_text("m31a_with_a_long_name.fits.xz")
    assert link.evaluate("a => a.getClientRects().length") == 1  # one line, not broken
    table = page.locator("#fields pre.message", has_text="0025").last
    # Each line of the table is one line on the screen: none wraps.
    height, line_height, n_lines = table.evaluate(
        "p => [p.scrollHeight, parseFloat(getComputedStyle(p).lineHeight) || 16,"
        " p.textContent.split('\\n').length]"
    )
    assert height <= (n_lines + 1) * line_height + 24
    page.goto(f"{live_server.url}/requests/")
    select = page.locator("#id_f-survey")
    for value in ("DSS2R", "DSS2I", "DSS1"):
        select.select_option(value)
        # The chosen text, measured in the select's own font, fits beside the arrow.
        fits = select.evaluate(
            "s => { const c = document.createElement('canvas').getContext('2d');"
            " const st = getComputedStyle(s); c.font = `${st.fontSize} ${st.fontFamily}`;"
            " return c.measureText(s.options[s.selectedIndex].text).width + 28 <= s.clientWidth; }"
        )
        assert fits, value
    shoot(page, "desktop-request-form")
