"""Issue 24 items 4 and 7: strangers cannot lock a user out, spend their reset mails, learn
or squat their addresses. Web logins through the log-in page, API ones through HTTP Basic,
FTP ones through the FTP server: all end in the one throttled check."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.selectors import user_for_sender
from tests.test_login_defences import (
    api_status,
    confirmation_path,
    logged_in,
    register,
    web_login,
)

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


# -- item 7: addresses cannot be enumerated or squatted ---------------------------------------


def add_address(client: Client, email: str) -> str:
    """The page the account form answers with, its CSRF tokens blanked."""
    page = client.post(reverse("account"), {"email": email}, follow=True).content.decode()
    return re.sub(r'value="[A-Za-z0-9]{64}"', 'value=""', page)


def test_adding_an_address_never_says_whose_it_is(client, make_user):
    make_user("bob", "bob@example.org")
    client.force_login(make_user("mallory", "mallory@example.net"))
    taken = add_address(client, "bob@example.org")
    other = Client()
    other.force_login(make_user("trudy", "trudy@example.net"))
    free = add_address(other, "nobody@example.org")
    assert "already registered" not in taken
    assert re.sub(r"bob@example.org|mallory", "X", taken) == re.sub(
        r"nobody@example.org|trudy", "X", free
    )
    notice, confirmation = mail.outbox
    # bob is told, without any link that would change something; the free address gets one.
    assert notice.to == ["bob@example.org"] and "/confirm/" not in notice.body
    assert "nothing was changed" in " ".join(notice.body.split())
    assert confirmation.to == ["nobody@example.org"] and "/confirm/" in confirmation.body


def test_an_unconfirmed_claim_does_not_block_the_owners_registration(make_user):
    mallory = make_user("mallory", "mallory@example.net")
    squatter = Client()
    squatter.force_login(mallory)
    add_address(squatter, "carol@example.org")
    notice_link = confirmation_path(mail.outbox[-1])  # mailed to carol: mallory's claim
    register(Client(REMOTE_ADDR=HOME), "carol", "carol@example.org")
    (own,) = [m for m in mail.outbox[1:] if m.to == ["carol@example.org"]]
    assert "Hello carol" in own.body
    owner = Client()
    page = " ".join(owner.get(confirmation_path(own)).content.decode().split())
    assert "for the account <strong>carol</strong>" in page
    owner.post(confirmation_path(own))
    carol = User.objects.get(username="carol")
    assert carol.is_active and user_for_sender("carol@example.org") == carol
    # mallory's claim is gone; its old link attaches nothing to mallory.
    assert not mallory.addresses.filter(email="carol@example.org").exists()
    assert owner.post(notice_link).status_code == 400
    assert user_for_sender("carol@example.org") == carol


def test_a_confirmation_link_opened_by_a_mail_scanner_confirms_nothing(make_user):
    mallory = make_user("mallory", "mallory@example.net")
    squatter = Client()
    squatter.force_login(mallory)
    add_address(squatter, "dave@example.org")
    Client().get(confirmation_path(mail.outbox[-1]))  # the scanner follows every link
    assert user_for_sender("dave@example.org") is None


def test_unconfirmed_addresses_per_user_are_capped(client, make_user, settings):
    settings.DSSPORTAL_UNCONFIRMED_ADDRESSES_PER_USER = 3
    mallory = make_user("mallory", "mallory@example.net")
    client.force_login(mallory)
    for n in range(3):
        add_address(client, f"victim{n}@example.org")
    page = add_address(client, "victim9@example.org")
    assert "3 addresses waiting for their confirmation" in page
    assert mallory.addresses.filter(verified=False).count() == 3
