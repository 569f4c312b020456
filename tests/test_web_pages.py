"""The request form, the request page and the plate finder, through Django's test client."""

from __future__ import annotations

import re

import pytest
from astropy import units as u
from astropy.coordinates import FK5, SkyCoord
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from extraction.models import Request
from extraction.services.names import name_resolve
from extraction.services.requests import parse_with_limits
from extraction.text.textformat import human_bytes
from tests.factories import register_real_dss_plate

pytestmark = pytest.mark.django_db

LINE = "real 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 U"
#: The same field choosing its plate itself: valid without any plate in the catalogue.
LINE_E = "real 14 29 56 -62 41 05 1. 1. J2000 DSS1 e U"


@pytest.fixture
def user(client, make_user):
    user = make_user("hubble", "edwin@example.org")
    client.force_login(user)
    return user


def field_post(**values: str) -> dict[str, str]:
    form = {"width": "5", "height": "5", "frame": "J2000", "survey": "DSS2R", "mode": "e"}
    form |= {"compression": "G"} | values
    return {"submit": "field", **{f"f-{k}": v for k, v in form.items()}}


def test_a_field_by_object_name_is_resolved_offline_into_one_line(client, user) -> None:
    response = client.post(reverse("request-list"), field_post(name="NGC 253"))
    assert response.status_code == 302
    field = Request.objects.get(user=user).fields.get()
    expected = name_resolve(name="NGC 253")
    assert field.identifier == "NGC253" and field.equinox == "J2000"
    # the list line keeps 1 mas in R.A. and 10 mas in Dec.
    assert abs(field.ra_deg - expected.ra_deg) < 1e-5
    assert abs(field.dec_deg - expected.dec_deg) < 1e-5
    assert field.compression == "G" and field.survey == "DSS2R" and field.width_arcmin == 5


def test_a_field_in_galactic_coordinates_is_queued_in_j2000(client, user) -> None:
    response = client.post(
        reverse("request-list"),
        field_post(identifier="gc", lon="359.9442", lat="-0.0462", frame="galactic"),
    )
    assert response.status_code == 302
    field = Request.objects.get(user=user).fields.get()
    reference = SkyCoord(l=359.9442 * u.deg, b=-0.0462 * u.deg, frame="galactic").fk5
    here = SkyCoord(field.ra_deg * u.deg, field.dec_deg * u.deg, frame=FK5)
    assert here.separation(reference).arcsec < 0.02
    assert field.equinox == "J2000" and field.raw_line.startswith("gc 17 45 ")


@pytest.mark.parametrize(
    ("typed", "identifier", "stem"),
    [("has space", "has_space", "has_space"), ("a/b\\c", "a/b\\c", "a_b_c"), ("#1", "_1", "_1")],
)
def test_an_identifier_typed_in_the_form_is_kept_as_a_mailed_list_keeps_it(
    client, user, typed, identifier, stem
) -> None:
    """REQUEST_FORMAT: characters outside A-Za-z0-9._+- become _ in the file name; the form
    dropped them (and the blank) instead."""
    response = client.post(reverse("request-list"), field_post(identifier=typed, name="M 31"))
    assert response.status_code == 302
    field = Request.objects.get(user=user).fields.get()
    assert (field.identifier, field.stem) == (identifier, stem)


def test_a_size_typed_in_the_form_reaches_the_list_as_typed(client, user) -> None:
    """``:g`` wrote 0.00001 as 1e-05, which the list refuses, and cut 0.1234567891."""
    for width in ("0.00001", "0.1234567891"):
        response = client.post(reverse("request-list"), field_post(name="M 31", width=width))
        assert response.status_code == 302, response.content.decode()[-500:]
        assert Request.objects.filter(user=user).latest("pk").fields.get().width_arcmin == float(
            width
        )


