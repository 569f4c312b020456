"""Mode m through the portal: request lists, /api/cutout MODE=mosaic, the records of the plates
used, the replies, the request page, the quota estimate and the plate finder.

The plates are the synthetic ones of ``tests.mosaic_sky`` (three partial DSS2 red plates
around a 10'x10' field, with known background offsets), registered through the portal's own
``plate_register``.
"""

from __future__ import annotations

import gzip
import io

import numpy as np
import pytest
from astropy.io import fits
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.tokens import api_token_create
from extraction.core.cutout import sexagesimal_dec, sexagesimal_ra
from extraction.core.mosaic import MOSAIC_BLANK, expected_mosaic_bytes
from extraction.models import Field, FieldPlate, Plate
from extraction.services.previews import field_preview_file
from extraction.services.requests import request_create_from_text
from tests.factories import register_plate
from tests.mosaic_sky import FIELD_DEC, FIELD_RA, NOISE_SIGMA, field_plates

pytestmark = pytest.mark.django_db

RA, DEC = sexagesimal_ra(FIELD_RA), sexagesimal_dec(FIELD_DEC)


def line(mode: str, identifier: str = "m82ish", compression: str = "U", size: int = 10) -> str:
    return f"{identifier} {RA} {DEC} {size} {size} J2000 DSS2 {mode} {compression}"


@pytest.fixture
def plates() -> list[Plate]:
    return [
        register_plate(sky.header.copy(), survey="DSS2", band="R", data=sky.data)
        for sky in field_plates()
    ]


def submit(user, text: str, capture):
    with capture(execute=True):
        return request_create_from_text(user=user, text=text, source="mail")


def open_fits(payload: bytes) -> fits.HDUList:
    return fits.open(io.BytesIO(payload))


def test_a_mosaic_line_is_staged_with_its_plates_recorded_and_named(
    make_user, plates, django_capture_on_commit_callbacks
):
    user = make_user()
    outcome = submit(user, line("m", compression="G"), django_capture_on_commit_callbacks)
    field = Field.objects.get(request=outcome.request)
    assert field.mode == "m" and field.status == "done", field.message
    payload = (field.request.staging.absolute_path / field.output_name).read_bytes()
    assert field.output_name == "m82ish.fits.gz"
    with open_fits(gzip.decompress(payload)) as hdul:
        header, platemap = hdul[0].header, hdul["PLATEMAP"].data
        data = hdul[0].data
        assert "PLTRAH" not in header and header["CTYPE1"] == "RA---TAN"
        assert header["NPLATES"] == 3
        named = [header[f"PLATE{n}"] for n in (1, 2, 3)]
        offsets = [header[f"OFFSET{n}"] for n in (1, 2, 3)]
        assert np.isnan(data[platemap == 0]).all() and not np.isnan(data[platemap > 0]).any()
    assert sorted(named) == ["4M01", "4M02", "4M03"]
    records = list(FieldPlate.objects.filter(field=field))
    assert [r.plate_code for r in records] == named
    assert [r.position for r in records] == [1, 2, 3]
    assert [r.offset for r in records] == pytest.approx(offsets, abs=1e-3)
    by_id = {p.plate_id: p for p in plates}
    assert all(r.plate == by_id[r.plate_code] and r.region == r.plate.region for r in records)
    assert sum(r.pixels for r in records) == int((platemap > 0).sum())
    # Offsets put in: 4M02 +400, 4M03 -250 relative to 4M01.
    solved = {r.plate_code: r.offset for r in records}
    assert solved["4M02"] - solved["4M01"] == pytest.approx(400.0, abs=3 * NOISE_SIGMA / 4)
    assert field.plate is None and field.plate_reason.startswith("m: mosaic of 3 plate(s)")
    assert field.clipped and "BLANK" in field.message  # the north-west corner has no plate
    # The completion mail names the plates.
    body = mail.outbox[-1].body
    assert "mosaic of plates " + ", ".join(named) in body
    # The request page's quick-look reads the mosaic's primary image.
    preview = field_preview_file(field=field)
    assert preview is not None and preview.read_bytes().startswith(b"\x89PNG")


