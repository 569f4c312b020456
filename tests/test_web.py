"""The user's web pages and the JSON API: submit, follow, download, and only one's own."""

from __future__ import annotations

import base64
import io

import pytest
from astropy.io import fits
from django.urls import reverse
from PIL import Image

from extraction.models import Request
from tests.factories import register_real_dss_plate

pytestmark = pytest.mark.django_db

LINE = "real 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 U"


def basic(login: str, password: str = "correct horse battery") -> dict[str, str]:
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


@pytest.fixture
def served(client, make_user, django_capture_on_commit_callbacks):
    """A logged-in user whose request for the real DSS plate has been served."""
    register_real_dss_plate()
    user = make_user("hale", "hale@example.org")
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("request-list"),
            {"text": f"{LINE}\nthis line is wrong", "submit": "list", "valid_only": "1"},
            follow=True,
        )
    return user, Request.objects.get(user=user), response


def test_submitting_the_form_shows_the_request_with_errors_and_files(client, served):
    _, request, response = served
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("request-detail", args=[request.pk])
    assert "line 2:" in page and "this line is wrong" in page
    assert "queued" in page  # rendered before the worker ran
    page = client.get(reverse("request-detail", args=[request.pk])).content.decode()
    assert "real.fits" in page
    assert reverse("field-preview", args=[request.pk, "real"]) in page
    assert request.staging.name in page


def test_the_file_downloads_over_http_and_the_preview_is_a_png(client, served):
    _, request, _ = served
    url = reverse("staging-file", args=[request.staging.name, "real.fits"])
    response = client.get(url)
    assert response.status_code == 200
    payload = b"".join(response.streaming_content)
    assert payload == (request.staging.absolute_path / "real.fits").read_bytes()
    with fits.open(io.BytesIO(payload)) as hdul:
        assert hdul[0].header["OBJECT"] == "real"
    preview = client.get(reverse("field-preview", args=[request.pk, "real"]))
    image = Image.open(io.BytesIO(b"".join(preview.streaming_content)))
    assert image.format == "PNG" and image.size == (35, 35)
    status = client.get(reverse("request-status", args=[request.pk])).json()
    assert status["status"] == "done" and status["fields"][0]["output_name"] == "real.fits"


def test_other_users_see_nothing_of_it(client, served, make_user):
    _, request, _ = served
    client.force_login(make_user("zwicky", "fritz@example.org"))
    name = request.staging.name
    for url in [
        reverse("request-detail", args=[request.pk]),
        reverse("request-status", args=[request.pk]),
        reverse("staging-listing", args=[name]),
        reverse("staging-file", args=[name, "real.fits"]),
        reverse("field-preview", args=[request.pk, "real"]),
    ]:
        assert client.get(url).status_code == 404, url


@pytest.mark.parametrize("filename", ["..", "../../etc/passwd", "%2e%2e", "real.fits/..", ".x"])
def test_only_listed_files_are_served(client, served, filename):
    _, request, _ = served
    url = f"/staging/{request.staging.name}/{filename}"
    assert client.get(url).status_code == 404


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(reverse("request-list"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_login_with_a_verified_address(client, make_user):
    make_user("lemaitre", "georges@example.org")
    response = client.post(
        reverse("login"), {"username": "Georges@Example.org", "password": "correct horse battery"}
    )
    assert response.status_code == 302
    wrong = client.post(reverse("login"), {"username": "georges@example.org", "password": "x"})
    assert wrong.status_code == 200 and "correct username" in wrong.content.decode().lower()


def test_api_submit_and_follow(client, make_user, django_capture_on_commit_callbacks):
    register_real_dss_plate()
    make_user("baade", "walter@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(
            reverse("api-requests"),
            data={"text": f"{LINE}\nbad"},
            content_type="application/json",
            **basic("walter@example.org"),
        )
    assert created.status_code == 201
    body = created.json()
    assert body["n_fields"] == 1 and body["rejected"][0]["line"] == 2
    detail = client.get(reverse("api-request-detail", args=[body["id"]]), **basic("baade"))
    data = detail.json()
    assert data["status"] == "done" and data["fields"][0]["output_name"] == "real.fits"
    assert data["ftp_url"].endswith(f"/{data['staging']}/")


def test_api_refuses_without_or_with_wrong_credentials(client, make_user):
    make_user("baade", "walter@example.org")
    url = reverse("api-requests")
    no_auth = client.post(url, data="x", content_type="text/plain")
    # No Basic challenge: it would make browsers prompt, then replay the password cross-site.
    assert no_auth.status_code == 401 and "Basic" not in no_auth["WWW-Authenticate"]
    wrong = client.post(url, data="{}", content_type="application/json", **basic("baade", "nope"))
    assert wrong.status_code == 401
    bad_json = client.post(url, data="{", content_type="application/json", **basic("baade"))
    assert bad_json.status_code == 400 and "JSON" in bad_json.json()["error"]
    assert (
        client.get(reverse("api-request-detail", args=[999]), **basic("baade")).status_code == 404
    )