def test_progress_counts_every_ended_field_by_its_state(
    client, user, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # no plate here: skipped
        client.post(reverse("request-list"), field_post(name="NGC 253"))
    item = Request.objects.get()
    status = client.get(reverse("request-status", args=[item.pk])).json()
    assert status["n_ended"] == 1 and status["summary"] == "1 of 1 field(s) ended: 1 skipped."
    page = client.get(reverse("request-detail", args=[item.pk])).content.decode()
    assert 'value="1"' in page and "1 of 1 field(s) ended: 1 skipped." in page
    assert f'class="status status-{item.status}">{item.get_status_display()}<' in page


def test_a_b1950_field_reads_as_the_mail_line_of_the_original_service(client, user) -> None:
    values = {"identifier": "field01", "lon": "12 5 13", "lat": "30 45 32", "frame": "B1950"}
    client.post(reverse("request-list"), field_post(**values, width="10", height="10"))
    field = Request.objects.get().fields.get()
    mail = parse_with_limits("field01 12 5 13 30 45 32 10. 10. B1950 DSS2R e G").fields[0]
    assert field.equinox == "B1950"
    assert abs(field.ra_deg - mail.ra_deg) < 1e-9 and abs(field.dec_deg - mail.dec_deg) < 1e-9


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"name": "Nowhere Nebula 42"}, "is not known to OpenNGC"),
        ({}, "Give an object name or a position"),
        ({"lon": "12 05", "lat": "95"}, "between -90 and +90"),
        ({"name": "M 31", "width": "600"}, "larger than the maximum of 60 arcmin"),
        ({"name": "M 31", "mode": "plate"}, "Name the plate"),
    ],
)
def test_a_bad_field_is_explained_and_nothing_stored(client, user, values, words) -> None:
    response = client.post(reverse("request-list"), field_post(**values))
    assert response.status_code == 422
    assert words in response.content.decode()
    assert not Request.objects.exists()


@pytest.mark.parametrize(
    ("values", "box", "words"),
    [
        ({"width": "0"}, "width", "is not greater than 0"),
        ({"height": "900"}, "height", "larger than the maximum of 60 arcmin"),
        ({"mode": "plate", "plate_id": "ZZZZ"}, "plate_id", "ZZZZ is not in this archive's DSS2"),
    ],
)
def test_the_one_field_form_puts_each_problem_under_its_box(client, user, values, box, words):
    """The form builds a list line and the list parser judges it: the parser's verdict is
    told in the form's terms, not as the line and its column numbers."""
    response = client.post(reverse("request-list"), field_post(name="NGC 253", **values))
    assert response.status_code == 422 and not Request.objects.exists()
    errors = response.context["field_form"].errors
    assert list(errors) == [box] and words in errors[box][0], errors
    page = response.content.decode()
    assert "column " not in page.split("<main", 1)[1] and "J2000 DSS2R" not in page


def test_every_problem_of_the_one_field_form_is_told_at_once(client, user) -> None:
    """A bad position used to hide the size and plate problems until it was mended; and
    position problems were told above the form, not at their boxes."""
    values = {"lon": "25 00 00", "lat": "-95 00 00", "width": "0", "height": "900"}
    values |= {"mode": "plate", "plate_id": "ZZZZ"}
    response = client.post(reverse("request-list"), field_post(**values))
    assert response.status_code == 422 and not Request.objects.exists()
    errors = response.context["field_form"].errors
    assert set(errors) == {"lon", "lat", "width", "height", "plate_id"}, errors
    assert "hours must be 0 to 23" in errors["lon"][0]
    assert "between -90 and +90" in errors["lat"][0]
    assert "ZZZZ is not in this archive" in errors["plate_id"][0]
    # A name that does not resolve, with good boxes otherwise: the name alone is wrong.
    named = client.post(reverse("request-list"), field_post(name="Foobarxyz"))
    assert list(named.context["field_form"].errors) == ["name"]


def test_a_list_with_bad_lines_is_kept_for_correction_and_nothing_stored(client, user) -> None:
    text = f"{LINE_E}\nthis line is wrong\nreal2 14 29 56 -62 75 05 1. 1. J2000 DSS1 e U"
    response = client.post(reverse("request-list"), {"submit": "list", "text": text})
    page = response.content.decode()
    assert response.status_code == 422 and not Request.objects.exists()
    assert page.count("line 2:") == 1 and page.count("line 3:") == 1
    assert "column 6 (Dec. minutes): &#x27;75&#x27; is not in 0-59" in page
    assert "this line is wrong</textarea>" not in page  # kept, but inside the full text
    assert "real2 14 29 56 -62 75 05" in page.split("<textarea")[1]
    sent = client.post(reverse("request-list"), {"submit": "list", "text": text, "valid_only": "1"})
    assert sent.status_code == 302
    stored = Request.objects.get()
    assert stored.n_fields == 1 and stored.n_rejected == 2


