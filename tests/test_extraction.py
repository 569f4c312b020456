"""The extraction pipeline end to end: text in, FITS files in a staging directory, one mail."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import warnings
from datetime import timedelta

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from extraction.core.plates import PlateGeometry, angular_distance_deg
from extraction.models import Field, Plate, Request, StagingDirectory
from extraction.services.extraction import field_extract
from extraction.services.requests import request_create_from_text
from extraction.services.selection import FieldSkip, FieldTarget, plate_select
from tests.factories import dss_header, register_plate, register_real_dss_plate

pytestmark = pytest.mark.django_db

# The real plate 0025 (S134) cut-out covers about 2.8' around 14 29 56 -62 41 05.
REAL_LINE = "real 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 {c}"


def submit(user, text: str, capture, message_id: str | None = None):
    with capture(execute=True):
        outcome = request_create_from_text(
            user=user, text=text, source="mail", message_id=message_id
        )
    return outcome


def staged_file(field: Field) -> bytes:
    directory = field.request.staging
    return (directory.absolute_path / field.output_name).read_bytes()


def read_fits(payload: bytes) -> fits.HDUList:
    return fits.open(io.BytesIO(payload), do_not_scale_image_data=True)


def standard_only(header: fits.Header) -> fits.Header:
    """The cut-out header without the DSS plate solution: what non-DSS software reads."""
    stripped = header.copy()
    for key in list(stripped.keys()):
        if key.startswith(("PLT", "PPO", "AMD", "CNPIX", "XPIXELSZ", "YPIXELSZ")):
            del stripped[key]
    return stripped


def test_real_dss_plate_cut_out_is_pixel_exact_with_a_wcs_within_a_tenth_arcsec(
    make_user, django_capture_on_commit_callbacks
):
    plate, data, plate_header = register_real_dss_plate()
    user = make_user()
    outcome = submit(user, REAL_LINE.format(c="U"), django_capture_on_commit_callbacks)
    field = outcome.request.fields.get()
    field.refresh_from_db()
    assert field.status == "done", field.message
    assert field.plate == plate and field.output_name == "real.fits"
    with read_fits(staged_file(field)) as hdul:
        hdu = hdul[0]
        header = hdu.header
        assert header["BITPIX"] == 16
        x0 = header["CNPIX1"] - plate_header["CNPIX1"]
        y0 = header["CNPIX2"] - plate_header["CNPIX2"]
        ny, nx = hdu.data.shape
        assert nx == ny == round(60 / 1.6995)
        np.testing.assert_array_equal(hdu.data, data[y0 : y0 + ny, x0 : x0 + nx])
        assert header["OBJECT"] == "real"
        assert header["OBJCTRA"].startswith("14 29 56.0")
        assert header["OBJCTDEC"].startswith("-62 41 05.0")
        assert "NAG W-2166" in str(header)  # the DSS acknowledgement

        # Reference: astropy reading the original plate's own DSS header.
        plate_geometry = PlateGeometry(plate_header)
        uu, vv = np.meshgrid(np.linspace(0, nx - 1, 9), np.linspace(0, ny - 1, 9))
        ra_ref, dec_ref = plate_geometry.pixel_to_sky(uu.ravel() + x0, vv.ravel() + y0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            standard = WCS(standard_only(header), key="A")
            as_read = WCS(header)
        assert header["CTYPE1A"] == "RA---TPV" and "CTYPE1" not in header
        for wcs in (standard, as_read):
            ra, dec = wcs.all_pix2world(uu.ravel(), vv.ravel(), 0)
            assert angular_distance_deg(ra, dec, ra_ref, dec_ref).max() * 3600 < 0.1
        # The requested centre is within half a pixel of the image centre.
        cx, cy = standard.all_world2pix(217.48333, -62.68472, 0)
        assert abs(cx - (nx - 1) / 2) <= 0.5 and abs(cy - (ny - 1) / 2) <= 0.5


@pytest.mark.parametrize(
    ("letter", "suffix", "opener"),
    [
        ("U", ".fits", lambda b: b),
        ("G", ".fits.gz", gzip.decompress),
        ("B", ".fits.bz2", bz2.decompress),
        ("X", ".fits.xz", lzma.decompress),
    ],
)
def test_every_compression_round_trips(
    make_user, django_capture_on_commit_callbacks, letter, suffix, opener
):
    _, data, plate_header = register_real_dss_plate()
    outcome = submit(make_user(), REAL_LINE.format(c=letter), django_capture_on_commit_callbacks)
    field = outcome.request.fields.get()
    field.refresh_from_db()
    assert field.output_name == f"real{suffix}"
    payload = staged_file(field)
    assert field.bytes == len(payload)
    with read_fits(opener(payload)) as hdul:
        x0 = hdul[0].header["CNPIX1"] - plate_header["CNPIX1"]
        y0 = hdul[0].header["CNPIX2"] - plate_header["CNPIX2"]
        ny, nx = hdul[0].data.shape
        np.testing.assert_array_equal(hdul[0].data, data[y0 : y0 + ny, x0 : x0 + nx])


def test_field_across_the_plate_edge_is_clipped_with_blank_pixels(
    make_user, django_capture_on_commit_callbacks
):
    header = dss_header(150.0, 20.0, plate_id="0E01", corner=(6700, 6700), naxis=(600, 600))
    plate = register_plate(header, survey="DSS1", band="R")
    geometry = PlateGeometry(header)
    # A field centred 20 px inside the left edge of the scan: most of it is off the scan.
    ra, dec = geometry.pixel_to_sky(20.0, 300.0)
    from extraction.core.cutout import sexagesimal_dec, sexagesimal_ra

    line = f"edge {sexagesimal_ra(float(ra))} {sexagesimal_dec(float(dec))} 3 3 J2000 DSS1 e U"
    outcome = submit(make_user(), line, django_capture_on_commit_callbacks)
    field = outcome.request.fields.get()
    field.refresh_from_db()
    assert field.status == "done" and field.clipped and field.plate == plate
    assert "BLANK" in field.message or "off the digitized plate" in field.message
    with read_fits(staged_file(field)) as hdul:
        blank = hdul[0].header["BLANK"]
        pixels = hdul[0].data
        assert (pixels[:, :10] == blank).all()  # the left columns lie off the scan
        assert (pixels[:, -10:] != blank).all()
    assert "runs off the digitized plate" in mail.outbox[-1].body


def test_quota_refusal_names_the_numbers(make_user, django_capture_on_commit_callbacks):
    register_real_dss_plate()
    user = make_user(quota_mb=1)
    text = "\n".join([REAL_LINE.format(c="U"), "big 14 29 56 -62 41 05 60 60 J2000 DSS2 e U"])
    outcome = submit(user, text, django_capture_on_commit_callbacks)
    small, big = outcome.request.fields.order_by("line_no")
    small.refresh_from_db(), big.refresh_from_db()
    assert small.status == "done"
    assert big.status == "skipped"
    assert "needs about 26.0 MB" in big.message
    assert "of your 1.0 MB staging quota remain" in big.message


def test_unknown_and_offline_plates_are_skipped_with_the_reason(
    make_user, django_capture_on_commit_callbacks
):
    register_plate(
        dss_header(217.48, -62.68, plate_id="0FF1", naxis=(14000, 14000)),
        survey="DSS1",
        band="B",
        online=False,
    )
    text = (
        "a 14 29 56 -62 41 05 1 1 J2000 DSS1 0FF1 U\nb 14 29 56 -62 41 05 1 1 J2000 DSS1 ZZ99 U\n"
    )
    user = make_user()
    outcome = submit(user, text, django_capture_on_commit_callbacks)
    # The unknown plate id is a rejected line at receipt: no field, nothing reserved.
    (offline,) = outcome.request.fields.order_by("line_no")
    offline.refresh_from_db()
    assert offline.status == "skipped" and "not online" in offline.message
    (rejected,) = outcome.rejected
    assert rejected["line"] == 2
    assert "ZZ99 is not in this archive's DSS1 catalogue" in str(rejected["error"])
    assert outcome.request.n_rejected == 1
    body = mail.outbox[-1].body
    assert "line 1 (a)" in body


def test_modes_e_and_c_choose_different_plates():
    """Plate A is centred 1 deg from the field: closest centre (mode c). Plate B's centre
    is 2.5 deg away but its digitized scan is centred on the field while the field sits
    near the edge of A's scan: furthest from the edge (mode e)."""
    field_ra, field_dec = 180.0, 10.0
    geometry_a = PlateGeometry(dss_header(181.0, 10.0, naxis=(14000, 14000)))
    fx, fy = geometry_a.sky_to_pixel(field_ra, field_dec)
    # A: a scan whose right edge is 150 px beyond the field centre.
    a_corner = (int(fx) + 150 - 3000, int(fy) - 1500)
    a = register_plate(
        dss_header(181.0, 10.0, plate_id="0A01", corner=a_corner, naxis=(3000, 3000)),
        survey="DSS1",
        online=False,
    )
    geometry_b = PlateGeometry(dss_header(182.5, 10.0, naxis=(14000, 14000)))
    bx, by = geometry_b.sky_to_pixel(field_ra, field_dec)
    b_corner = (int(bx) - 1500, int(by) - 1500)
    b = register_plate(
        dss_header(182.5, 10.0, plate_id="0B01", corner=b_corner, naxis=(3000, 3000)),
        survey="DSS1",
        online=False,
    )
    edge = FieldTarget("DSS1", "e", "", field_ra, field_dec, 5.0, 5.0)
    centre = FieldTarget("DSS1", "c", "", field_ra, field_dec, 5.0, 5.0)
    # Neither is online: nothing is served, and the reason names the plate that would be.
    with pytest.raises(FieldSkip, match="plate 0B01 does, but its pixels are not online"):
        plate_select(edge)
    with pytest.raises(FieldSkip, match="plate 0A01 does, but its pixels are not online"):
        plate_select(centre)
    # Only A online: both modes take A (an archive serves what it holds); e says B is better.
    _set_online(a, True)
    chosen = plate_select(edge)
    assert chosen.plate == a
    assert "plate 0B01 would be better but its pixels are not online" in chosen.reason
    assert plate_select(centre).plate == a and "would be better" not in plate_select(centre).reason
    # Only B online: c takes B, naming A as the closer centre.
    _set_online(a, False)
    _set_online(b, True)
    assert plate_select(edge).plate == b and "would be better" not in plate_select(edge).reason
    chosen = plate_select(centre)
    assert chosen.plate == b and "plate 0A01 would be better" in chosen.reason
    # Both online: each mode's own best.
    _set_online(a, True)
    assert plate_select(edge).plate == b
    assert plate_select(centre).plate == a


