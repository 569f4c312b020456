"""Self-registration with a confirmed address, more sender addresses, and the account page."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.selectors import user_for_sender

pytestmark = pytest.mark.django_db

PASSWORD = "Andromeda-is-2.5-Mly"


def register(client, username: str = "shapley", email: str = "harlow@example.org", **extra):
    data = {
        "username": username,
        "email": email,
        "first_name": "Harlow",
        "last_name": "Shapley",
        "affiliation": "Harvard College Observatory",
        "password": PASSWORD,
        "password_again": PASSWORD,
        **extra,
    }
    return client.post(reverse("register"), data)


def link_in(message) -> str:
    match = re.search(r"https?://\S+/confirm/\S+/", message.body)
    assert match, message.body
    return match.group(0).split("://", 1)[1].split("/", 1)[1]


def test_registration_opens_the_account_only_after_confirmation(client) -> None:
    response = register(client)
    assert response.status_code == 200 and "harlow@example.org" in response.content.decode()
    user = User.objects.get(username="shapley")
    assert not user.is_active
    assert user_for_sender("harlow@example.org") is None
    assert not client.login(username="shapley", password=PASSWORD)
    (message,) = mail.outbox
    assert message.to == ["harlow@example.org"] and "valid for 3 days" in message.body

    asked = client.get("/" + link_in(message))  # a GET (a mail scanner) changes nothing
    assert asked.status_code == 200 and "for the account" in asked.content.decode()
    user.refresh_from_db()
    assert not user.is_active
    confirmed = client.post("/" + link_in(message))
    assert confirmed.status_code == 200 and "Address confirmed" in confirmed.content.decode()
    user.refresh_from_db()
    assert user.is_active
    assert user_for_sender("Harlow@Example.org") == user
    assert client.login(username="harlow@example.org", password=PASSWORD)
    # Opening the link again is harmless.
    assert client.post("/" + link_in(message)).status_code == 200


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"password": "12345678", "password_again": "12345678"}, "too common"),
        ({"password_again": "something else"}, "The two passwords differ"),
        ({"email": "not-an-address"}, "Enter a valid email address"),
        ({"username": "bad name"}, "is not allowed"),
    ],
)
def test_registration_refusals_say_why(client, extra, message) -> None:
    response = register(client, **extra)
    assert message in response.content.decode()
    assert not User.objects.exists() and not mail.outbox


def test_a_taken_address_gets_the_neutral_answer_and_its_owner_a_notice(client, make_user) -> None:
    make_user("hubble", "edwin@example.org")
    taken = register(client, email="EDWIN@example.org").content.decode()
    fresh = register(client, "humason", "milton@example.org").content.decode()
    assert "Check your mail" in taken
    assert taken.replace("EDWIN@example.org", "X") == fresh.replace("milton@example.org", "X")
    notice, confirmation = mail.outbox
    assert notice.to == ["EDWIN@example.org"] and "'hubble'" in notice.body
    assert "/confirm/" not in notice.body and "/password/reset/" in notice.body
    assert confirmation.to == ["milton@example.org"] and "/confirm/" in confirmation.body
    assert not User.objects.filter(username="shapley").exists()


def test_an_unconfirmed_claim_blocks_nobody_and_dies_when_the_owner_confirms(client) -> None:
    register(client, "squatter", "henrietta@example.org")
    squat_link = link_in(mail.outbox[-1])
    register(client, "leavitt", "henrietta@example.org")
    assert User.objects.filter(username="leavitt").exists()
    own_link = link_in(mail.outbox[-1])
    assert own_link != squat_link and "Hello leavitt" in mail.outbox[-1].body
    client.post("/" + own_link)
    leavitt = User.objects.get(username="leavitt")
    assert leavitt.is_active and user_for_sender("henrietta@example.org") == leavitt
    assert leavitt.affiliation == "Harvard College Observatory"
    assert not User.objects.filter(username="squatter").exists()
    refused = client.post("/" + squat_link)
    assert refused.status_code == 400 and user_for_sender("henrietta@example.org") == leavitt


def test_tampered_and_expired_links_are_refused(client, monkeypatch) -> None:
    register(client)
    path = "/" + link_in(mail.outbox[0])
    tampered = client.get(path.replace("/confirm/", "/confirm/x"))
    assert tampered.status_code == 400 and "not valid" in tampered.content.decode()
    later = time.time() + 4 * 86400
    monkeypatch.setattr("django.core.signing.time.time", lambda: later)
    expired = client.get(path)
    assert expired.status_code == 400 and "has expired" in expired.content.decode()
    assert not User.objects.get().is_active


def test_another_address_counts_once_confirmed(client, make_user) -> None:
    user = make_user("baade", "walter@example.org")
    client.force_login(user)
    response = client.post(reverse("account"), {"email": "wbaade@observatory.example"}, follow=True)
    page = response.content.decode()
    assert "waiting for confirmation" in page and "wbaade@observatory.example" in page
    assert user_for_sender("wbaade@observatory.example") is None
    client.post("/" + link_in(mail.outbox[-1]))
    assert user_for_sender("wbaade@observatory.example") == user
    again = client.post(reverse("account"), {"email": "WBAADE@observatory.example"})
    assert "already one of your addresses" in again.content.decode()


def test_account_page_shows_quota_use(client, make_user) -> None:
    user = make_user("zwicky", "fritz@example.org", quota_mb=50)
    client.force_login(user)
    page = client.get(reverse("account")).content.decode()
    assert "50.0 MB quota" in page and "fritz@example.org" in page


def test_the_account_page_shows_staged_reserved_and_free_bytes(client, make_user) -> None:
    """The figures come from the staging area and the fields in progress (the accounts app
    renders them through the portal's ``usage_of`` tag, without importing extraction)."""
    from extraction.models import Field, FieldStatus, Request, StagingDirectory
    from extraction.text.naming import staging_name_new

    user = make_user("zwicky", "fritz@example.org", quota_mb=10)
    name = staging_name_new(created=timezone.now().date())
    StagingDirectory.objects.create(
        user=user,
        name=name,
        path=f"{user.staging_area}/{name}",
        expires_at=timezone.now() + timedelta(days=10),
        bytes=2_000_000,
    )
    request = Request.objects.create(user=user, source="web")
    Field.objects.create(
        request=request,
        line_no=1,
        raw_line="f 0 0 0 0 0 0 10 10 J2000 DSS1 e G",
        ra_deg=0.0,
        dec_deg=0.0,
        width_arcmin=10,
        height_arcmin=10,
        status=FieldStatus.QUEUED,
        expected_bytes=3_000_000,
    )
    client.force_login(user)
    page = " ".join(client.get(reverse("account")).content.decode().split())
    assert "2.0 MB staged and 3.0 MB reserved for fields in progress, of your 10.0 MB quota" in page
    assert "<strong>5.0 MB</strong> free." in page