def test_the_request_page_and_the_api_say_which_plates_were_used(
    client, make_user, plates, django_capture_on_commit_callbacks
):
    user = make_user()
    text = line("m") + "\n" + line("e", identifier="single")
    outcome = submit(user, text, django_capture_on_commit_callbacks)
    client.force_login(user)
    page = client.get(reverse("request-detail", args=[outcome.request.pk])).content.decode()
    mosaic_row = page.split('id="field-m82ish"')[1].split("</tr>")[0]
    assert "mosaic of" in mosaic_row
    for plate_id in ("4M01", "4M02", "4M03"):
        assert f">{plate_id}</a>" in mosaic_row
    raw = api_token_create(user=user)[1]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    answer = api.get(f"/api/requests/{outcome.request.pk}").json()
    used = {f["identifier"]: f["plates_used"] for f in answer["fields"]}
    recorded = list(
        FieldPlate.objects.filter(field__identifier="m82ish").values_list("plate_code", flat=True)
    )
    assert used["m82ish"] == recorded and len(recorded) == 3
    single = Field.objects.get(identifier="single")
    assert used["single"] == [single.plate.plate_id]  # mode e: one plate, unresampled


def test_modes_e_and_plate_id_keep_the_single_plate_cut_out(
    make_user, plates, django_capture_on_commit_callbacks
):
    outcome = submit(
        make_user(), line("e") + "\n" + line("4M02", identifier="named"),
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    for field in Field.objects.filter(request=outcome.request):
        assert field.status == "done" and field.plate is not None
        payload = (field.request.staging.absolute_path / field.output_name).read_bytes()
        with open_fits(payload) as hdul:
            assert len(hdul) == 1 and "PLTRAH" in hdul[0].header and "NPLATES" not in hdul[0].header
    assert not FieldPlate.objects.exists()


def test_the_quota_estimate_counts_the_mosaic_and_holds_the_file(
    make_user, plates, django_capture_on_commit_callbacks
):
    outcome = submit(make_user(), line("m", size=8), django_capture_on_commit_callbacks)
    field = Field.objects.get(request=outcome.request)
    assert field.expected_bytes == expected_mosaic_bytes("DSS2", 8.0, 8.0)
    assert field.bytes <= field.expected_bytes < field.bytes + 16 * 2880
    # Image (2 bytes) and PLATEMAP (1 byte) per pixel: half as much again as a cut-out.
    cut = submit(make_user(), line("e", size=8), django_capture_on_commit_callbacks)
    assert field.expected_bytes > 1.4 * Field.objects.get(request=cut.request).expected_bytes


def test_a_mosaic_with_no_online_plate_is_skipped_with_the_reason(
    make_user, plates, django_capture_on_commit_callbacks
):
    Plate.objects.update(online=False, data_file="")
    outcome = submit(make_user(), line("m"), django_capture_on_commit_callbacks)
    field = Field.objects.get(request=outcome.request)
    assert field.status == "skipped"
    assert "no online DSS2 red plate" in field.message and "not online" in field.message


def test_api_cutout_mode_mosaic(make_user, plates):
    raw = api_token_create(user=make_user())[1]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    query = {"RA": repr(FIELD_RA), "DEC": repr(FIELD_DEC), "SIZE": repr(10 / 60), "SURVEY": "DSS2"}
    response = api.get("/api/cutout", {**query, "MODE": "mosaic", "ID": "mos"})
    assert response.status_code == 200, response.content
    with open_fits(response.content) as hdul:
        header = hdul[0].header
        assert header["NPLATES"] == 3 and "PLATEMAP" in hdul and "CNPIX1" not in header
        plate_ids = [header[f"PLATE{n}"] for n in (1, 2, 3)]
    assert response["X-DSS-Plate"] == ",".join(plate_ids)
    assert response["X-DSS-Clipped"] == "yes"  # the north-west corner lies on no plate
    single = api.get("/api/cutout", {**query, "MODE": "e"})
    assert single.status_code == 200 and "," not in single["X-DSS-Plate"]
    with open_fits(single.content) as hdul:
        assert "PLTRAH" in hdul[0].header and len(hdul) == 1
    png = api.get("/api/cutout", {**query, "MODE": "mosaic", "FORMAT": "png"})
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    bad = api.get("/api/cutout", {**query, "MODE": "mosaics"})
    assert bad.status_code == 400 and "mosaic" in bad.json()["error"]


def test_one_plate_covering_still_gives_a_resampled_mosaic(make_user, plates):
    raw = api_token_create(user=make_user())[1]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    # A small field inside 4M01 alone (east of the field centre, north of 4M03's band).
    query = {"RA": repr(FIELD_RA + 0.1), "DEC": repr(FIELD_DEC + 0.05), "SIZE": "0.02"}
    response = api.get("/api/cutout", {**query, "SURVEY": "DSS2", "MODE": "mosaic"})
    assert response.status_code == 200, response.content
    with open_fits(response.content) as hdul:
        assert hdul[0].header["NPLATES"] == 1 and hdul[0].header["PLATE1"] == "4M01"
        assert (hdul["PLATEMAP"].data == 1).all()
        assert hdul[0].header.get("BLANK") == MOSAIC_BLANK


def test_the_plate_finder_offers_a_mosaic_when_no_single_plate_covers(client, make_user, plates):
    client.force_login(make_user())
    query = {"lon": f"{RA}", "lat": f"{DEC}", "frame": "J2000", "width": "10", "height": "10"}
    page = client.get(reverse("plate-finder"), {**query, "survey": "DSS2R"}).content.decode()
    assert 'id="mosaic-DSS2R"' in page and "mode <code>m</code> (mosaic)" in page
    offer = client.get(reverse("plate-covering"), {**query, "survey": "DSS2R"}).json()
    assert offer["mosaic_offered"] is True
    # A small field that 4M01 covers whole: no offer.
    inside = {"lon": sexagesimal_ra(FIELD_RA + 0.1), "lat": sexagesimal_dec(FIELD_DEC + 0.05)}
    small = {**query, **inside, "width": "1", "height": "1"}
    page = client.get(reverse("plate-finder"), {**small, "survey": "DSS2R"}).content.decode()
    assert "mosaic-DSS2R" not in page
    assert client.get(reverse("plate-covering"), small).json()["mosaic_offered"] is False
    raw = api_token_create(user=make_user())[1]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    found = api.get(
        "/api/plates",
        {"ra": FIELD_RA, "dec": FIELD_DEC, "width": 10, "height": 10, "survey": "DSS2R"},
    ).json()
    assert [g["mosaic_offered"] for g in found["surveys"]] == [True]


def test_staff_see_a_mosaic_fields_plates_in_the_admin(
    client, make_user, staff_user, plates, django_capture_on_commit_callbacks
):
    outcome = submit(make_user(), line("m"), django_capture_on_commit_callbacks)
    field = Field.objects.get(request=outcome.request)
    client.force_login(staff_user)
    page = client.get(reverse("admin:extraction_field_change", args=[field.pk])).content.decode()
    for record in FieldPlate.objects.filter(field=field):
        assert record.plate_code in page
    assert "offset subtracted" in page.lower()


def test_the_request_page_reads_the_plates_of_all_mosaics_at_once(
    client, make_user, plates, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    user = make_user()
    client.force_login(user)
    counts = []
    for n in (1, 3):
        text = "\n".join(line("m", identifier=f"m{n}x{i}", size=3) for i in range(n))
        outcome = submit(user, text, django_capture_on_commit_callbacks)
        with CaptureQueriesContext(connection) as queries:
            page = client.get(reverse("request-detail", args=[outcome.request.pk]))
        assert page.content.decode().count('class="mosaic-plates"') == n
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]
