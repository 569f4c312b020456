"""Issue 24 items 4 and 7: strangers cannot lock a user out, spend their reset mails, learn
or squat their addresses. Web logins through the log-in page, API ones through HTTP Basic,
FTP ones through the FTP server: all end in the one throttled check."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.test_login_defences import api_status, logged_in, register, web_login

pytestmark = pytest.mark.django_db

HOME = "192.0.2.1"


def stranger(n: int) -> Client:
    return Client(REMOTE_ADDR=f"203.0.113.{n}")


def test_strangers_failures_do_not_delay_the_owner_at_a_known_address(make_user, frozen_clock):
    make_user("bob", "bob@example.org")
    home = Client(REMOTE_ADDR=HOME)
    web_login(home, "bob")
    assert logged_in(home)
    for n in range(10):  # five free failures, then one each time the delay ends
        frozen_clock.advance(2**n)
        web_login(stranger(n), "bob", "wrong")
    again = Client(REMOTE_ADDR=HOME)
    web_login(again, "bob")
    assert logged_in(again)
    assert api_status(Client(REMOTE_ADDR=HOME), "bob@example.org") != 429
    # The stranger stays held back; so does a right password from an address never used.
    assert "Too many failed log-ins" in web_login(stranger(99), "bob").content.decode()
    assert api_status(Client(REMOTE_ADDR="198.51.100.7"), "bob") == 429


def test_guesses_from_a_known_address_are_still_throttled(make_user, frozen_clock):
    make_user("bob", "bob@example.org")
    web_login(Client(REMOTE_ADDR=HOME), "bob")
    shared = Client(REMOTE_ADDR=HOME)  # another person behind the same address
    for _ in range(5):
        web_login(shared, "bob", "wrong")
    assert "Too many failed log-ins" in web_login(shared, "bob", "wrong").content.decode()


def reset(client: Client, email: str) -> str:
    return client.post(reverse("password_reset"), {"email": email}, follow=True).content.decode()


def test_registrations_of_others_do_not_spend_the_owners_reset_mails(make_user, settings):
    make_user("bob", "bob@example.org")
    for n in range(5):
        register(stranger(n), f"squat{n}", "bob@example.org")
    notices = len(mail.outbox)
    assert "Check your mail" in reset(Client(REMOTE_ADDR="198.51.100.7"), "bob@example.org")
    assert len(mail.outbox) == notices + 1 and "/password/reset/" in mail.outbox[-1].body


def test_reset_requests_from_many_addresses_never_stop_another_users_reset(make_user, settings):
    make_user("bob", "bob@example.org")
    for n in range(60):
        reset(stranger(n % 12), f"nobody{n}@example.net")
    assert "Check your mail" in reset(Client(REMOTE_ADDR="198.51.100.7"), "bob@example.org")
    assert mail.outbox[-1].to == ["bob@example.org"]


def test_the_owner_at_a_known_address_gets_a_reset_when_strangers_spent_the_budget(make_user):
    make_user("bob", "bob@example.org")
    web_login(Client(REMOTE_ADDR=HOME), "bob")
    for n in range(5):
        reset(stranger(n), "bob@example.org")  # five reset links mailed to bob
    assert "already sent" in reset(stranger(7), "bob@example.org")
    assert "Check your mail" in reset(Client(REMOTE_ADDR=HOME), "bob@example.org")
    assert len([m for m in mail.outbox if m.to == ["bob@example.org"]]) == 6
