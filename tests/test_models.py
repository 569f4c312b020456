"""Database constraints that keep the archive consistent whatever code writes to it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import EmailAddress, User
from extraction.models import Field, Plate, Request, StagingDirectory
from extraction.text.naming import is_staging_name, staging_name_new

pytestmark = pytest.mark.django_db


def a_request(user: User, message_id: str | None) -> Request:
    return Request.objects.create(user=user, source="mail", message_id=message_id, raw_text="x")


def test_message_id_unique_when_present(make_user) -> None:
    user = make_user()
    a_request(user, "<abc@mail.example.org>")
    a_request(user, None)
    a_request(user, None)  # web requests carry no Message-ID: many may coexist
    with pytest.raises(IntegrityError), transaction.atomic():
        a_request(user, "<abc@mail.example.org>")
    assert Request.objects.count() == 3
    # Unique per user: another sender's message may carry the same id.
    a_request(make_user("other", "other@example.org"), "<abc@mail.example.org>")
    assert Request.objects.filter(message_id="<abc@mail.example.org>").count() == 2


def test_staging_name_must_match_the_pattern(make_user) -> None:
    user = make_user()
    expires = timezone.now() + timedelta(days=10)
    good = staging_name_new(created=timezone.now().date())
    assert is_staging_name(good)
    StagingDirectory.objects.create(
        user=user, name=good, path=f"user-{user.pk}/{good}", expires_at=expires
    )
    for bad in ["../etc", "dss-2026-abc", good.upper(), good + "x", "dss-20261124-abc*"]:
        with pytest.raises(IntegrityError), transaction.atomic():
            StagingDirectory.objects.create(
                user=user, name=bad, path=f"user-{user.pk}/{bad}", expires_at=expires
            )
    with pytest.raises(IntegrityError), transaction.atomic():
        StagingDirectory.objects.create(user=user, name=good, path="x", expires_at=expires)


def test_staging_names_are_unguessable() -> None:
    names = {staging_name_new(created=timezone.now().date()) for _ in range(2000)}
    assert len(names) == 2000
    assert all(is_staging_name(n) for n in names)


def test_addresses_unique_without_regard_to_case(make_user) -> None:
    user = make_user(email="Vera.Rubin@example.org")
    with pytest.raises(IntegrityError), transaction.atomic():
        EmailAddress.objects.create(user=user, email="vera.rubin@EXAMPLE.org")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="other", email="VERA.RUBIN@example.org")


def test_plate_ids_unique_per_survey_and_online_needs_data() -> None:
    common = dict(
        ra_deg=10.0,
        dec_deg=-20.0,
        pixel_scale_arcsec=1.7,
        plate_width_px=14000,
        plate_height_px=14000,
        width_px=14000,
        height_px=14000,
        header="",
    )
    Plate.objects.create(survey="DSS1", plate_id="0025", **common)
    Plate.objects.create(survey="DSS2", plate_id="0025", **common)
    with pytest.raises(IntegrityError), transaction.atomic():
        Plate.objects.create(survey="DSS1", plate_id="0025", **common)
    with pytest.raises(IntegrityError), transaction.atomic():
        Plate.objects.create(survey="DSS1", plate_id="04IN", online=True, **common)


def test_field_lines_and_stems_unique_in_a_request(make_user) -> None:
    request = a_request(make_user(), None)
    values = dict(
        raw_line="x",
        identifier="m31",
        equinox="J2000",
        ra_text="0 42 44",
        dec_text="+41 16 9",
        ra_deg=10.68,
        dec_deg=41.27,
        width_arcmin=10,
        height_arcmin=10,
        survey="DSS2",
        mode="e",
        compression="U",
    )
    Field.objects.create(request=request, line_no=1, stem="m31", **values)
    with pytest.raises(IntegrityError), transaction.atomic():
        Field.objects.create(request=request, line_no=1, stem="m31_2", **values)
    with pytest.raises(IntegrityError), transaction.atomic():
        Field.objects.create(request=request, line_no=2, stem="m31", **values)