def _set_online(plate: Plate, online: bool) -> None:
    """Mark a catalogued plate online or not (selection reads only the catalogue)."""
    Plate.objects.filter(pk=plate.pk).update(
        online=online, data_file=f"{plate.plate_id}.fits" if online else ""
    )


def test_mode_n_lists_plates_in_a_file_and_in_the_mail(
    make_user, django_capture_on_commit_callbacks
):
    register_real_dss_plate()
    register_plate(
        dss_header(217.0, -62.0, plate_id="0FF2", naxis=(14000, 14000)),
        survey="DSS1",
        band="B",
        online=False,
    )
    outcome = submit(
        make_user(), "list 14 29 56 -62 41 05 1 1 J2000 DSS1 n", django_capture_on_commit_callbacks
    )
    field = outcome.request.fields.get()
    field.refresh_from_db()
    assert field.output_name == "list.plates.txt"
    table = staged_file(field).decode()
    assert "0025" in table and "0FF2" in table
    assert "0025" in mail.outbox[-1].body


def test_duplicated_tasks_write_once_and_mail_once(make_user, django_capture_on_commit_callbacks):
    register_real_dss_plate()
    text = "\n".join(REAL_LINE.format(c=c).replace("real", f"r{c}") for c in "UGBX")
    with django_capture_on_commit_callbacks(execute=False):
        outcome = request_create_from_text(user=make_user(), text=text, source="web")
    ids = list(outcome.request.fields.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        for field_id in ids + ids[::-1] + ids:
            field_extract(field_id=field_id)
    assert len(mail.outbox) == 1
    request = Request.objects.get(pk=outcome.request.pk)
    assert request.status == "done" and request.n_done == 4
    assert set(Field.objects.values_list("attempts", flat=True)) == {1}
    staged = request.staging
    assert staged.bytes == sum(Field.objects.values_list("bytes", flat=True))
    assert sorted(p.name for p in staged.absolute_path.iterdir()) == sorted(
        Field.objects.values_list("output_name", flat=True)
    )


def test_the_same_message_id_makes_one_request(make_user, django_capture_on_commit_callbacks):
    register_real_dss_plate()
    user = make_user()
    first = submit(user, REAL_LINE.format(c="U"), django_capture_on_commit_callbacks, "<m@x>")
    again = submit(user, REAL_LINE.format(c="U"), django_capture_on_commit_callbacks, "<m@x>")
    assert again.duplicate and again.request.pk == first.request.pk
    assert Request.objects.count() == 1 and len(mail.outbox) == 1


def test_rejected_lines_are_kept_and_a_list_with_none_valid_is_stored(make_user):
    outcome = request_create_from_text(user=make_user(), text="junk\nmore junk here", source="mail")
    request = Request.objects.get(pk=outcome.request.pk)
    assert request.status == "rejected" and request.n_rejected == 2
    assert [r["line"] for r in request.rejected_lines] == [1, 2]


def test_expiry_deletes_the_directory_and_marks_it(make_user, django_capture_on_commit_callbacks):
    register_real_dss_plate()
    outcome = submit(make_user(), REAL_LINE.format(c="U"), django_capture_on_commit_callbacks)
    directory = StagingDirectory.objects.get(request=outcome.request)
    path = directory.absolute_path
    assert path.is_dir()
    call_command("expire_staging", stdout=io.StringIO())
    assert path.is_dir()  # not yet expired
    StagingDirectory.objects.filter(pk=directory.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    out = io.StringIO()
    call_command("expire_staging", stdout=out)
    directory.refresh_from_db()
    assert not path.exists()
    assert directory.deleted_at is not None and directory.deleted_reason == "expired"
    assert f"expired {directory.name}" in out.getvalue()


def test_admin_actions_retry_cancel_and_expire(
    client, staff_user, make_user, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    register_real_dss_plate()
    user = make_user()
    outcome = submit(user, REAL_LINE.format(c="U"), django_capture_on_commit_callbacks)
    field = outcome.request.fields.get()
    Field.objects.filter(pk=field.pk).update(status="failed", message="boom")
    client.force_login(staff_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:extraction_request_changelist"),
            {"action": "retry_failed_fields", "_selected_action": [outcome.request.pk]},
        )
    field.refresh_from_db()
    assert field.status == "done" and field.attempts == 2

    with django_capture_on_commit_callbacks(execute=False):
        queued = request_create_from_text(user=user, text=REAL_LINE.format(c="G"), source="web")
    client.post(
        reverse("admin:extraction_request_changelist"),
        {"action": "cancel_requests", "_selected_action": [queued.request.pk]},
    )
    cancelled = Request.objects.get(pk=queued.request.pk)
    assert cancelled.status == "cancelled"
    assert cancelled.fields.get().status == "cancelled"

    directory = StagingDirectory.objects.get(request=outcome.request)
    client.post(
        reverse("admin:extraction_stagingdirectory_changelist"),
        {"action": "expire_now", "_selected_action": [directory.pk]},
    )
    directory.refresh_from_db()
    assert directory.deleted_at is not None and not directory.absolute_path.exists()


def test_a_message_id_reused_by_another_user_does_not_reveal_their_request(
    make_user, django_capture_on_commit_callbacks
):
    register_real_dss_plate()
    first = submit(
        make_user(), REAL_LINE.format(c="U"), django_capture_on_commit_callbacks, "<m@x>"
    )
    other = submit(
        make_user(), REAL_LINE.format(c="G"), django_capture_on_commit_callbacks, "<m@x>"
    )
    assert not other.duplicate and other.request.pk != first.request.pk
    assert other.request.user != first.request.user
    assert other.request.message_id == "<m@x>"  # kept: ids are unique per user


def test_a_field_after_its_directory_was_deleted_is_cancelled_with_the_reason(
    make_user, django_capture_on_commit_callbacks
):
    from extraction.services.staging import staging_directory_delete

    register_real_dss_plate()
    text = REAL_LINE.format(c="U") + "\n" + REAL_LINE.format(c="G").replace("real", "again")
    with django_capture_on_commit_callbacks(execute=False):
        outcome = request_create_from_text(user=make_user(), text=text, source="web")
    first, second = outcome.request.fields.order_by("line_no")
    field_extract(field_id=first.pk)
    staging_directory_delete(directory=outcome.request.staging, reason="deleted by mail")
    with django_capture_on_commit_callbacks(execute=True):
        field_extract(field_id=second.pk)
    second.refresh_from_db()
    assert second.status == "cancelled" and "was deleted" in second.message
    assert Request.objects.get(pk=outcome.request.pk).status == "cancelled"
    assert not outcome.request.staging.absolute_path.exists()
