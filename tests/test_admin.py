"""Every admin page staff use renders, with data in every model."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ, Schedule, Task
from django_q.signing import SignedPackage

from accounts.apppasswords import app_password_create
from accounts.models import EmailAddress, OidcIdentity, User
from accounts.tokens import api_token_create
from extraction.models import (
    CutoutUsage,
    Field,
    InboundMail,
    Plate,
    Request,
    ResolvedNameCache,
    StagingDirectory,
)
from extraction.text.naming import staging_name_new

pytestmark = pytest.mark.django_db


@pytest.fixture
def archive(make_user, staff_user):
    user = make_user("tombaugh", "clyde@example.org")
    plate = Plate.objects.create(
        survey="DSS1",
        plate_id="0025",
        region="S134",
        label="SJ01234",
        band="B",
        emulsion="IIIaJ",
        filter_name="GG395",
        telescope="UK Schmidt",
        epoch=1977.781,
        ra_deg=217.0,
        dec_deg=-62.0,
        pixel_scale_arcsec=1.7,
        plate_width_px=14000,
        plate_height_px=14000,
        x0=10,
        y0=20,
        width_px=300,
        height_px=300,
        header="SIMPLE  =                    T",
        data_file="DSS1/0025.fits",
        online=True,
    )
    request = Request.objects.create(
        user=user,
        source="mail",
        message_id="<1@example.org>",
        raw_text="field01 12 5 13 30 45 32 10. 10. B1950 DSS1 e G\nbad line",
        rejected_lines=[{"line": 2, "text": "bad line", "error": "2 columns, expected 12 or 13"}],
        n_fields=1,
        n_rejected=1,
    )
    Field.objects.create(
        request=request,
        line_no=1,
        raw_line="field01 12 5 13 30 45 32 10. 10. B1950 DSS1 e G",
        identifier="field01",
        stem="field01",
        equinox="B1950",
        ra_text="12 5 13",
        dec_text="30 45 32",
        ra_deg=181.9,
        dec_deg=30.5,
        width_arcmin=10,
        height_arcmin=10,
        survey="DSS1",
        mode="e",
        compression="G",
        plate=plate,
        status="done",
        output_name="field01.fits.gz",
        bytes=180_000,
    )
    name = staging_name_new(created=timezone.now().date())
    StagingDirectory.objects.create(
        user=user,
        request=request,
        name=name,
        path=f"{user.staging_area}/{name}",
        expires_at=timezone.now() + timedelta(days=10),
        bytes=180_000,
    )
    Group.objects.create(name="operators")
    Schedule.objects.create(func="extraction.tasks.expire_staging", name="expire staging")
    now = timezone.now()
    for success in (True, False):
        Task.objects.create(
            id=f"task{int(success)}",
            name=f"task-{success}",
            func="extraction.tasks.extract_field",
            started=now,
            stopped=now,
            success=success,
            result="ok" if success else "Traceback: boom",
        )
    OrmQ.objects.create(
        key="dssportal",
        payload=SignedPackage.dumps({"id": "x", "name": "queued", "func": "print"}),
        lock=now,
    )
    api_token_create(user=user, name="pipeline")
    app_password_create(user=user, label="FileZilla")
    OidcIdentity.objects.create(user=user, issuer="https://idp.example.org", subject="s-clyde")
    ResolvedNameCache.objects.create(
        key="3c273", found=True, name="3C 273", ra_deg=187.28, dec_deg=2.05, expires_at=now
    )
    CutoutUsage.objects.create(user=user, day=now.date(), n_cutouts=2, bytes=360_000)
    InboundMail.objects.create(
        message_id="<1@example.org>",
        sender="clyde@example.org",
        user=user,
        kind="request",
        subject="field01",
        size=80,
        outcome="accepted",
        request=request,
        replied=True,
        raw=b"From: clyde@example.org\r\n\r\nfield01 12 5 13 30 45 32 10. 10. B1950 DSS1 e G\r\n",
    )
    # A wrong password leaves log-in throttle counters to show.
    assert (
        authenticate(None, username=user.username, password="wrong", remote_address="192.0.2.7")
        is None
    )
    return request


def test_every_admin_list_and_change_page_renders(client, staff_user, archive) -> None:
    client.force_login(staff_user)
    assert client.get(reverse("admin:index")).status_code == 200
    rendered = 0
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        response = client.get(changelist)
        assert response.status_code == 200, changelist
        objects = model_admin.get_queryset(response.wsgi_request)
        assert objects.exists(), f"no {meta.model_name} rows to show"
        change = reverse(
            f"admin:{meta.app_label}_{meta.model_name}_change", args=[objects.first().pk]
        )
        response = client.get(change)
        assert response.status_code == 200, change
        rendered += 1
    assert rendered >= 10


def test_request_admin_shows_counts_links_and_fields(client, staff_user, archive) -> None:
    client.force_login(staff_user)
    page = client.get(reverse("admin:extraction_request_changelist")).content.decode()
    assert "tombaugh" in page
    assert archive.staging.name in page
    change = client.get(reverse("admin:extraction_request_change", args=[archive.pk]))
    text = change.content.decode()
    assert "field01.fits.gz" in text  # the Fields inline
    assert "2 columns, expected 12 or 13" in text  # rejected lines kept and shown
    assert 'name="raw_text"' not in text  # read-only: no editable textarea


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("field01", True),
        ("clyde@example.org", True),
        ("<1@example.org>", True),
        ("0025", True),
        ("nothing-like-it", False),
    ],
)
def test_request_search(client, staff_user, archive, query: str, found: bool) -> None:
    client.force_login(staff_user)
    response = client.get(reverse("admin:extraction_request_changelist"), {"q": query})
    assert (archive in response.context["cl"].result_list) is found


def test_filters(client, staff_user, archive) -> None:
    client.force_login(staff_user)
    url = reverse("admin:extraction_request_changelist")
    for params, found in [
        ({"status__exact": "queued"}, True),
        ({"status__exact": "done"}, False),
        ({"source__exact": "mail"}, True),
        ({"survey_band": "DSS1"}, True),
        ({"survey_band": "DSS2R"}, False),
    ]:
        result = client.get(url, params).context["cl"].result_list
        assert (archive in result) is found, params


def test_plates_are_read_in_the_admin_never_added_or_edited(client, staff_user, archive) -> None:
    """A plate comes from its import, which checks its plate solution: one added by hand
    without a header broke SIA-2, the maps and the cut-outs with 500s."""
    plate = Plate.objects.get()
    client.force_login(staff_user)
    add = reverse("admin:extraction_plate_add")
    made = {"survey": "DSS2", "plate_id": "ZZ99", "ra_deg": "10.68", "dec_deg": "41.27"}
    assert client.get(add).status_code == 403
    assert client.post(add, {**made, "data_file": "../../../../etc/passwd"}).status_code == 403
    change = reverse("admin:extraction_plate_change", args=[plate.pk])
    page = client.get(change)
    assert page.status_code == 200 and "0025" in page.content.decode()  # shown, read-only
    assert 'name="ra_deg"' not in page.content.decode()
    assert client.post(change, {"ra_deg": "999", "pixel_scale_arcsec": "-1"}).status_code == 403
    assert Plate.objects.count() == 1 and Plate.objects.get().ra_deg == plate.ra_deg
    listing = client.get(reverse("admin:extraction_plate_changelist")).content.decode()
    assert "Add plate" not in listing


def test_plate_sky_map_marks_online_plates(client, staff_user, archive) -> None:
    from extraction.models import Plate

    Plate.objects.create(
        **{
            **{f.name: getattr(Plate.objects.get(), f.name) for f in Plate._meta.fields},
            "id": None,
            "plate_id": "0FF9",
            "online": False,
            "data_file": "",
        }
    )
    client.force_login(staff_user)
    assert (
        "Sky map of the plates"
        in client.get(reverse("admin:extraction_plate_changelist")).content.decode()
    )
    page = client.get(reverse("admin:plate-sky-map"), {"survey": "DSS1"}).content.decode()
    assert page.count('<path class="on"') == 1 and page.count('<path class="off"') == 1
    assert "<title>0025 (online)</title>" in page and "<title>0FF9</title>" in page
    assert "2 plates, 1 online" in page


def test_plate_list_shows_sexagesimal_positions_and_rounded_epochs(
    client, staff_user, archive
) -> None:
    client.force_login(staff_user)
    page = client.get(reverse("admin:extraction_plate_changelist")).content.decode()
    # RA 217.0 deg = 14h28m00s; Dec -62.0; epoch 1977.781 rounded to 1977.78.
    assert "14 28 00" in page and "-62 00 00" in page and "1977.78<" in page
    assert "217.0<" not in page and "1977.781" not in page
    map_page = client.get(reverse("admin:plate-sky-map"), {"survey": "DSS1"}).content.decode()
    assert "+60°" in map_page and "-30°" in map_page
    assert 'width="100%"' in map_page


#: The admin's change form of user alice, without its e-mail field.
ALICE_CHANGE_FORM = {
    "username": "alice",
    "first_name": "",
    "last_name": "",
    "is_active": "on",
    "date_joined_0": "2026-01-01",
    "date_joined_1": "00:00:00",
    "quota_mb": "500",
    "affiliation": "",
    "addresses-TOTAL_FORMS": "0",
    "addresses-INITIAL_FORMS": "0",
}


def test_staff_cannot_give_a_user_another_users_address(client, staff_user, make_user) -> None:
    """Mail to and from that address would then act for the wrong person."""
    alice = make_user("alice", "alice@example.org")
    bob = make_user("bob", "bob@example.org")
    EmailAddress.objects.create(user=bob, email="bob.work@example.net", verified=True)
    client.force_login(staff_user)
    url = reverse("admin:accounts_user_change", args=[alice.pk])
    form = ALICE_CHANGE_FORM
    for taken in ("Bob.Work@example.net", "BOB@example.org"):
        response = client.post(url, {**form, "email": taken})
        assert response.status_code == 200
        assert "is a registered address of user bob" in response.content.decode()
    alice.refresh_from_db()
    assert alice.email == "alice@example.org"
    response = client.post(url, {**form, "email": "alice.new@example.org"})
    assert response.status_code == 302, response.content.decode()[:2000]
    alice.refresh_from_db()
    assert alice.email == "alice.new@example.org"


def test_a_primary_address_shared_with_another_user_is_refused_also_when_kept(
    client, staff_user, make_user
) -> None:
    """Alice's primary address is already Bob's registered one (an earlier edit, or Bob's
    address added on his page): saving Alice's form with it unchanged is refused too."""
    alice = make_user("alice", "alice@example.org")
    bob = make_user("bob", "bob@example.org")
    EmailAddress.objects.create(user=bob, email="shared@example.net", verified=True)
    User.objects.filter(pk=alice.pk).update(email="shared@example.net")
    client.force_login(staff_user)
    url = reverse("admin:accounts_user_change", args=[alice.pk])
    response = client.post(url, {**ALICE_CHANGE_FORM, "email": "shared@example.net"})
    assert response.status_code == 200
    assert "is a registered address of user bob" in response.content.decode()