def test_a_list_without_any_valid_line_stores_nothing_even_when_asked(client, user) -> None:
    response = client.post(
        reverse("request-list"), {"submit": "list", "text": "junk\nmore junk", "valid_only": "1"}
    )
    assert response.status_code == 422 and not Request.objects.exists()


def test_listed_errors_are_bounded(client, user, settings) -> None:
    settings.DSSPORTAL_MAX_LISTED_ERRORS = 3
    text = "\n".join(f"bad{i}" for i in range(7))
    page = client.post(reverse("request-list"), {"submit": "list", "text": text}).content.decode()
    assert page.count("<li>line ") == 3 and "and 4 more" in page
    checked = client.post(reverse("request-check"), {"text": text}).json()
    assert checked["n_errors"] == 7 and len(checked["errors"]) == 3
    assert checked["more_errors"] == 4


def test_an_uploaded_list_is_read_like_typed_text(client, user) -> None:
    upload = SimpleUploadedFile("list.txt", f"# my fields\n{LINE_E}\n".encode(), "text/plain")
    response = client.post(reverse("request-list"), {"submit": "list", "upload": upload})
    assert response.status_code == 302
    assert Request.objects.get().fields.get().identifier == "real"


@pytest.mark.parametrize("charset", ["utf-16", "utf-8-sig", "latin-1", "cp1252"])
def test_an_uploaded_list_in_another_charset_reads_as_it_would_by_mail(
    client, user, charset
) -> None:
    """The mail gate's rules (a BOM, else UTF-8, else Latin-1): a UTF-16 file was refused as
    "not a text file" and a Latin-1 one lost its accents to U+FFFD."""
    text = f"# my fields\n{LINE_E.replace('real', 'café', 1)}\n"
    upload = SimpleUploadedFile("list.txt", text.encode(charset), "text/plain")
    response = client.post(reverse("request-list"), {"submit": "list", "upload": upload})
    assert response.status_code == 302, response.content.decode()[-800:]
    assert Request.objects.get().fields.get().identifier == "café"


def test_a_bad_upload_comes_back_as_text_to_mend(client, user) -> None:
    upload = SimpleUploadedFile("list.txt", b"oops 1 2 3\n", "text/plain")
    response = client.post(reverse("request-list"), {"submit": "list", "upload": upload})
    assert response.status_code == 422 and not Request.objects.exists()
    assert "oops 1 2 3" in response.content.decode().split("<textarea")[1]
    binary = SimpleUploadedFile("x.fits", b"SIMPLE\x00\x00", "application/octet-stream")
    response = client.post(reverse("request-list"), {"submit": "list", "upload": binary})
    assert "not a text file" in response.content.decode()


def test_the_check_endpoint_uses_the_mail_parser_and_stores_nothing(client, user) -> None:
    checked = client.post(reverse("request-check"), {"text": f"{LINE_E}\nNGC 253"}).json()
    assert checked["n_fields"] == 1 and checked["n_errors"] == 1
    assert checked["errors"][0]["line"] == 2 and "columns" in checked["errors"][0]["error"]
    # The catalogue is asked as for mail: a plate id it does not hold is a rejected line.
    unknown = client.post(reverse("request-check"), {"text": LINE}).json()
    assert unknown["n_fields"] == 0 and "0025" in unknown["errors"][0]["error"]
    assert not Request.objects.exists()
    assert client.get(reverse("request-check")).status_code == 405


@pytest.fixture
def served(client, user, django_capture_on_commit_callbacks):
    register_real_dss_plate()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("request-list"), {"submit": "list", "text": LINE})
    return Request.objects.get()


