"""Account and log-in defences (issue 12, items 11-13 and 15) on the web and the API, and the
account pages of issue 14 (confirm first, resend, password reset and change).

Web logins go through the real log-in page, API logins through HTTP Basic on /api/requests;
both end in the one throttled password check of accounts/backends.py.
"""

from __future__ import annotations

import base64
import html
import importlib
import json
import math
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import SESSION_KEY, authenticate
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_q.models import Schedule

from accounts.models import EmailAddress, ThrottleCounter, User
from accounts.tasks import prune_throttle_counters
from accounts.throttle import LoginThrottled

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
NEW_PASSWORD = "Andromeda-is-2.5-Mly"


def web_login(client: Client, login: str, password: str = PASSWORD):
    return client.post(reverse("login"), {"username": login, "password": password})


def logged_in(client: Client) -> bool:
    return SESSION_KEY in client.session


def api_status(client: Client, login: str, password: str = PASSWORD) -> int:
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    response = client.post(
        "/api/requests",
        data=json.dumps({"text": ""}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {token}",
    )
    return response.status_code


def register(client: Client, username: str, email: str, **extra: str):
    data = {
        "username": username,
        "email": email,
        "first_name": "Bob",
        "last_name": "Builder",
        "affiliation": "Example Observatory",
        "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD,
        **extra,
    }
    return client.post(reverse("register"), data)


def confirmation_path(message) -> str:
    match = re.search(r"https?://[^/\s]+(/confirm/\S+/)", message.body)
    assert match, message.body
    return match.group(1)


# --- item 11: an address as username ----------------------------------------------------------


def test_an_address_as_username_must_be_the_registrants_own_address(client, make_user) -> None:
    make_user("bob", "bob@example.org")
    page = register(client, "bob@example.org", "mallory@example.net").content.decode()
    assert "must be the address you register with" in page
    assert not User.objects.filter(username__iexact="bob@example.org").exists()
    # With bob's address itself: the neutral answer, no account, and bob is told.
    page = register(client, "bob@example.org", "bob@example.org").content.decode()
    assert "Check your mail" in page
    assert not User.objects.filter(username__iexact="bob@example.org").exists()
    assert mail.outbox[-1].to == ["bob@example.org"] and "'bob'" in mail.outbox[-1].body
    web_login(client, "bob@example.org")
    assert logged_in(client)


def test_a_username_that_is_someone_elses_address_does_not_shadow_their_login(
    client, make_user
) -> None:
    bob = make_user("bob", "bob@example.org")
    # An account named after bob's address (as the old registration allowed), never confirmed.
    User.objects.create_user("bob@example.org", "mallory@example.net", "mallory's password")
    web_login(client, "bob@example.org")
    assert logged_in(client) and client.session[SESSION_KEY] == str(bob.pk)
    assert api_status(Client(), "bob@example.org") not in (401, 429)
    assert api_status(Client(), "bob@example.org", "mallory's password") == 401


# --- item 12: confirmation links and closed accounts -------------------------------------------


@pytest.mark.parametrize("logged_in_before", [False, True])
def test_the_old_confirmation_link_does_not_reopen_a_closed_account(
    client, logged_in_before
) -> None:
    register(client, "bob", "bob@example.org")
    link = confirmation_path(mail.outbox[-1])
    assert client.post(link).status_code == 200
    user = User.objects.get(username="bob")
    assert user.is_active
    if logged_in_before:
        assert client.login(username="bob", password=NEW_PASSWORD)
        client.logout()
    user.is_active = False  # staff close the account
    user.save(update_fields=["is_active"])
    page = client.post(link).content.decode()
    user.refresh_from_db()
    assert not user.is_active
    assert "Account closed" in page and "does not reopen" in page
    page = web_login(client, "bob", NEW_PASSWORD).content.decode()
    assert not logged_in(client) and "This account is closed" in page


# --- item 13: throttled log-ins ----------------------------------------------------------------


def test_a_hundred_wrong_web_passwords_then_the_right_one_is_refused(
    client, make_user, frozen_clock
) -> None:
    make_user("bob", "bob@example.org")
    for _ in range(100):
        web_login(client, "bob", "wrong")
    page = web_login(client, "bob").content.decode()
    assert not logged_in(client)
    assert "Too many failed log-ins" in page
    # Through the address, and on the API, the same account is held back too.
    elsewhere = Client(REMOTE_ADDR="192.0.2.9")
    web_login(elsewhere, "bob@example.org")
    assert not logged_in(elsewhere)
    assert api_status(Client(REMOTE_ADDR="192.0.2.10"), "bob@example.org") == 429
    # Once the delay is over, the right password works.
    frozen_clock.advance(3600)
    web_login(client, "bob")
    assert logged_in(client)


def test_the_delay_grows_with_each_failure(make_user, frozen_clock) -> None:
    make_user("bob", "bob@example.org")
    for _ in range(5):  # the free failures
        assert authenticate(None, username="bob", password="wrong") is None
    waits = []
    for _ in range(5):
        with pytest.raises(LoginThrottled) as refused:
            authenticate(None, username="bob", password=PASSWORD)
        waits.append(refused.value.retry_after_s)
        # Wait out the delay, then fail once more.
        frozen_clock.advance(refused.value.retry_after_s)
        assert authenticate(None, username="bob", password="wrong") is None
    assert waits == [1, 2, 4, 8, 16]


def test_failures_per_address_hold_back_guesses_at_many_accounts(
    client, make_user, frozen_clock
) -> None:
    users = [make_user() for _ in range(25)]
    for user in users[:20]:
        web_login(client, user.username, "wrong")
    page = web_login(client, users[20].username).content.decode()
    assert not logged_in(client) and "Too many failed log-ins" in page
    # Another address is not affected.
    other = Client(REMOTE_ADDR="198.51.100.4")
    web_login(other, users[21].username)
    assert logged_in(other)


def test_a_success_clears_the_account_but_not_the_address(make_user) -> None:
    make_user("bob", "bob@example.org")
    for _ in range(4):
        authenticate(None, username="bob", password="wrong", remote_address="192.0.2.1")
    assert authenticate(None, username="bob", password=PASSWORD, remote_address="192.0.2.1")
    assert ThrottleCounter.objects.get(key__startswith="user:").count == 0
    assert ThrottleCounter.objects.get(key="ip:192.0.2.1").count == 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_url_for_subprocess(tmp_path: Path) -> str:
    """A URL another process can open onto this test's (committed) database: the PostgreSQL
    test database itself, or a file copy of the in-memory SQLite one."""
    settings_dict = connection.settings_dict
    if connection.vendor == "postgresql":
        user, host = settings_dict["USER"] or "postgres", settings_dict["HOST"] or "127.0.0.1"
        return f"postgres://{user}@{host}:{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    path = tmp_path / "portal.sqlite3"
    connection.ensure_connection()
    with sqlite3.connect(path) as copy:
        connection.connection.backup(copy)
    return f"sqlite:///{path}"


def _account_failures(database_url: str, key: str) -> int:
    """The failure count the server processes wrote for ``key``."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            row = db.execute(
                "SELECT count FROM accounts_throttlecounter WHERE key = ?", (key,)
            ).fetchone()
        return int(row[0])
    return ThrottleCounter.objects.get(key=key).count


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited"
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gunicorn did not answer within 60 s")


@pytest.mark.django_db(transaction=True)
def test_parallel_api_guesses_across_gunicorn_workers_are_bounded(tmp_path, make_user) -> None:
    """Forty guesses in parallel over three gunicorn worker processes (the real password
    hasher): only the free failures (and one more per delay that passed) reach the password
    check, and each of them is counted exactly once."""
    bob = make_user("bob", "bob@example.org")
    # Hashed as production hashes it, so that the server really checks the password.
    bob.password = PBKDF2PasswordHasher().encode("the right one", PBKDF2PasswordHasher().salt())
    bob.save(update_fields=["password"])
    port = _free_port()
    database_url = _database_url_for_subprocess(tmp_path)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dssportal.settings",
        "DEBUG": "1",
        "DATABASE_URL": database_url,
        "DSSPORTAL_DATA_DIR": str(tmp_path / "data"),
    }
    gunicorn = [sys.executable, "-m", "gunicorn", "dssportal.wsgi", "-w", "3", "--preload"]
    process = subprocess.Popen(
        [*gunicorn, "-b", f"127.0.0.1:{port}", "--log-level", "warning", "--graceful-timeout", "1"],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)

        def attempt(password: str) -> int:
            token = base64.b64encode(f"bob:{password}".encode()).decode()
            request = urllib.request.Request(
                f"{url}/api/requests",
                data=b'{"text": ""}',
                headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return int(response.status)
            except urllib.error.HTTPError as exc:
                return exc.code

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(pool.map(attempt, [f"guess{i}" for i in range(40)]))
        elapsed = time.monotonic() - started
        checked = statuses.count(401)
        assert checked + statuses.count(429) == 40, statuses
        # The 5 free failures, then one more each time a delay (1, 2, 4, ... s) has passed.
        assert 5 <= checked <= 6 + math.log2(1 + elapsed), (statuses, elapsed)
        # Every attempt that reached the password check was counted exactly once, across
        # processes (the right password then waits too; the frozen-clock tests show that).
        assert _account_failures(database_url, f"user:{bob.pk}") == checked
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


# --- item 15: registration abuse and lookalike names ---------------------------------------------


def test_registrations_are_limited_per_client_address(client, settings) -> None:
    settings.DSSPORTAL_REGISTRATIONS_PER_ADDRESS_PER_HOUR = 5
    for n in range(5):
        assert (
            "Check your mail" in register(client, f"user{n}", f"u{n}@example.net").content.decode()
        )
    page = register(client, "user5", "u5@example.net").content.decode()
    assert "Too many registrations from your network" in page
    assert len(mail.outbox) == 5 and User.objects.count() == 5
    elsewhere = Client(REMOTE_ADDR="203.0.113.5")
    assert "Check your mail" in register(elsewhere, "user5", "u5@example.net").content.decode()


def test_registrations_are_limited_in_all(settings) -> None:
    settings.DSSPORTAL_REGISTRATIONS_PER_HOUR = 3
    pages = [
        register(Client(REMOTE_ADDR=f"203.0.113.{n}"), f"user{n}", f"u{n}@example.net")
        for n in range(4)
    ]
    assert "unusually many registrations" in pages[-1].content.decode()
    assert len(mail.outbox) == 3


def test_one_address_gets_a_bounded_number_of_mails(settings) -> None:
    settings.DSSPORTAL_MAILS_PER_RECIPIENT_PER_DAY = 2
    for n in range(4):
        register(Client(REMOTE_ADDR=f"203.0.113.{n}"), f"user{n}", "victim@example.net")
    assert len([m for m in mail.outbox if m.to == ["victim@example.net"]]) == 2


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("\u0430lice", "mixes Cyrillic and Latin letters"),  # Cyrillic a + "lice"
        ("b\u03bfb", "mixes Greek and Latin letters"),  # Greek omicron
        ("\u0441\u043e\u0440\u0435", "looks like the existing username 'cope'"),  # Cyrillic
    ],
)
def test_lookalike_usernames_are_refused(client, make_user, username, message) -> None:
    make_user("cope", "cope@example.org")
    page = html.unescape(register(client, username, "new@example.net").content.decode())
    assert message in page
    assert User.objects.count() == 1 and not mail.outbox


@pytest.mark.parametrize(
    ("username", "existing"),
    [
        ("\u03c4\u03bf\u03b3", "toy"),  # Greek tau, omicron, gamma
        ("\u050d\u043e\u0433\u0435", "gore"),  # Cyrillic komi sje, o, ghe, ie
        ("\u0412\u041e\u0422", "bot"),  # Cyrillic capitals: VE, O, TE
        ("\u0432\u043e\u0442", "bot"),  # the same in lower case (Unicode: ve is small-cap B)
        ("\u0392\u0395\u03a4\u0391", "beta"),  # Greek capitals BETA, EPSILON, TAU, ALPHA
    ],
)
def test_names_in_another_script_that_read_as_an_existing_name_are_refused(
    client, make_user, username, existing
) -> None:
    """Lookalikes come from Unicode's confusables data (the confusable_homoglyphs package):
    gamma for y, komi sje for g and ghe for r were in no hand-written table."""
    make_user(existing, f"{existing}@example.org")
    page = html.unescape(register(client, username, "new@example.net").content.decode())
    assert f"looks like the existing username {existing!r}" in page
    assert User.objects.count() == 1 and not mail.outbox


def test_a_name_in_another_script_that_reads_as_no_existing_name_is_taken(client) -> None:
    page = html.unescape(
        register(client, "\u0431\u043e\u0440\u0438\u0441", "b@example.net").content.decode()
    )
    assert "Check your mail" in page
    assert User.objects.filter(username="\u0431\u043e\u0440\u0438\u0441").exists()


def test_usernames_are_nfkc_normalised_and_japanese_names_pass(client, make_user) -> None:
    make_user("alice", "alice@example.org")
    page = register(client, "\uff41\uff4c\uff49\uff43\uff45", "a2@example.net").content.decode()
    page = html.unescape(page)
    assert "A user named 'alice' already exists" in page
    register(client, "\u5c71\u7530taro", "taro@example.net")
    assert User.objects.filter(username="\u5c71\u7530taro").exists()


# --- issue 14: confirm first, resend, password reset and change ----------------------------------


def test_logging_in_before_confirming_says_so(client) -> None:
    register(client, "bob", "bob@example.org")
    page = web_login(client, "bob", NEW_PASSWORD).content.decode()
    assert "Please confirm your address first" in page and "bob@example.org" in page
    # A wrong password learns nothing about the account.
    page = web_login(client, "bob", "wrong").content.decode()
    assert "confirm" not in page.split("<form", 1)[1].split("</form>", 1)[0].lower()


def test_the_confirmation_link_can_be_sent_again(client) -> None:
    register(client, "bob", "bob@example.org")
    resend = reverse("resend-confirmation")
    known = client.post(resend, {"email": "BOB@example.org"}).content.decode()
    unknown = client.post(resend, {"email": "nobody@example.org"}).content.decode()
    assert known.replace("BOB@example.org", "X") == unknown.replace("nobody@example.org", "X")
    assert [m.to for m in mail.outbox] == [["bob@example.org"], ["bob@example.org"]]
    client.post(confirmation_path(mail.outbox[-1]))
    assert User.objects.get(username="bob").is_active


def test_password_reset_by_any_confirmed_address_ends_the_delay(
    client, make_user, settings
) -> None:
    settings.DSSPORTAL_PUBLIC_URL = "https://dss.example.org"
    settings.ALLOWED_HOSTS = ["*"]  # even then, the Host header does not make the link
    bob = make_user("bob", "bob@example.org")
    EmailAddress.objects.create(user=bob, email="bob@work.example", verified=True)
    for _ in range(8):
        web_login(client, "bob", "wrong")
    response = client.post(
        reverse("password_reset"),
        {"email": "BOB@work.example"},
        follow=True,
        HTTP_HOST="evil.example",
    )
    assert "Check your mail" in response.content.decode()
    unknown = client.post(reverse("password_reset"), {"email": "x@example.org"}, follow=True)
    assert unknown.status_code == 200 and len(mail.outbox) == 1
    (message,) = mail.outbox
    assert message.to == ["bob@example.org"]
    # The configured public address, whatever Host header the request came with.
    assert "https://dss.example.org/password/reset/" in message.body
    link = re.search(r"https?://[^/\s]+(/password/reset/\S+/)", message.body).group(1)
    form = client.get(link, follow=True)
    assert "Set a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else link,
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert "Password set" in done.content.decode()
    fresh = Client(REMOTE_ADDR="192.0.2.50")
    web_login(fresh, "bob", NEW_PASSWORD)
    assert logged_in(fresh)


def test_password_change(client, make_user) -> None:
    bob = make_user("bob", "bob@example.org")
    client.force_login(bob)
    assert "Change your password" in client.get(reverse("account")).content.decode()
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert "Password changed" in response.content.decode()
    bob.refresh_from_db()
    assert bob.check_password(NEW_PASSWORD)


def test_idle_counters_are_pruned_by_the_daily_task(make_user, frozen_clock) -> None:
    make_user("bob", "bob@example.org")
    authenticate(None, username="bob", password="wrong", remote_address="192.0.2.1")
    assert prune_throttle_counters() == "deleted 0 idle throttle counters"
    frozen_clock.advance(3 * 86400)
    assert prune_throttle_counters() == "deleted 2 idle throttle counters"
    assert not ThrottleCounter.objects.exists()
    # The schedule comes from a data migration; an earlier test that flushed the database
    # may have removed its row, so the migration's function runs again here (idempotent).
    migration = importlib.import_module("accounts.migrations.0003_prune_schedule")
    migration.create_schedule(django_apps, None)
    migration.create_schedule(django_apps, None)
    (schedule,) = Schedule.objects.filter(func="accounts.tasks.prune_throttle_counters")
    assert schedule.schedule_type == "D" and schedule.repeats == -1


def test_the_admin_log_in_is_throttled_with_a_message(client, staff_user, frozen_clock) -> None:
    url = reverse("admin:login")
    for _ in range(5):
        client.post(url, {"username": "operator", "password": "wrong"})
    response = client.post(url, {"username": "operator", "password": PASSWORD})
    assert response.status_code == 200 and "Too many failed log-ins" in response.content.decode()
    assert not logged_in(client)
