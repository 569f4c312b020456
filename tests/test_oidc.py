"""Sign-in through an OpenID Connect provider: a real provider (oidc-provider-mock on
Authlib) in a second process on loopback, the portal driven by Django's test client as the
browser, the provider's log-in page submitted over HTTP as a person would."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.db import connection, transaction
from django.test import Client

from accounts.models import EmailAddress, OidcIdentity, User
from accounts.oidc import SESSION_ID_TOKEN
from accounts.oidc_users import _user_for_new_subject, oidc_user
from extraction.mail.gate import mail_handle
from tests.oidc_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    authorize_at_provider,
    jwt_header,
    oidc_provider,
    query,
    set_person,
)
from tests.test_settings import run_settings

pytestmark = [pytest.mark.django_db, pytest.mark.processes]

_subjects = itertools.count(1)


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    """A provider whose key set holds one key and whose id tokens name no ``kid``."""
    with oidc_provider(kid="none") as url:
        yield url


@pytest.fixture(autouse=True)
def sso(settings, issuer: str) -> str:
    settings.DSSPORTAL_PUBLIC_URL = "http://testserver"
    settings.DSSPORTAL_OIDC_ISSUER = issuer
    settings.DSSPORTAL_OIDC_CLIENT_ID = CLIENT_ID
    settings.DSSPORTAL_OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.DSSPORTAL_OIDC_LABEL = "Example Observatory"
    settings.DSSPORTAL_OIDC_AFFILIATION_CLAIM = "organisation"
    return issuer


def new_subject() -> str:
    return f"person-{next(_subjects)}-{socket.gethostname()}"


def start(browser: Client) -> str:
    """Press "Sign in with …"; returns the provider's authorization URL."""
    response = browser.get("/oidc/login/")
    assert response.status_code == 302
    return response["Location"]


def sign_in(browser: Client, subject: str) -> tuple[str, object]:
    """A whole sign-in; returns the callback URL used and the portal's answer to it."""
    callback = authorize_at_provider(start(browser), subject)
    assert callback.startswith("http://testserver/oidc/callback/?")
    return callback, browser.get(callback.removeprefix("http://testserver"))


def signed_in_user(browser: Client) -> User | None:
    response = browser.get("/account/")
    return response.wsgi_request.user if response.status_code == 200 else None  # type: ignore[return-value]


def test_login_page_offers_the_provider_only_when_configured(settings) -> None:
    page = Client().get("/login/").content.decode()
    assert "Sign in with Example Observatory" in page
    settings.DSSPORTAL_OIDC_ISSUER = ""
    assert "Sign in with" not in Client().get("/login/").content.decode()
    assert Client().get("/oidc/login/").status_code == 404


def test_first_sign_in_creates_the_user_from_the_claims_and_later_ones_find_it(
    issuer: str,
) -> None:
    subject = new_subject()
    set_person(
        issuer,
        subject,
        email="Vera.Rubin@example.edu",
        email_verified=True,
        name="Vera Cooper Rubin",
        organisation="Carnegie DTM",
    )
    browser = Client()
    authorize = start(browser)
    params = query(authorize)
    assert params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == "http://testserver/oidc/callback/"
    assert params["scope"].split() == ["openid", "email", "profile"]
    assert params["state"] and params["nonce"] and params["code_challenge"]

    callback = authorize_at_provider(authorize, subject)
    response = browser.get(callback.removeprefix("http://testserver"))
    assert response.status_code == 302 and response["Location"] == "/"

    user = User.objects.get(oidc_identities__subject=subject)
    assert signed_in_user(browser) == user
    assert user.email == "Vera.Rubin@example.edu" and user.username == "Vera.Rubin@example.edu"
    assert (user.first_name, user.last_name) == ("Vera Cooper", "Rubin")
    assert user.affiliation == "Carnegie DTM"
    assert user.is_active and not user.has_usable_password()
    address = EmailAddress.objects.get(user=user)
    assert address.verified and address.primary
    identity = OidcIdentity.objects.get(user=user)
    assert identity.issuer == issuer and identity.last_login_at is not None
    # The provider under test really sends id tokens without kid (one key in its set).
    id_token = browser.session[SESSION_ID_TOKEN]
    assert "kid" not in jwt_header(id_token)
    assert [k.get("kid") for k in requests.get(f"{issuer}/jwks", timeout=5).json()["keys"]] == [
        None
    ]

    again = Client()
    sign_in(again, subject)
    assert signed_in_user(again) == user
    assert User.objects.filter(oidc_identities__subject=subject).count() == 1


