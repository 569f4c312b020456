"""The JSON API: tokens, Basic only with JSON, cross-site refusal, errors as JSON, isolation."""

from __future__ import annotations

import base64
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import ApiToken
from accounts.tokens import api_token_create
from extraction.models import Field, Request

pytestmark = pytest.mark.django_db

GOOD = "m31 00 42 44.3 +41 16 09 5 5 J2000 DSS1 e U"
URL = "/api/requests"


def basic(login: str, password: str = "correct horse battery") -> dict[str, str]:
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def owner(make_user):
    return make_user("baade", "walter@example.org")


@pytest.fixture
def token(owner) -> str:
    return api_token_create(user=owner, name="tests")[1]


def post_json(client: Client, payload: object, **headers: str):
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return client.post(URL, data=body, content_type="application/json", **headers)


# -- Tokens -------------------------------------------------------------------------------


def test_the_command_prints_a_token_that_is_stored_only_as_a_hash(client, owner):
    out = StringIO()
    call_command("api_token", "baade", stdout=out)
    raw = out.getvalue().strip()
    assert raw.startswith("dss_") and len(raw) > 40
    stored = ApiToken.objects.get(user=owner)
    assert raw not in {stored.key_hash, stored.prefix} and raw.startswith(stored.prefix)
    response = client.get(URL, **bearer(raw))
    assert response.status_code == 200 and response.json()["count"] == 0
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_the_command_refuses_unknown_users(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no user named"):
        call_command("api_token", "nobody", stdout=StringIO())


def test_revoked_unknown_and_inactive_tokens_are_refused(client, owner, token):
    assert client.get(URL, **bearer(token)).status_code == 200
    assert client.get(URL, **bearer(token[:-1] + "x")).status_code == 401
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    assert client.get(URL, **bearer(token)).status_code == 401
    owner.is_active = True
    owner.save(update_fields=["is_active"])
    ApiToken.objects.update(revoked_at="2026-01-01T00:00Z")
    refused = client.get(URL, **bearer(token))
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]
    assert refused["WWW-Authenticate"].startswith("Bearer")


def test_tokens_are_made_once_and_revoked_on_the_account_page(client, owner):
    client.force_login(owner)
    made = client.post(reverse("api-token-create"), {"name": "my pipeline"}, follow=True)
    assert made.redirect_chain == [(reverse("api-token-created"), 302)]
    assert made.status_code == 200 and made["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user=owner)
    raw = made.context["raw"]
    assert raw in made.content.decode() and token.name == "my pipeline"
    page = client.get(reverse("account")).content.decode()
    assert token.prefix in page and raw not in page and "my pipeline" in page
    assert Client().get(URL, **bearer(raw)).status_code == 200
    client.post(reverse("api-token-revoke", args=[token.pk]))
    assert Client().get(URL, **bearer(raw)).status_code == 401
    assert "revoked" in client.get(reverse("account")).content.decode()


def test_reloading_the_new_token_page_makes_no_second_token_and_hides_the_first(
    client, owner
) -> None:
    client.force_login(owner)
    made = client.post(reverse("api-token-create"), {"name": "pipeline"}, follow=True)
    raw = made.context["raw"]
    reloaded = client.get(reverse("api-token-created"), follow=True)
    assert ApiToken.objects.filter(user=owner).count() == 1
    text = reloaded.content.decode()
    assert raw not in text and "shown only once" in text


def test_nobody_revokes_another_users_token(client, token, make_user):
    client.force_login(make_user("zwicky", "fritz@example.org"))
    pk = ApiToken.objects.get().pk
    client.post(reverse("api-token-revoke", args=[pk]))
    assert ApiToken.objects.get().revoked_at is None
    assert Client().get(URL, **bearer(token)).status_code == 200


# -- Authentication rules -----------------------------------------------------------------


def test_a_script_submits_with_a_token_as_json_or_plain_text(client, token):
    created = post_json(client, {"text": GOOD}, **bearer(token))
    assert created.status_code == 201 and created.json()["n_fields"] == 1
    plain = client.post(URL, data=GOOD, content_type="text/plain", **bearer(token))
    assert plain.status_code == 201
    assert Request.objects.filter(source="api").count() == 2


def test_a_plain_text_list_is_read_in_its_declared_charset_or_refused_as_not_utf8(client, token):
    line = GOOD.replace("m31", "café", 1)
    declared = client.post(  # the test client encodes the text in the charset named
        URL,
        data=line,
        content_type="text/plain; charset=iso-8859-1",
        **bearer(token),
    )
    assert declared.status_code == 201, declared.json()
    with_bom = client.post(
        URL, data=line.encode("utf-16"), content_type="text/plain", **bearer(token)
    )
    assert with_bom.status_code == 201, with_bom.json()
    assert [f.identifier for f in Field.objects.order_by("pk")] == ["café", "café"]
    undeclared = client.post(
        URL, data=line.encode("latin-1"), content_type="text/plain", **bearer(token)
    )
    assert undeclared.status_code == 400
    assert (
        "not UTF-8 (byte 3)" in undeclared.json()["error"]
        and "charset" in undeclared.json()["error"]
    )


def test_basic_is_accepted_only_with_a_json_body(client, owner):
    """A foreign page can send text/plain with cached Basic credentials, never JSON."""
    refused = client.post(URL, data=GOOD, content_type="text/plain", **basic("baade"))
    assert refused.status_code == 415 and "JSON" in refused.json()["error"]
    form = client.post(URL, data={"text": GOOD}, **basic("baade"))  # multipart form
    assert form.status_code == 415
    assert not Request.objects.exists()
    assert post_json(client, {"text": GOOD}, **basic("walter@example.org")).status_code == 201
    wrong = post_json(client, {"text": GOOD}, **basic("baade", "guess"))
    assert wrong.status_code == 401 and "Basic" not in wrong["WWW-Authenticate"]


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_SEC_FETCH_SITE": "cross-site"},
        {"HTTP_SEC_FETCH_SITE": "same-site"},
        {"HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_ORIGIN": "null"},
    ],
)
def test_cross_site_calls_are_refused_even_with_good_credentials(client, token, headers):
    response = post_json(client, {"text": GOOD}, **bearer(token), **headers)
    assert response.status_code == 403 and "error" in response.json()
    assert client.get(URL, **basic("baade"), **headers).status_code == 403
    assert not Request.objects.exists()


