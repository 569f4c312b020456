"""App passwords: made on the account page or by ``manage.py app_password``, shown once,
stored as Django password hashes, accepted by FTP (a real pyftpdlib server on loopback) and
the API's HTTP Basic, never by the log-in page; revoked by the owner or by staff."""

from __future__ import annotations

import base64
import ftplib
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import identify_hasher
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.apppasswords import app_password_create, app_password_revoke
from accounts.models import AppPassword, OidcIdentity, User
from accounts.throttle import LoginThrottled
from extraction.ftp.server import ftp_server_build
from tests.ftp_serving import served

pytestmark = pytest.mark.django_db(transaction=True)

APP_PASSWORD = re.compile(r"dssapp-[A-Za-z0-9]{8}-[A-Za-z0-9]{32}")


@pytest.fixture(autouse=True)
def private_staging(settings, tmp_path: Path) -> None:
    settings.STAGING_DIR = tmp_path / "staging"
    settings.STAGING_DIR.mkdir()


@pytest.fixture
def sso_user(db: None) -> User:
    """A user who signs in through the provider: no local password."""
    user = User.objects.create(username="vera@example.edu", email="vera@example.edu")
    user.set_unusable_password()
    user.save()
    user.addresses.create(email="vera@example.edu", verified=True, primary=True)
    OidcIdentity.objects.create(user=user, issuer="http://idp.test", subject="s-vera")
    return user


@pytest.fixture
def ftp_login() -> Iterator[Callable[[str, str], ftplib.FTP]]:
    clients: list[ftplib.FTP] = []
    with served(ftp_server_build(host="127.0.0.1", port=0, auth_failed_delay=0.05)) as server:

        def login(user: str, password: str) -> ftplib.FTP:
            client = ftplib.FTP()
            clients.append(client)
            client.connect(*server.address, timeout=10)
            client.login(user, password)
            return client

        yield login
        for client in clients:
            client.close()


def made_on_the_account_page(browser: Client, label: str) -> str:
    made = browser.post("/account/app-passwords/", {"label": label})
    assert made.status_code == 302 and made["Location"] == "/account/app-passwords/new"
    response = browser.get(made["Location"])
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    match = APP_PASSWORD.search(response.content.decode())
    assert match, response.content.decode()
    # Shown once: a reload shows it no more and makes no second one.
    again = browser.get(made["Location"], follow=True).content.decode()
    assert match.group(0) not in again and "shown only once" in again
    return match.group(0)


def test_made_on_the_account_page_shown_once_and_stored_hashed(sso_user: User) -> None:
    browser = Client()
    browser.force_login(sso_user)
    page = browser.get("/account/").content.decode()
    assert "You sign in through your institute and have no password here" in page
    raw = made_on_the_account_page(browser, "  FileZilla   at home ")
    row = AppPassword.objects.get(user=sso_user)
    assert row.label == "FileZilla at home"
    assert raw not in row.password_hash and row.public_id in raw
    assert identify_hasher(row.password_hash).algorithm  # a Django password hash
    page = browser.get("/account/").content.decode()
    assert "FileZilla at home" in page and "never" in page
    assert raw not in page  # shown once only
    assert browser.post("/account/app-passwords/", {"label": "  "}).status_code == 302
    assert AppPassword.objects.count() == 1


def test_ftp_accepts_a_live_app_password_and_refuses_a_revoked_one(
    sso_user: User, ftp_login: Callable[[str, str], ftplib.FTP]
) -> None:
    browser = Client()
    browser.force_login(sso_user)
    raw = made_on_the_account_page(browser, "FileZilla")
    session = ftp_login("vera@example.edu", raw)
    assert session.pwd() == "/"
    assert session.nlst() == []
    assert AppPassword.objects.get().last_used_at is not None
    page = browser.get("/account/").content.decode()
    assert re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d</td>\s*<td><form", page), page

    row = AppPassword.objects.get()
    response = browser.post(f"/account/app-passwords/{row.pk}/revoke")
    assert response.status_code == 302
    with pytest.raises(ftplib.error_perm, match="530"):
        ftp_login("vera@example.edu", raw)
    # Someone else's revoke URL changes nothing of theirs.
    other_raw = app_password_create(user=sso_user, label="script")[1]
    intruder = User.objects.create_user("eve", "eve@example.org", "pw-123456789")
    other = Client()
    other.force_login(intruder)
    other_row = AppPassword.objects.get(label="script")
    other.post(f"/account/app-passwords/{other_row.pk}/revoke")
    assert ftp_login("vera@example.edu", other_raw).pwd() == "/"