@pytest.mark.parametrize("kid", ["header", "jwks"])
def test_providers_that_name_their_key(settings, kid: str) -> None:
    with oidc_provider(kid=kid) as issuer_with_kid:
        settings.DSSPORTAL_OIDC_ISSUER = issuer_with_kid
        subject = new_subject()
        set_person(issuer_with_kid, subject, email="kid@example.edu", email_verified=True)
        browser = Client()
        sign_in(browser, subject)
        assert ("kid" in jwt_header(browser.session[SESSION_ID_TOKEN])) == (kid == "header")
        assert signed_in_user(browser).username == "kid@example.edu"  # type: ignore[union-attr]


def test_a_token_the_published_key_does_not_verify_is_refused(settings) -> None:
    """Taking the only key of a set for a token without ``kid`` still verifies the token."""
    with oidc_provider(kid="none", wrong_key=True) as forged:
        settings.DSSPORTAL_OIDC_ISSUER = forged
        subject = new_subject()
        set_person(forged, subject, email="forged@example.edu", email_verified=True)
        browser = Client()
        _, response = sign_in(browser, subject)
        assert response.status_code == 403
        assert "did not pass its checks" in response.content.decode()
        assert signed_in_user(browser) is None
        assert not User.objects.exists()


def test_replayed_callback_is_refused(issuer: str) -> None:
    subject = new_subject()
    set_person(issuer, subject, email="replay@example.edu", email_verified=True)
    browser = Client()
    callback, _ = sign_in(browser, subject)
    path = callback.removeprefix("http://testserver")
    browser.post("/logout/")

    again = browser.get(path)
    assert again.status_code == 403
    assert "was used already" in again.content.decode()
    assert signed_in_user(browser) is None
    # Nor in another browser, which never started a sign-in.
    other = Client()
    assert other.get(path).status_code == 403
    assert signed_in_user(other) is None


def test_a_callback_for_another_sign_in_is_refused(issuer: str) -> None:
    """An attacker's own code and state, pushed to a victim's browser (login CSRF)."""
    subject = new_subject()
    set_person(issuer, subject, email="attacker@example.edu", email_verified=True)
    attacker_callback = authorize_at_provider(start(Client()), subject)
    victim = Client()
    start(victim)  # the victim's own sign-in is under way, with its own state
    answer = victim.get(attacker_callback.removeprefix("http://testserver"))
    assert answer.status_code == 403
    assert signed_in_user(victim) is None


def test_an_id_token_with_another_nonce_is_refused(issuer: str) -> None:
    """The nonce in the id token must be the one this browser's sign-in sent."""
    subject = new_subject()
    set_person(issuer, subject, email="nonce@example.edu", email_verified=True)
    browser = Client()
    authorize = start(browser)
    session = browser.session
    (key,) = [k for k, _ in session.items() if k.startswith("_state_")]
    assert session[key]["data"]["nonce"] == query(authorize)["nonce"]
    session[key]["data"]["nonce"] = "not-the-nonce-that-was-sent"
    session.save()
    callback = authorize_at_provider(authorize, subject)
    response = browser.get(callback.removeprefix("http://testserver"))
    assert response.status_code == 403
    assert "did not pass its checks" in response.content.decode()
    assert signed_in_user(browser) is None


def test_a_code_issued_to_another_client_is_refused(issuer: str, settings) -> None:
    subject = new_subject()
    set_person(issuer, subject, email="aud@example.edu", email_verified=True)
    browser = Client()
    authorize = start(browser)
    settings.DSSPORTAL_OIDC_CLIENT_ID = "another-portal"
    callback = authorize_at_provider(authorize, subject)
    response = browser.get(callback.removeprefix("http://testserver"))
    assert response.status_code == 403
    assert "The provider refused the sign-in (invalid_grant)" in response.content.decode()
    assert signed_in_user(browser) is None


