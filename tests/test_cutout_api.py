"""GET /api/cutout: the synchronous cut-out is the staged one, centred, limited and counted."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from django.test import Client
from django.urls import reverse
from PIL import Image

from accounts.tokens import api_token_create
from extraction.models import CutoutUsage, Field
from tests.factories import register_real_dss_plate

pytestmark = [
    pytest.mark.django_db,
    # The real DSS header's DATE-OBS is 11/03/76; astropy says it fixes it when reading.
    pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning"),
]

LINE = "real 14 29 56 -62 41 05 1.5 1. J2000 DSS1 e U"
URL = "/api/cutout"


@pytest.fixture
def user(make_user):
    register_real_dss_plate()
    return make_user("hale", "hale@example.org")


@pytest.fixture
def script(user) -> Client:
    raw = api_token_create(user=user)[1]
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def field_query(ra: float, dec: float, **extra: str) -> dict[str, str]:
    return {"RA": repr(ra), "DEC": repr(dec), "SURVEY": "DSS1", **extra}


def hdu(content: bytes) -> fits.PrimaryHDU:
    with fits.open(io.BytesIO(content)) as hdul:
        return fits.PrimaryHDU(hdul[0].data.copy(), hdul[0].header.copy())


def test_the_synchronous_fits_is_the_staged_file(
    client, user, script, django_capture_on_commit_callbacks
):
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("request-list"), {"text": LINE})
    field = Field.objects.get()
    staged = hdu((field.request.staging.absolute_path / field.output_name).read_bytes())
    response = script.get(
        URL, field_query(field.ra_deg, field.dec_deg, SIZE="0.025 0.0166666666667", ID="real")
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/fits"
    assert response["Content-Disposition"] == 'attachment; filename="real.fits"'
    direct = hdu(response.content)
    np.testing.assert_array_equal(direct.data, staged.data)
    assert set(direct.header) == set(staged.header)
    differing = [k for k in staged.header if k != "DATE" and direct.header[k] != staged.header[k]]
    assert differing == []
    # Centred: the requested position falls on the middle pixel (astropy, as a user reads it).
    x, y = WCS(direct.header).world_to_pixel(SkyCoord(field.ra_deg * u.deg, field.dec_deg * u.deg))
    ny, nx = direct.data.shape
    assert abs(x - (nx - 1) / 2) < 1 and abs(y - (ny - 1) / 2) < 1


def test_pos_circle_formats_and_the_allowance(script, user):
    coord = SkyCoord("14h29m56s -62d41m05s")
    ra, dec = coord.ra.deg, coord.dec.deg
    circle = {"POS": f"CIRCLE {ra} {dec} 0.01", "SURVEY": "dss1", "MODE": "c"}
    plain = script.get(URL, circle)
    assert plain.status_code == 200 and plain["X-DSS-Plate"] == "0025"
    image = hdu(plain.content)
    ny, nx = image.data.shape
    assert abs(nx - 0.02 * 3600 / 1.7) <= 2 and abs(ny - nx) <= 1  # 2 r at ~1.7"/px
    x, y = WCS(image.header).world_to_pixel(coord)
    assert abs(x - (nx - 1) / 2) < 1 and abs(y - (ny - 1) / 2) < 1
    packed = script.get(URL, {**circle, "FORMAT": "fits.gz"})
    assert packed["Content-Type"] == "application/gzip"
    np.testing.assert_array_equal(hdu(gzip.decompress(packed.content)).data, image.data)
    png = script.get(URL, {**circle, "format": "image/png"})
    assert png["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (nx, ny)
    usage = CutoutUsage.objects.get(user=user)
    assert usage.n_cutouts == 3
    assert usage.bytes == len(plain.content) + len(packed.content) + len(png.content)


def test_rate_and_daily_allowance_answer_429_with_retry_after(script, settings):
    query = field_query(217.4833, -62.6847, SIZE="0.01")
    settings.DSSPORTAL_CUTOUT_PER_MINUTE = 2
    assert [script.get(URL, query).status_code for _ in range(2)] == [200, 200]
    limited = script.get(URL, query)
    assert limited.status_code == 429 and "a minute" in limited.json()["error"]
    assert 0 < int(limited["Retry-After"]) <= 60
    settings.DSSPORTAL_CUTOUT_PER_MINUTE = 100
    settings.DSSPORTAL_CUTOUT_DAILY_MB = 0
    spent = script.get(URL, query)
    assert spent.status_code == 429 and "daily allowance" in spent.json()["error"]
    assert 0 < int(spent["Retry-After"]) <= 86400


def test_a_cut_out_refused_for_its_bytes_does_not_use_up_the_rate(script, settings):
    """The rate is the portal's one windowed limiter (accounts.throttle), taken after the
    day's bytes are checked: a refused cut-out costs nothing of the minute's count."""
    query = field_query(217.4833, -62.6847, SIZE="0.01")
    settings.DSSPORTAL_CUTOUT_PER_MINUTE = 1
    settings.DSSPORTAL_CUTOUT_DAILY_MB = 0
    assert script.get(URL, query).status_code == 429
    settings.DSSPORTAL_CUTOUT_DAILY_MB = 100
    assert script.get(URL, query).status_code == 200
    limited = script.get(URL, query)
    assert limited.status_code == 429 and "At most 1 cut-out a minute" in limited.json()["error"]
    assert "try again in" in limited.json()["error"]


@pytest.mark.parametrize(
    "query, status, words",
    [
        ({"POS": "RANGE 1 2 3 4"}, 400, "CIRCLE"),
        ({"POS": "CIRCLE 1 2"}, 400, "CIRCLE"),
        ({"POS": "CIRCLE 217.48 -62.68 0.01", "RA": "10"}, 400, "not both (POS and RA given)"),
        ({"RA": "217.48", "DEC": "-62.68"}, 400, "missing SIZE"),
        ({"RA": "x", "DEC": "1", "SIZE": "0.1"}, 400, "degrees"),
        ({"RA": "1e400", "DEC": "1", "SIZE": "0.1"}, 400, "finite"),
        ({"RA": "400", "DEC": "1", "SIZE": "0.1"}, 400, "0 <= ra < 360"),
        ({"RA": "217.48", "DEC": "-62.68", "SIZE": "1"}, 400, "at most 30'"),
        ({"RA": "217.48", "DEC": "-62.68", "SIZE": "-1"}, 400, "more than 0"),
        ({"RA": "217.48", "DEC": "-62.68", "SIZE": "0.01", "FORMAT": "jpeg"}, 400, "FORMAT"),
        ({"RA": "217.48", "DEC": "-62.68", "SIZE": "0.01", "MODE": "n"}, 400, "MODE"),
        ({"RA": "217.48", "DEC": "-62.68", "SIZE": "0.01", "SURVEY": "POSS"}, 400, "SURVEY"),
        ({"RA": "217.48", "DEC": "-62.68", "SIZE": "0.01", "ID": "a b"}, 400, "ID"),
        ({"RA": "10", "DEC": "10", "SIZE": "0.01", "SURVEY": "DSS1"}, 404, "no DSS1 plate"),
        ({"RA": "217.48", "DEC": "-62.68", "SIZE": "0.01", "MODE": "ZZ99"}, 404, "ZZ99"),
    ],
)
def test_bad_cutout_queries_are_json_errors(script, query, status, words):
    response = script.get(URL, query)
    assert response.status_code == status
    assert words in response.json()["error"]


def test_cutouts_need_credentials(client, user):
    response = client.get(URL, {"RA": "217.48", "DEC": "-62.68", "SIZE": "0.01"})
    assert response.status_code == 401 and "token" in response.json()["error"]
    assert not CutoutUsage.objects.exists()