def test_the_survey_filter_lists_each_survey_once_and_finds_its_aliases(
    client, staff_user, archive
) -> None:
    """DSS2 is DSS2R: one entry, which finds fields written either way."""
    field = archive.fields.get()
    other = Field.objects.get(pk=field.pk)
    other.pk = None
    other.line_no, other.survey, other.stem = 2, "DSS2", "field02"
    other.save()
    client.force_login(staff_user)
    response = client.get(reverse("admin:extraction_request_changelist"))
    page = response.content.decode()
    assert page.count("?survey_band=DSS2R") == 1
    assert "?survey_band=DSS2&" not in page and '?survey_band=DSS2"' not in page
    for params in ({"survey_band": "DSS2R"},):
        found = client.get(reverse("admin:extraction_field_changelist"), params)
        assert [f.survey for f in found.context["cl"].result_list] == ["DSS2"]


@pytest.mark.parametrize("model", ["request", "field", "stagingdirectory"])
def test_requests_fields_and_directories_cannot_be_added_or_deleted_by_hand(
    client, staff_user, archive, model: str
) -> None:
    client.force_login(staff_user)
    add = client.get(reverse(f"admin:extraction_{model}_add"))
    assert add.status_code == 403
    pk = {"request": archive.pk, "field": archive.fields.get().pk}.get(model) or archive.staging.pk
    delete = client.post(reverse(f"admin:extraction_{model}_delete", args=[pk]), {"post": "yes"})
    assert delete.status_code == 403
    assert Request.objects.filter(pk=archive.pk).exists()
    assert StagingDirectory.objects.filter(pk=archive.staging.pk).exists()


def test_bulk_delete_of_requests_is_not_offered(client, staff_user, archive) -> None:
    client.force_login(staff_user)
    client.post(
        reverse("admin:extraction_request_changelist"),
        {"action": "delete_selected", "_selected_action": [archive.pk], "post": "yes"},
    )
    assert Request.objects.filter(pk=archive.pk).exists()
    changelist = client.get(reverse("admin:extraction_request_changelist"))
    offered = [name for name, _label in changelist.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in offered
    assert "cancel_requests" in offered


def test_a_user_with_requests_cannot_be_deleted_leaving_files_behind(
    client, staff_user, archive
) -> None:
    client.force_login(staff_user)
    user = archive.user
    url = reverse("admin:accounts_user_delete", args=[user.pk])
    page = client.get(url).content.decode()
    assert "permission to delete the following types of objects" in page
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=user.pk).exists()


def test_a_request_status_cannot_be_set_by_hand(client, staff_user, archive) -> None:
    client.force_login(staff_user)
    url = reverse("admin:extraction_request_change", args=[archive.pk])
    page = client.get(url).content.decode()
    assert 'name="status"' not in page
    client.post(url, {"status": "done"})
    archive.refresh_from_db()
    assert archive.status == "queued"