@pytest.mark.parametrize("verified", [False, "false", None], ids=["false", "string", "missing"])
def test_unverified_address_creates_no_account(issuer: str, verified: object) -> None:
    subject = new_subject()
    claims: dict[str, object] = {"email": f"{subject}@example.edu"}
    if verified is not None:
        claims["email_verified"] = verified
    set_person(issuer, subject, **claims)
    browser = Client()
    _, response = sign_in(browser, subject)
    assert response.status_code == 403
    assert "has not confirmed your e-mail address" in response.content.decode()
    assert not User.objects.filter(email__iexact=f"{subject}@example.edu").exists()
    assert not OidcIdentity.objects.exists()
    assert signed_in_user(browser) is None


@pytest.mark.parametrize("email", [None, "not an address", "x@" + "e" * 260 + ".org"])
def test_a_missing_or_malformed_address_creates_no_account(issuer: str, email: object) -> None:
    subject = new_subject()
    claims: dict[str, object] = {"email_verified": True}
    if email is not None:
        claims["email"] = email
    set_person(issuer, subject, **claims)
    browser = Client()
    _, response = sign_in(browser, subject)
    assert response.status_code == 403
    assert "did not tell us a usable e-mail address" in response.content.decode()
    assert not User.objects.exists()


def test_links_a_local_account_through_its_confirmed_address(issuer: str, make_user) -> None:
    alice = make_user("alice", "alice@example.org")
    EmailAddress.objects.create(user=alice, email="alice@example.edu", verified=True)
    subject = new_subject()
    set_person(issuer, subject, email="ALICE@example.edu", email_verified=True)
    browser = Client()
    sign_in(browser, subject)
    assert signed_in_user(browser) == alice
    assert OidcIdentity.objects.get(subject=subject).user == alice
    assert User.objects.count() == 1
    alice.refresh_from_db()
    assert alice.check_password("correct horse battery")  # the local password still works


def test_never_links_by_username_nor_through_an_unconfirmed_address(issuer: str, make_user) -> None:
    # A username equal to the address, with the address confirmed by nobody.
    squatter = User.objects.create_user("carol@example.edu", "other@example.org", "pw-123456789")
    EmailAddress.objects.create(user=squatter, email="other@example.org", verified=True)
    # And an unconfirmed registration of the same address by someone else.
    pending = User.objects.create_user("mallory", "mallory@example.org", "pw-123456789")
    EmailAddress.objects.create(user=pending, email="carol@example.edu", verified=False)

    subject = new_subject()
    set_person(issuer, subject, email="carol@example.edu", email_verified=True)
    browser = Client()
    sign_in(browser, subject)
    carol = signed_in_user(browser)
    assert carol is not None and carol not in (squatter, pending)
    assert carol.username.startswith("sso-")
    assert EmailAddress.objects.get(email__iexact="carol@example.edu").user == carol
    assert set(squatter.addresses.values_list("email", flat=True)) == {"other@example.org"}


def test_an_address_change_at_the_provider_neither_orphans_nor_hijacks(
    issuer: str, make_user
) -> None:
    bob = make_user("bob", "bob@example.org")
    subject = new_subject()
    set_person(issuer, subject, email="dana@example.edu", email_verified=True)
    first = Client()
    sign_in(first, subject)
    dana = signed_in_user(first)
    assert dana is not None and dana != bob

    # The provider now says this person has bob's (confirmed) address: still dana.
    set_person(issuer, subject, email="bob@example.org", email_verified=True)
    second = Client()
    sign_in(second, subject)
    assert signed_in_user(second) == dana
    # A new address there: the same account, not a new one.
    set_person(issuer, subject, email="dana.new@example.edu", email_verified=True)
    third = Client()
    sign_in(third, subject)
    assert signed_in_user(third) == dana
    assert User.objects.count() == 2
    assert not OidcIdentity.objects.filter(user=bob).exists()


def test_another_subject_with_a_linked_accounts_address_is_refused(issuer: str) -> None:
    subject = new_subject()
    set_person(issuer, subject, email="erin@example.edu", email_verified=True)
    sign_in(Client(), subject)
    erin = User.objects.get(oidc_identities__subject=subject)

    successor = new_subject()  # e.g. the address was given to someone else at the provider
    set_person(issuer, successor, email="erin@example.edu", email_verified=True)
    browser = Client()
    _, response = sign_in(browser, successor)
    assert response.status_code == 403
    assert "linked to another identity" in response.content.decode()
    assert signed_in_user(browser) is None
    assert list(OidcIdentity.objects.values_list("user", "subject")) == [(erin.pk, subject)]