def test_the_request_page_says_what_happened_and_where_the_files_are(client, served) -> None:
    page = client.get(reverse("request-detail", args=[served.pk])).content.decode()
    name = served.staging.name
    assert re.search(r'id="request-status" class="status status-done">done<', page)
    assert 'aria-live="polite"' in page and "<progress" in page
    assert f'href="/staging/{name}.zip"' in page
    assert 'href="ftp://' in page and "FTP uses your portal login" in page
    assert f'action="/staging/{name}/delete"' in page
    assert served.staging.expires_at.strftime("%Y-%m-%d") in page
    assert "plate 0025" in page  # the plate asked for, and below the plate used
    assert reverse("plate-detail", args=["DSS1", "0025"]) in page
    preview = reverse("field-preview", args=[served.pk, "real"])
    assert f'<a href="{preview}" target="_blank"' in page
    assert "mode plate" not in page
    # One size formatter, decimal units as in the mail, on every page that shows a size.
    size = human_bytes(served.fields.get().bytes)
    assert size in page and size.endswith(" kB")
    listing = client.get(reverse("staging-listing", args=[name])).content.decode()
    assert size in listing and "FTP uses your portal login" in listing
    account = client.get(reverse("account")).content.decode()
    assert human_bytes(served.staging.bytes) in account
    # No size in the old units ("14 KB", "1.2 MiB"); attribute values (the random CSRF token) aside.
    shown = re.sub(r'value="[^"]*"', "", account)
    assert not re.search(r"\d\s*(KB|[KMG]iB)\b", shown)