def test_same_origin_pages_use_the_session_with_the_csrf_token(owner):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    listed = browser.get(URL, HTTP_SEC_FETCH_SITE="same-origin")
    assert listed.status_code == 200
    no_csrf = post_json(browser, {"text": GOOD}, HTTP_ORIGIN="http://testserver")
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["error"]
    browser.get(reverse("account"))  # sets the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    with_csrf = post_json(
        browser, {"text": GOOD}, HTTP_ORIGIN="http://testserver", HTTP_X_CSRFTOKEN=csrf
    )
    assert with_csrf.status_code == 201


def test_anonymous_calls_get_a_json_401_without_a_basic_challenge(client):
    for url in [URL, f"{URL}/1", reverse("api-cutout")]:
        response = client.get(url)
        assert response.status_code == 401, url
        assert "token" in response.json()["error"]
        assert "Basic" not in response.get("WWW-Authenticate", "")


def test_wrong_methods_are_a_json_405(client, token):
    response = client.delete(URL, **bearer(token))
    assert response.status_code == 405 and response["Allow"] == "GET, POST"
    assert "use GET or POST" in response.json()["error"]


# -- Bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, words",
    [
        ("[" * 100_000 + "]" * 100_000, "nested"),
        ('{"text": ' + "[" * 100_000, "nested"),
        ('{"text": ' + "9" * 5000 + "}", "number"),
        ('{"text": 1e999}', "number"),
        ('{"text": NaN}', "not valid JSON"),
        ('{"text": "\\ud800"}', "surrogate"),
        ('{"text": "a\\u0000b"}', "NUL"),
        ('{"text": 5}', "must be a string"),
        ('{"text": null}', "must be a string"),
        ('{"text": ["a"]}', "must be a string"),
        ('{"lines": "x"}', '{"text"'),
        ("[]", '{"text"'),
        ('"just a string"', '{"text"'),
        (" ", "not valid JSON"),
        ("{", "not valid JSON"),
        (b'{"text": "\xff"}', "not UTF-8"),
    ],
)
def test_every_bad_body_is_a_specific_json_4xx(client, token, body, words):
    response = post_json(client, body, **bearer(token))
    assert 400 <= response.status_code < 500
    assert words in response.json()["error"]
    assert not Request.objects.exists()


def test_a_body_over_the_limit_is_413(client, token, settings):
    settings.DSSPORTAL_MAX_MAIL_BYTES = 2000
    response = post_json(client, {"text": GOOD + "\n" * 3000}, **bearer(token))
    assert response.status_code == 413 and "2000 bytes" in response.json()["error"]