def test_a_closed_account_is_not_opened_by_the_provider(issuer: str) -> None:
    subject = new_subject()
    set_person(issuer, subject, email="frank@example.edu", email_verified=True)
    sign_in(Client(), subject)
    User.objects.filter(oidc_identities__subject=subject).update(is_active=False)
    browser = Client()
    _, response = sign_in(browser, subject)
    assert response.status_code == 403 and "closed" in response.content.decode()
    assert signed_in_user(browser) is None


def test_new_accounts_count_against_the_registration_limits(issuer: str, settings) -> None:
    settings.DSSPORTAL_REGISTRATIONS_PER_ADDRESS_PER_HOUR = 1
    first, second = new_subject(), new_subject()
    set_person(issuer, first, email="g1@example.edu", email_verified=True)
    set_person(issuer, second, email="g2@example.edu", email_verified=True)
    sign_in(Client(), first)
    _, response = sign_in(Client(), second)
    assert response.status_code == 403
    assert "Too many registrations from your network" in response.content.decode()
    assert not User.objects.filter(email="g2@example.edu").exists()
    # A known person is not a registration: signing in again still works.
    browser = Client()
    sign_in(browser, first)
    assert signed_in_user(browser) is not None


def test_logout_ends_the_provider_session(issuer: str, make_user) -> None:
    subject = new_subject()
    set_person(issuer, subject, email="hana@example.edu", email_verified=True)
    browser = Client()
    sign_in(browser, subject)
    id_token = browser.session[SESSION_ID_TOKEN]

    response = browser.post("/logout/")
    assert response.status_code == 302
    end_session = response["Location"]
    assert end_session.startswith(f"{issuer}/oauth2/end_session?")
    params = query(end_session)
    assert params["id_token_hint"] == id_token
    assert params["post_logout_redirect_uri"] == "http://testserver/"
    assert params["client_id"] == CLIENT_ID
    assert signed_in_user(browser) is None
    # The provider takes it: its page shows the hint it received.
    page = requests.get(end_session, timeout=10)
    assert page.status_code == 200 and id_token in page.text

    # A local user's logout stays local.
    make_user("ivan", "ivan@example.org")
    local = Client()
    assert local.login(username="ivan", password="correct horse battery")
    answer = local.post("/logout/")
    assert answer.status_code == 302 and answer["Location"] == "/"
    assert signed_in_user(local) is None


def test_provider_down_gives_a_clear_page_and_local_log_in_still_works(settings, make_user) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.DSSPORTAL_OIDC_ISSUER = f"http://127.0.0.1:{closed_port}"
    browser = Client()
    response = browser.get("/oidc/login/")
    assert response.status_code == 503
    page = response.content.decode()
    assert "Example Observatory cannot be reached" in page
    assert 'href="/login/"' in page
    # A callback arriving while it is down (code issued just before) gets the same page.
    assert browser.get("/oidc/callback/?code=x&state=y").status_code == 503

    make_user("judy", "judy@example.org")
    login = browser.post("/login/", {"username": "judy", "password": "correct horse battery"})
    assert login.status_code == 302
    assert signed_in_user(browser).username == "judy"  # type: ignore[union-attr]


def test_cancelled_at_the_provider(issuer: str) -> None:
    browser = Client()
    authorize = start(browser)
    denied = requests.post(authorize, data={"action": "deny"}, allow_redirects=False, timeout=10)
    assert denied.status_code == 302
    response = browser.get(denied.headers["Location"].removeprefix("http://testserver"))
    assert response.status_code == 403
    assert "cancelled at the provider" in response.content.decode()


def test_next_is_kept_and_only_on_this_site(issuer: str) -> None:
    subject = new_subject()
    set_person(issuer, subject, email="kim@example.edu", email_verified=True)
    for asked, landed in [("/account/", "/account/"), ("https://evil.example/", "/"), ("", "/")]:
        browser = Client()
        authorize = browser.get(f"/oidc/login/?next={asked}")["Location"]
        callback = authorize_at_provider(authorize, subject)
        assert browser.get(callback.removeprefix("http://testserver"))["Location"] == landed