def test_ftp_refuses_an_app_password_of_another_user_and_a_forged_one(
    sso_user: User, ftp_login: Callable[[str, str], ftplib.FTP]
) -> None:
    bob = User.objects.create_user("bob", "bob@example.org", "pw-123456789")
    _, bobs = app_password_create(user=bob, label="ftp")
    with pytest.raises(ftplib.error_perm, match="530"):
        ftp_login("vera@example.edu", bobs)
    _, veras = app_password_create(user=sso_user, label="ftp")
    forged = veras[:-1] + ("a" if veras[-1] != "a" else "b")
    with pytest.raises(ftplib.error_perm, match="530"):
        ftp_login("vera@example.edu", forged)


def test_api_basic_accepts_app_passwords_the_log_in_page_does_not(sso_user: User) -> None:
    _, raw = app_password_create(user=sso_user, label="curl")
    basic = base64.b64encode(f"vera@example.edu:{raw}".encode()).decode()
    response = Client().get("/api/requests", HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 200, response.content
    page = Client().post("/login/", {"username": "vera@example.edu", "password": raw})
    assert page.status_code == 200 and "_auth_user_id" not in page.wsgi_request.session

    assert app_password_revoke(user=sso_user, app_password_id=AppPassword.objects.get().pk)
    response = Client().get("/api/requests", HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 401


def test_manage_py_app_password_prints_a_working_password(
    sso_user: User, ftp_login: Callable[[str, str], ftplib.FTP]
) -> None:
    out = io.StringIO()
    call_command("app_password", "vera@example.edu", "backup script", stdout=out)
    raw = out.getvalue().strip()
    assert APP_PASSWORD.fullmatch(raw)
    assert AppPassword.objects.get().label == "backup script"
    assert ftp_login("vera@example.edu", raw).pwd() == "/"
    with pytest.raises(CommandError, match="no user named"):
        call_command("app_password", "nobody", "x", stdout=io.StringIO())


def test_admin_shows_provider_users_their_subject_and_revokes_app_passwords(
    sso_user: User, staff_user: User
) -> None:
    _, raw = app_password_create(user=sso_user, label="laptop")
    admin = Client()
    admin.force_login(staff_user)
    listing = admin.get("/admin/accounts/user/?oidc=yes").content.decode()
    assert "vera@example.edu" in listing and "s-vera" in listing
    assert "operator" not in re.sub(r"<header.*?</header>", "", listing, flags=re.S)
    change = admin.get(f"/admin/accounts/user/{sso_user.pk}/change/").content.decode()
    assert "subject s-vera at http://idp.test" in change and "1 live (list, revoke)" in change
    mine = admin.get(f"/admin/accounts/apppassword/?user__id__exact={sso_user.pk}")
    assert mine.status_code == 200 and "laptop" in mine.content.decode()
    links = admin.get(f"/admin/accounts/oidcidentity/?user__id__exact={sso_user.pk}")
    assert links.status_code == 200 and "s-vera" in links.content.decode()

    row = AppPassword.objects.get()
    response = admin.post(
        "/admin/accounts/apppassword/",
        {"action": "revoke", "_selected_action": [row.pk]},
        follow=True,
    )
    assert "1 app password(s) revoked." in response.content.decode()
    row.refresh_from_db()
    assert row.revoked_at is not None
    basic = base64.b64encode(f"vera@example.edu:{raw}".encode()).decode()
    assert Client().get("/api/requests", HTTP_AUTHORIZATION=f"Basic {basic}").status_code == 401


def test_wrong_app_passwords_count_as_failed_log_ins(sso_user: User, settings) -> None:
    settings.DSSPORTAL_LOGIN_FREE_FAILURES_PER_ACCOUNT = 2
    _, raw = app_password_create(user=sso_user, label="ftp")
    for _attempt in range(2):
        assert (
            authenticate(
                None,
                username="vera@example.edu",
                password=raw[:-1] + "!",
                remote_address="192.0.2.7",
                allow_app_password=True,
            )
            is None
        )
    with pytest.raises(LoginThrottled):
        authenticate(
            None,
            username="vera@example.edu",
            password=raw,
            remote_address="192.0.2.7",
            allow_app_password=True,
        )