def test_a_nul_in_plain_text_is_refused_with_its_line(client, token):
    response = client.post(URL, data=f"{GOOD}\nx\x00y", content_type="text/plain", **bearer(token))
    assert response.status_code == 400 and "line 2" in response.json()["error"]


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n"])
def test_a_list_without_field_lines_stores_nothing(client, token, text):
    response = post_json(client, {"text": text}, **bearer(token))
    assert response.status_code == 400 and "nothing was stored" in response.json()["error"]
    assert not Request.objects.exists()


def test_a_list_whose_every_line_is_rejected_stores_nothing_and_lists_the_errors(
    client, token, settings
):
    settings.DSSPORTAL_MAX_LISTED_ERRORS = 3
    text = "\n".join(f"bad line {n}" for n in range(10))
    response = post_json(client, {"text": text}, **bearer(token))
    body = response.json()
    assert response.status_code == 400 and "nothing was stored" in body["error"]
    assert body["n_rejected"] == 10 and body["rejected_not_listed"] == 7
    assert [r["line"] for r in body["rejected"]] == [1, 2, 3]
    assert "columns" in body["rejected"][0]["error"]
    assert not Request.objects.exists()


def test_rejected_lines_in_an_accepted_list_are_bounded(client, token, settings):
    settings.DSSPORTAL_MAX_LISTED_ERRORS = 2
    text = GOOD + "\n" + "\n".join(f"bad {n}" for n in range(20))
    created = post_json(client, {"text": text}, **bearer(token)).json()
    assert created["n_fields"] == 1 and created["n_rejected"] == 20
    assert len(created["rejected"]) == 2 and created["rejected_not_listed"] == 18
    detail = client.get(f"{URL}/{created['id']}", **bearer(token)).json()
    assert len(detail["rejected"]) == 2 and detail["rejected_not_listed"] == 18


# -- Lists and isolation ------------------------------------------------------------------


def test_each_user_lists_and_reads_only_their_own_requests(client, token, make_user):
    mine = post_json(client, {"text": GOOD}, **bearer(token)).json()
    other = make_user("zwicky", "fritz@example.org")
    theirs_token = api_token_create(user=other)[1]
    theirs = post_json(client, {"text": GOOD}, **bearer(theirs_token)).json()
    listed = client.get(URL, **bearer(token)).json()
    assert listed["count"] == 1 and [r["id"] for r in listed["requests"]] == [mine["id"]]
    assert (
        client.get(f"{URL}/{mine['id']}", **bearer(token)).json()["fields"][0]["identifier"]
        == "m31"
    )
    cross = client.get(f"{URL}/{theirs['id']}", **bearer(token))
    assert cross.status_code == 404 and "no request" in cross.json()["error"]
    assert client.get(f"{URL}/{theirs['id']}", **basic("baade")).status_code == 404


def test_listing_pages(client, token):
    for _ in range(3):
        post_json(client, {"text": GOOD}, **bearer(token))
    page = client.get(URL, {"limit": 2, "offset": 1}, **bearer(token)).json()
    assert page["count"] == 3 and len(page["requests"]) == 2
    bad = client.get(URL, {"limit": "lots"}, **bearer(token))
    assert bad.status_code == 400 and "limit" in bad.json()["error"]


# -- Property: nothing a caller sends gives a 5xx -------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["text", "x", ""]) | st.text(max_size=5), children, max_size=4
        )
    ),
    max_leaves=12,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    payload=json_values | st.builds(lambda t: {"text": t}, st.text(max_size=200)),
    raw=st.binary(max_size=300),
    use_raw=st.booleans(),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded"]
    ),
)
def test_random_json_and_bytes_never_give_a_server_error(
    client, token, payload, raw, use_raw, content_type
):
    body = raw if use_raw else json.dumps(payload).encode()
    response = client.post(URL, data=body, content_type=content_type, **bearer(token))
    assert response.status_code < 500
    assert response["Content-Type"] == "application/json"
    query = client.get(
        reverse("api-plates"), {"ra": raw.decode("latin-1"), "dec": "1"}, **bearer(token)
    )
    assert query.status_code < 500
    name = client.get(reverse("api-resolve"), {"name": raw.decode("latin-1")}, **bearer(token))
    assert name.status_code < 500


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    authorization=st.text(max_size=60) | st.builds(lambda t: f"Basic {t}", st.text(max_size=40)),
    query=st.dictionaries(
        st.sampled_from(["POS", "RA", "DEC", "SIZE", "SURVEY", "MODE", "FORMAT", "ID", "pos"]),
        st.text(max_size=30),
        max_size=6,
    ),
    body=st.binary(max_size=100),
)
def test_random_credentials_and_cutout_queries_never_give_a_server_error(
    client, token, authorization, query, body
):
    latin1 = authorization.encode("latin-1", "replace").decode("latin-1")
    responses = [
        client.get(URL, HTTP_AUTHORIZATION=latin1),
        client.get(f"{URL}/1", HTTP_AUTHORIZATION=latin1),
        client.post(URL, data=body, content_type="application/json", HTTP_AUTHORIZATION=latin1),
    ]
    assert all(r.status_code < 500 for r in responses)
    cutout = client.get(reverse("api-cutout"), query, **bearer(token))
    assert cutout.status_code < 500
    assert cutout["Content-Type"] == "application/json" or cutout.status_code == 200