def test_a_provider_that_accepts_connections_but_never_answers(settings) -> None:
    """Down in the other way: the connection opens, no answer comes. The page says so within
    DSSPORTAL_OIDC_TIMEOUT_S."""
    settings.DSSPORTAL_OIDC_TIMEOUT_S = 0.5
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # never accepted, never answered
        settings.DSSPORTAL_OIDC_ISSUER = f"http://127.0.0.1:{silent.getsockname()[1]}"
        began = time.monotonic()
        response = Client().get("/oidc/login/")
        assert response.status_code == 503
        assert time.monotonic() - began < 5


def test_mail_from_the_verified_address_of_a_provider_user_is_served(
    issuer: str, settings, django_capture_on_commit_callbacks
) -> None:
    settings.DSSPORTAL_REQUEST_ADDRESS = "dss@archive.example"
    subject = new_subject()
    set_person(issuer, subject, email="lena@example.edu", email_verified=True)
    sign_in(Client(), subject)
    lena = User.objects.get(oidc_identities__subject=subject)
    raw = (
        b"From: Lena <Lena@Example.edu>\r\nTo: dss@archive.example\r\nSubject: list\r\n"
        b"Message-ID: <sso-1@example.edu>\r\nDate: Mon, 05 Jan 2026 10:31:00 +0000\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"field01 12 5 13 30 45 32 10. 10. B1950 DSS1 e G\r\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        outcome = mail_handle(raw)
    assert outcome.request is not None, outcome
    assert outcome.request.user == lena
    assert outcome.request.fields.count() == 1


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"DSSPORTAL_OIDC_ISSUER": "login.example.org"}, "is not an https:// URL"),
        (
            {"DSSPORTAL_OIDC_ISSUER": "https://login.example.org"},
            "DSSPORTAL_OIDC_CLIENT_ID and DSSPORTAL_OIDC_CLIENT_SECRET are required",
        ),
        (
            {
                "DSSPORTAL_OIDC_ISSUER": "https://login.example.org",
                "DSSPORTAL_OIDC_CLIENT_ID": "a",
                "DSSPORTAL_OIDC_CLIENT_SECRET": "b",
                "DSSPORTAL_OIDC_SCOPES": "email profile",
            },
            "must contain 'openid'",
        ),
    ],
)
def test_incomplete_provider_settings_stop_start_up(
    tmp_path: Path, variables: dict[str, str], message: str
) -> None:
    result = run_settings(tmp_path, **variables)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs row locks (PostgreSQL)")
@pytest.mark.django_db(transaction=True)
def test_two_first_sign_ins_of_one_person_at_once_make_one_account() -> None:
    """Two tabs completing the first sign-in together: one account, one link, both signed in."""
    claims = {"sub": "twin", "email": "twin@example.edu", "email_verified": True}
    barrier = threading.Barrier(2)
    results: list[object] = []

    def sign_in_now() -> None:
        barrier.wait()
        try:
            results.append(oidc_user(issuer="https://idp.test", subject="twin", claims=claims))
        except Exception as exc:  # reported by the assertion below
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_in_now) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 2 and all(isinstance(r, User) for r in results), results
    assert results[0] == results[1]
    assert User.objects.count() == 1 and OidcIdentity.objects.count() == 1


@pytest.mark.django_db
def test_a_second_tab_that_missed_the_link_by_a_moment_opens_the_same_account() -> None:
    """The interleaving CI once caught: tab B looks the subject up (nothing yet), tab A then
    makes the account and links it, and B finds A's confirmed address. B must open A's account,
    not be told the account is linked to another identity."""
    claims = {"sub": "twin", "email": "twin@example.edu", "email_verified": True}
    made_by_tab_a = oidc_user(issuer="https://idp.test", subject="twin", claims=claims)
    with transaction.atomic():  # tab B, resuming after its subject lookup found nothing
        opened_by_tab_b = _user_for_new_subject(
            issuer="https://idp.test", subject="twin", claims=claims, client_address=None
        )
    assert opened_by_tab_b == made_by_tab_a
    assert OidcIdentity.objects.filter(user=made_by_tab_a).count() == 1
    # Another subject of the same provider is still refused that account.
    with pytest.raises(Exception, match="linked to another identity"):
        oidc_user(issuer="https://idp.test", subject="someone-else", claims=claims)