def test_the_plate_finder_lists_the_covering_plate_with_its_outline(client, served) -> None:
    response = client.get(
        reverse("plate-finder"),
        {"lon": "14 29 56", "lat": "-62 41 05", "width": "1", "height": "1"},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert reverse("plate-detail", args=["DSS1", "0025"]) in page
    assert "<svg" in page and "0025" in page.split("<svg")[1]
    assert "DSS2R: 0 plate(s)" in page
    plate_page = client.get(reverse("plate-detail", args=["DSS1", "0025"]))
    assert plate_page.status_code == 200 and "14 37 46.88" in plate_page.content.decode()
    corners = re.findall(
        r"<code>(\d\d \d\d \d\d) (-\d\d \d\d \d\d)</code>", plate_page.content.decode()
    )
    # The digitized area of the real cut-out holds the field at 14 29 56 -62 41 05.
    assert len(corners) == 4
    assert min(ra for ra, _ in corners) < "14 29 56" < max(ra for ra, _ in corners)
    assert min(d for _, d in corners) < "-62 41 05" < max(d for _, d in corners)
    assert client.get(reverse("plate-detail", args=["DSS2", "0025"])).status_code == 404


def test_the_covering_plates_are_offered_to_the_form(client, served) -> None:
    reply = client.get(
        reverse("plate-covering"),
        {"lon": "217.4833", "lat": "-62.6847", "width": "1", "height": "1", "survey": "DSS1"},
    ).json()
    assert [p["plate_id"] for p in reply["plates"]] == ["0025"]
    assert reply["plates"][0]["online"] is True and "online" in reply["plates"][0]["summary"]
    bad = client.get(reverse("plate-covering"), {"name": "Nowhere Nebula 42"})
    assert bad.status_code == 400 and "OpenNGC" in bad.json()["error"]


def test_the_plate_picker_says_which_covering_plates_are_offline_and_lists_them_last(
    client, served
) -> None:
    from extraction.models import Plate

    online = Plate.objects.get(plate_id="0025")
    offline = Plate.objects.get(pk=online.pk)
    offline.pk, offline.plate_id, offline.online, offline.data_file = None, "0FF1", False, ""
    offline.save()
    reply = client.get(
        reverse("plate-covering"),
        {"lon": "217.4833", "lat": "-62.6847", "width": "1", "height": "1", "survey": "DSS1"},
    ).json()
    assert [(p["plate_id"], p["online"]) for p in reply["plates"]] == [
        ("0025", True),
        ("0FF1", False),
    ]
    assert "offline" in reply["plates"][1]["summary"]
    assert "cannot be cut" in reply["plates"][1]["summary"]


def test_the_plate_finder_explains_bad_input(client, user) -> None:
    response = client.get(
        reverse("plate-finder"), {"lon": "xx", "lat": "1", "width": "5", "height": "5"}
    )
    assert response.status_code == 422 and "is not an angle" in response.content.decode()


@pytest.mark.parametrize(
    ("values", "frame_letter"),
    [
        ({"lon": "359.9442", "lat": "-0.0462", "frame": "galactic"}, "G"),
        ({"lon": "12 5 13.27", "lat": "30 45 32.9", "frame": "B1950"}, "B"),
        ({"lon": "00 42 44.3", "lat": "+41 16 09", "frame": "J2000"}, "J"),
    ],
)
def test_a_typed_position_without_a_name_is_named_after_its_coordinates(
    client, user, values, frame_letter
) -> None:
    """Never "field" for every field: an IAU-style designation in the frame typed, truncated
    as catalogue designations are (checked against astropy's own sexagesimal split)."""
    client.post(reverse("request-list"), field_post(**values))
    identifier = Request.objects.get().fields.get().identifier
    assert identifier.startswith(frame_letter)
    if frame_letter == "G":
        assert identifier == "G359.9442-0.0462"
        return
    from astropy.coordinates import Angle

    ra = Angle(values["lon"], unit=u.hourangle)
    dec = Angle(values["lat"], unit=u.deg)
    h, m, sec = ra.hms
    sign, d, am, asec = dec.signed_dms
    expected = (
        f"{frame_letter}{int(h):02d}{int(m):02d}{int(sec * 10 + 1e-6) / 10:04.1f}"
        f"{'-' if sign < 0 else '+'}{int(d):02d}{int(am):02d}{int(asec + 1e-6):02d}"
    )
    assert identifier == expected


def test_fields_typed_at_two_positions_get_two_identifiers(client, user) -> None:
    for lon in ("10.0", "10.5"):
        client.post(reverse("request-list"), field_post(lon=lon, lat="-20", frame="galactic"))
    names = {f.identifier for r in Request.objects.all() for f in r.fields.all()}
    assert len(names) == 2


def test_the_request_list_pages_through_every_request(client, user) -> None:
    from extraction.web.views import REQUESTS_PER_PAGE

    for n in range(REQUESTS_PER_PAGE + 3):
        Request.objects.create(user=user, source="web", raw_text=f"req{n}")
    first = client.get(reverse("request-list"))
    second = client.get(reverse("request-list"), {"page": "2"})
    shown = [list(r.context["requests"]) for r in (first, second)]
    assert len(shown[0]) == REQUESTS_PER_PAGE and len(shown[1]) == 3
    assert not {r.pk for r in shown[0]} & {r.pk for r in shown[1]}
    assert 'href="?page=2#requests-heading"' in first.content.decode()


def test_every_page_has_an_icon_and_favicon_ico_answers(client) -> None:
    page = client.get(reverse("login")).content.decode()
    assert 'rel="icon"' in page
    icon = client.get("/favicon.ico", follow=True)
    assert icon.status_code == 200
    body = b"".join(icon.streaming_content) if icon.streaming else icon.content
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_the_account_page_says_how_long_a_directory_is_kept(client, served) -> None:
    page = client.get(reverse("account")).content.decode()
    assert "kept until" in page and "deleted in 1\xa0week" in page


def test_the_plate_page_draws_the_plate_large_among_its_neighbours(client, served) -> None:
    """Not a 2-pixel dot on the whole sky: the plate (red) fills most of its own map."""
    import xml.etree.ElementTree as ET

    from extraction.models import Plate

    plate = Plate.objects.get(plate_id="0025")
    neighbour = Plate.objects.get(pk=plate.pk)
    neighbour.pk, neighbour.plate_id, neighbour.ra_deg = None, "0026", plate.ra_deg + 0.01
    neighbour.save()
    page = client.get(reverse("plate-detail", args=["DSS1", "0025"])).content.decode()
    svg = ET.fromstring(re.search(r"<svg.*?</svg>", page, re.S)[0])
    polygons = list(svg.iter("{http://www.w3.org/2000/svg}polygon"))
    field = polygons[-1]  # the plate itself, in red
    xs = [float(p.split(",")[0]) for p in field.get("points").split()]
    assert max(xs) - min(xs) > 200  # of a 560-pixel map
    assert "0026" in page  # the neighbour is drawn and labelled