def test_staff_see_and_revoke_tokens_and_cutout_usage_in_the_admin(client, staff_user, token):
    client.force_login(staff_user)
    listing = client.get(reverse("admin:accounts_apitoken_changelist"))
    assert listing.status_code == 200 and token[:10] in listing.content.decode()
    assert token not in listing.content.decode()
    pk = ApiToken.objects.get().pk
    client.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [pk]},
    )
    assert ApiToken.objects.get().revoked_at is not None
    assert Client().get(URL, **bearer(token)).status_code == 401
    assert client.get(reverse("admin:extraction_cutoutusage_changelist")).status_code == 200


def test_quoted_rejected_lines_are_cut_short(client, token):
    long_line = "x" * 5000
    response = post_json(client, {"text": f"{GOOD}\n{long_line}"}, **bearer(token)).json()
    quoted = response["rejected"][0]["text"]
    assert len(quoted) == 200 and quoted.startswith("x" * 199)
    assert Request.objects.get().n_rejected == 1


def test_a_trusted_origin_behind_a_proxy_is_accepted(client, token, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://dss.example.org"]
    ok = client.get(URL, HTTP_ORIGIN="https://dss.example.org", **bearer(token))
    assert ok.status_code == 200
    assert client.get(URL, HTTP_ORIGIN="https://other.example", **bearer(token)).status_code == 403


# -- Acting on a request: POST /api/requests/<id> ------------------------------------------


def post_action(client: Client, pk: int, payload: object, **headers: str):
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return client.post(f"{URL}/{pk}", data=body, content_type="application/json", **headers)


def test_the_owner_cancels_queued_fields_and_reads_the_request_back(client, token):
    # Tasks run on commit, which these tests never reach: the two fields stay queued.
    created = post_json(client, {"text": f"{GOOD}\n{GOOD.replace('m31', 'm32')}"}, **bearer(token))
    pk = created.json()["id"]
    cancelled = post_action(client, pk, {"action": "cancel"}, **bearer(token))
    assert cancelled.status_code == 200
    answer = cancelled.json()
    assert answer == client.get(f"{URL}/{pk}", **bearer(token)).json()  # the GET answer
    assert answer["status"] == "cancelled"
    assert [f["status"] for f in answer["fields"]] == ["cancelled", "cancelled"]
    assert {f["message"] for f in answer["fields"]} == {"cancelled at the owner's request"}
    # Again: nothing is left to cancel, the answer is the same.
    assert post_action(client, pk, {"action": "cancel"}, **bearer(token)).json() == answer


def test_the_owner_cancel_is_told_apart_from_the_staff_one_in_the_mail(
    client, token, django_capture_on_commit_callbacks
):
    from django.core import mail

    pk = post_json(client, {"text": GOOD}, **bearer(token)).json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        post_action(client, pk, {"action": "cancel"}, **bearer(token))
    (message,) = mail.outbox
    flat = " ".join(message.body.split())
    assert f"request #{pk}" in flat and "was cancelled at your request: 0 of 1" in flat
    assert "archive staff" not in flat


def test_the_owner_deletes_the_staged_files_with_basic_and_json(
    client, owner, django_capture_on_commit_callbacks
):
    from tests.factories import register_real_dss_plate

    register_real_dss_plate()
    line = "real 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 U"
    with django_capture_on_commit_callbacks(execute=True):
        created = post_json(client, {"text": line}, **basic("baade"))
    pk = created.json()["id"]
    staged = client.get(f"{URL}/{pk}", **basic("baade")).json()
    assert staged["status"] == "done" and staged["staging"] is not None
    directory = Request.objects.get(pk=pk).staging
    assert (directory.absolute_path / "real.fits").exists()
    deleted = post_action(client, pk, {"action": "delete"}, **basic("baade"))
    assert deleted.status_code == 200
    assert deleted.json()["staging"] is None and deleted.json()["web_url"] is None
    assert not directory.absolute_path.exists()
    directory.refresh_from_db()
    assert (
        directory.deleted_at is not None and directory.deleted_reason == "deleted through the API"
    )
    # Deleting again is harmless.
    assert post_action(client, pk, {"action": "delete"}, **basic("baade")).status_code == 200


@pytest.mark.parametrize(
    "payload, words",
    [
        ({"action": "explode"}, "unknown action 'explode'"),
        ({"action": 5}, "unknown action '5'"),
        ({}, "no action"),
        ([], "no action"),
        ("{", "not valid JSON"),
    ],
)
def test_an_unknown_action_is_a_400_naming_the_allowed_ones(client, token, payload, words):
    pk = post_json(client, {"text": GOOD}, **bearer(token)).json()["id"]
    refused = post_action(client, pk, payload, **bearer(token))
    assert refused.status_code == 400
    assert words in refused.json()["error"]
    if words != "not valid JSON":
        assert refused.json()["allowed_actions"] == ["cancel", "delete"]
        assert '"cancel"' in refused.json()["error"] and '"delete"' in refused.json()["error"]
    assert Request.objects.get(pk=pk).fields.get().status == "queued"


def test_nobody_acts_on_another_users_request(client, token, make_user):
    other = make_user("zwicky", "fritz@example.org")
    theirs = post_json(client, {"text": GOOD}, **bearer(api_token_create(user=other)[1])).json()
    for action in ("cancel", "delete"):
        refused = post_action(client, theirs["id"], {"action": action}, **bearer(token))
        assert refused.status_code == 404 and "no request" in refused.json()["error"]
        assert (
            post_action(client, theirs["id"], {"action": action}, **basic("baade")).status_code
            == 404
        )
    assert Request.objects.get(pk=theirs["id"]).fields.get().status == "queued"
    anonymous = post_action(client, theirs["id"], {"action": "cancel"})
    assert anonymous.status_code == 401


def test_actions_need_json_and_refuse_cross_site_calls(client, token):
    pk = post_json(client, {"text": GOOD}, **bearer(token)).json()["id"]
    form = client.post(f"{URL}/{pk}", data={"action": "cancel"}, **bearer(token))
    assert form.status_code == 415 and "application/json" in form.json()["error"]
    cross = post_action(
        client, pk, {"action": "cancel"}, **bearer(token), HTTP_SEC_FETCH_SITE="cross-site"
    )
    assert cross.status_code == 403
    assert Request.objects.get(pk=pk).fields.get().status == "queued"
    assert client.delete(f"{URL}/{pk}", **bearer(token))["Allow"] == "GET, POST"


@pytest.mark.parametrize(
    "path", ["/api/requests/abc", "/api/nope", "/api/requests/1/files", "/api/", "/api"]
)
def test_every_answer_under_api_is_json_even_for_addresses_that_do_not_exist(
    client, token, path: str
) -> None:
    for response in (client.get(path, **bearer(token)), client.get(path)):
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json"
        assert "there is no API endpoint" in response.json()["error"]


def test_a_request_that_is_not_yours_is_a_json_404(client, token) -> None:
    response = client.get(f"{URL}/987654", **bearer(token))
    assert response.status_code == 404 and "error" in response.json()


def test_the_resolver_and_the_plate_finder_need_no_account(client) -> None:
    resolved = client.get(reverse("api-resolve"), {"name": "NGC 253"})
    assert resolved.status_code == 200 and abs(resolved.json()["dec_deg"] + 25.29) < 0.05
    plates = client.get(reverse("api-plates"), {"ra": "11.9", "dec": "-25.3"})
    assert plates.status_code == 200 and "surveys" in plates.json()
    for page in ("plate-finder",):
        params = {"name": "NGC 253", "width": "10", "height": "10"}
        assert client.get(reverse(page), params).status_code == 200


def test_the_resolver_without_a_name_is_a_400_that_says_what_to_give(client) -> None:
    for params in ({}, {"name": "   "}):
        response = client.get(reverse("api-resolve"), params)
        assert response.status_code == 400 and "give name" in response.json()["error"]
    overlong = client.get(reverse("api-resolve"), {"name": "A" * 5000})
    assert overlong.status_code == 400 and "at most 80" in overlong.json()["error"]
    unknown = client.get(reverse("api-resolve"), {"name": "No Such Galaxy"})
    assert unknown.status_code == 404
