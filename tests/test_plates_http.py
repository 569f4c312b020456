"""Plates over HTTP (DSSPORTAL_PLATES_URL) against real nginx serving the plates folder
read-only with the shipped site (deploy/nginx/dssportal-plates.conf): cut-outs identical to
the local store's, only the touched tiles fetched, a plate re-imported while read, and the
plate server stopped in the middle of a batch."""

from __future__ import annotations

import gc
import http.server
import re
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from django.test import Client
from numpy.testing import assert_array_equal

from accounts.tokens import api_token_create
from extraction.core.cut import CutField, cut_field, cut_from_store
from extraction.core.cutout import fits_bytes, sexagesimal_dec, sexagesimal_ra
from extraction.core.httpplates import OPENING_BYTES, HttpPlateStore, PlateServerError
from extraction.core.plates import PlateGeometry
from extraction.core.platestore import (
    LocalPlateStore,
    PlateChanged,
    PlateStoreError,
    write_plate,
)
from extraction.models import Field, FieldStatus
from extraction.services.extraction import field_extract
from extraction.services.plates import plate_register
from extraction.services.platestores import _http_store
from extraction.services.requests import fields_retry_failed, request_create_from_text
from tests.factories import dss_header
from tests.plate_server import PlateServer, plate_server_config
from tests.test_production import free_port, nginx

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.processes,
    pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning"),
]

NY, NX = 1100, 1300  # 3 x 3 tiles of 500 px, partial tiles at the far edges
TILE = 500
CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
#: Pixel centres of fields on the plate: inside one tile, across four, off two edges.
FIELD_CENTRES = {
    "one-tile": (240, 260),
    "across": (520, 480),
    "left": (30, 700),
    "corner": (1290, 1090),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> PlateServer:
    tmp = tmp_path_factory.mktemp("plate-server")
    plates, log = tmp / "plates", tmp / "plates.log"
    plates.mkdir()
    port = free_port()
    return PlateServer(port, plates, plate_server_config(tmp, port, plates, log), log)


@pytest.fixture
def running(server: PlateServer) -> Iterator[PlateServer]:
    with nginx(server.config, server.port):
        yield server


@pytest.fixture
def over_http(server: PlateServer, settings) -> PlateServer:
    """The portal reads plates from the server; imports write its folder."""
    settings.PLATES_DIR = server.plates
    settings.DSSPORTAL_PLATES_URL = server.url
    _http_store.cache_clear()
    return server


def noise(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:NY, 0:NX]
    sky = 9000 + 2500 * np.sin(xx / 83.0) * np.cos(yy / 59.0)
    return (sky + rng.normal(0, 250, (NY, NX))).astype(np.int16)


def plate_header(plate_id: str) -> fits.Header:
    return dss_header(10.0, 20.0, survey="DSS1", plate_id=plate_id, naxis=(NX, NY))


def sky_of(header: fits.Header, name: str) -> tuple[float, float]:
    ra, dec = PlateGeometry(header).pixel_to_sky(*map(float, FIELD_CENTRES[name]))
    return float(ra), float(dec)


def cut(opened, ra: float, dec: float) -> CutField:  # type: ignore[no-untyped-def]
    return cut_field(
        opened,
        ra_deg=ra,
        dec_deg=dec,
        width_arcmin=8,
        height_arcmin=6,
        identifier="f",
        created=CREATED,
    )


def touched_tile_bytes(path: Path, box: tuple[int, int, int, int]) -> int:
    """Compressed bytes of the tiles a box on the image touches, as astropy reads the table."""
    x0, x1, y0, y1 = max(box[0], 0), min(box[1], NX), max(box[2], 0), min(box[3], NY)
    tiles_x = -(-NX // TILE)
    with fits.open(path, disable_image_compression=True) as hdul:
        sizes = [len(tile) for tile in hdul[1].data["COMPRESSED_DATA"]]
    return sum(
        sizes[ty * tiles_x + tx]
        for ty in range(y0 // TILE, (y1 - 1) // TILE + 1)
        for tx in range(x0 // TILE, (x1 - 1) // TILE + 1)
    )


@pytest.mark.parametrize("compression", ["RICE_1", "HCOMPRESS_1"])
def test_cutouts_over_http_are_the_local_ones_from_the_touched_tiles_only(
    running: PlateServer, over_http: PlateServer, compression: str
) -> None:
    header = plate_header(f"H{compression[0]}01")
    plate = plate_register(header=header, survey="DSS1", data=noise(1), compression=compression)
    local = LocalPlateStore(running.plates)
    remote = HttpPlateStore(running.url)
    logged = len(running.log_lines())
    opened = remote.open(plate.data_file)
    assert remote.client.counter.requests == 1
    opening = running.log_lines(logged + 1)[logged]
    size = local.path_of(plate.data_file).stat().st_size
    assert opening[:3] == ("GET", 206, min(OPENING_BYTES, size))
    assert opened.reader.header.tostring() == local.open(plate.data_file).reader.header.tostring()
    for name in FIELD_CENTRES:
        ra, dec = sky_of(header, name)
        before, made = len(running.log_lines()), remote.client.counter.requests
        over = cut(remote.open(plate.data_file), ra, dec)
        requests = running.log_lines(before + remote.client.counter.requests - made)[before:]
        here = cut(local.open(plate.data_file), ra, dec)
        assert fits_bytes(over.cutout) == fits_bytes(here.cutout), name
        assert over.clipped == (name in ("left", "corner"))
        box = over.coverage.box
        assert box is not None
        expected = touched_tile_bytes(
            local.path_of(plate.data_file), (box.x0, box.x1, box.y0, box.y1)
        )
        # One request per row of tiles at most (adjacent tiles coalesced), each only its tiles.
        assert all(method == "GET" and status == 206 for method, status, _, _ in requests)
        assert sum(body for _, _, body, _ in requests) == expected, name
        assert len(requests) <= 2
        sent = sum(total for _, _, _, total in requests)
        assert sent <= expected + 400 * len(requests), (name, sent, expected)


def test_a_plate_reimported_while_read_gives_one_version_and_is_reopened(
    running: PlateServer, over_http: PlateServer
) -> None:
    header = plate_header("HX11")
    old, new = noise(2), noise(3) // 3  # smaller values: a file of another size, another ETag
    plate = plate_register(header=header, survey="DSS1", data=old)
    path = LocalPlateStore(running.plates).path_of(plate.data_file)
    store = HttpPlateStore(running.url)
    ra, dec = sky_of(header, "across")
    first = store.open(plate.data_file)
    box = cut(first, ra, dec).coverage.box
    assert box is not None
    rows, cols = slice(box.y0, box.y1), slice(box.x0, box.x1)
    size_old = path.stat().st_size
    write_plate(path, new, header)  # as an import does: a new file renamed into place
    assert path.stat().st_size != size_old
    with pytest.raises(PlateChanged):
        first.reader.read_box(box.x0, box.x1, box.y0, box.y1)
    second = store.open(plate.data_file)
    assert second is not first and second.key != first.key
    assert_array_equal(cut(second, ra, dec).data, new[rows, cols])

    # Re-imported again and again while fields are cut: each is wholly one version.
    stop, writes = threading.Event(), [0]

    def reimport() -> None:
        while not stop.is_set():
            write_plate(path, (old, new)[writes[0] % 2], header)
            writes[0] += 1
            time.sleep(0.03)

    writer = threading.Thread(target=reimport)
    writer.start()
    seen, changed = {"old": 0, "new": 0}, 0
    try:
        deadline = time.monotonic() + 15  # a loaded machine writes and reads slowly

        def enough() -> bool:
            return writes[0] >= 10 and min(seen.values()) >= 3

        while time.monotonic() < deadline and not enough():
            try:
                pixels = cut_from_store(
                    store,
                    plate.data_file,
                    ra_deg=ra,
                    dec_deg=dec,
                    width_arcmin=8,
                    height_arcmin=6,
                    identifier="f",
                ).data
            except PlateChanged:
                changed += 1  # replaced three times during one field: it fails, no mix
                continue
            if np.array_equal(pixels, old[rows, cols]):
                seen["old"] += 1
            else:
                assert_array_equal(pixels, new[rows, cols])
                seen["new"] += 1
    finally:
        stop.set()
        writer.join()
    assert enough(), (writes, seen)
    assert changed <= (seen["old"] + seen["new"]) // 4, (changed, seen)


FIELD_LINE = "f{i} {ra} {dec} 6 5 J2000 DSS1 e U"


def test_a_plate_server_stopped_mid_batch_fails_fields_naming_it_and_a_retry_serves_them(
    server: PlateServer, over_http: PlateServer, make_user, django_capture_on_commit_callbacks
) -> None:
    header = plate_header("HY21")
    data = noise(4)
    plate_register(header=header, survey="DSS1", data=data)
    geometry = PlateGeometry(header)
    centres = [(200 + 150 * i, 150 + 140 * i) for i in range(6)]
    lines = []
    for i, (x, y) in enumerate(centres):
        ra, dec = (float(v) for v in geometry.pixel_to_sky(float(x), float(y)))
        lines.append(FIELD_LINE.format(i=i, ra=sexagesimal_ra(ra), dec=sexagesimal_dec(dec)))
    user = make_user()
    with django_capture_on_commit_callbacks(execute=False):
        outcome = request_create_from_text(user=user, text="\n".join(lines), source="web")
    request = outcome.request
    ids = list(request.fields.order_by("pk").values_list("pk", flat=True))
    assert len(ids) == 6
    with nginx(server.config, server.port):
        assert [field_extract(field_id=i) for i in ids[:3]] == ["done"] * 3
    # The server is down: the other fields fail, saying which server, and are not skipped.
    assert [field_extract(field_id=i) for i in ids[3:]] == ["failed"] * 3
    for field in Field.objects.filter(pk__in=ids[3:]):
        assert f"the plate server {server.url} cannot be reached" in field.message
        assert "retry" in field.message
    with nginx(server.config, server.port), django_capture_on_commit_callbacks(execute=True):
        assert fields_retry_failed(request=request) == 3
    fields = list(Field.objects.filter(pk__in=ids).order_by("pk"))
    assert [f.status for f in fields] == [FieldStatus.DONE] * 6
    staged = request.staging.absolute_path
    local = LocalPlateStore(server.plates).open("DSS1/HY21.fits")
    for field in fields:
        with fits.open(staged / field.output_name) as hdul:
            expected = cut_field(
                local,
                ra_deg=field.ra_deg,
                dec_deg=field.dec_deg,
                width_arcmin=6,
                height_arcmin=5,
                identifier=field.identifier,
            )
            assert_array_equal(hdul[0].data, expected.data)


class FlakyPlates(http.server.BaseHTTPRequestHandler):
    """A plate server that fails the first requests with 503, or ignores Range (200)."""

    failures_left = 0
    ignore_ranges = False
    folder = Path()
    seen: list[str] = []

    def do_GET(self) -> None:
        body = (self.folder / self.path.removeprefix("/plates/")).read_bytes()
        FlakyPlates.seen.append(self.headers.get("Range", ""))
        if FlakyPlates.failures_left > 0:
            FlakyPlates.failures_left -= 1
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start, stop = (int(v) for v in self.headers["Range"].removeprefix("bytes=").split("-"))
        stop = min(stop, len(body) - 1)
        partial = not FlakyPlates.ignore_ranges
        self.send_response(206 if partial else 200)
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{stop}/{len(body)}")
            body = body[start : stop + 1]
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky(tmp_path: Path) -> Iterator[str]:
    write_plate(tmp_path / "p.fits", noise(5), plate_header("HZ31"))
    FlakyPlates.folder, FlakyPlates.seen = tmp_path, []
    FlakyPlates.failures_left, FlakyPlates.ignore_ranges = 0, False
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyPlates)
    thread = threading.Thread(target=httpd.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/plates"
    finally:
        httpd.shutdown()
        thread.join()


def test_plate_server_errors_are_retried_with_backoff_then_named(flaky: str) -> None:
    FlakyPlates.failures_left = 2
    store = HttpPlateStore(flaky, attempts=3, backoff_s=0.05)
    started = time.monotonic()
    opened = store.open("p.fits")  # two 503s, then served
    assert time.monotonic() - started >= 0.05 + 0.1  # backed off 0.05 s, then 0.1 s
    assert_array_equal(opened.reader.read_box(10, 20, 30, 40).data, noise(5)[30:40, 10:20])
    FlakyPlates.failures_left = 3
    with pytest.raises(PlateServerError, match=re.escape(f"the plate server {flaky} answered 503")):
        HttpPlateStore(flaky, attempts=3, backoff_s=0.01).open("p.fits")


def test_a_server_that_ignores_ranges_or_lacks_the_plate_is_named_not_downloaded(
    flaky: str, running: PlateServer
) -> None:
    FlakyPlates.ignore_ranges = True
    with pytest.raises(
        PlateServerError, match=re.escape("answered 200 to a range request for plate p.fits")
    ):
        HttpPlateStore(flaky).open("p.fits")
    with pytest.raises(
        PlateServerError, match=re.escape(f"the plate server {running.url} has no plate")
    ):
        HttpPlateStore(running.url).open("DSS1/missing.fits")
    assert not HttpPlateStore(running.url).exists("DSS1/missing.fits")
    for key in ("../etc/passwd", "/abs.fits", "a//b.fits", ""):
        with pytest.raises(PlateStoreError, match="is not a plate key"):
            HttpPlateStore(running.url).open(key)
    (running.plates / "DSS1").mkdir(exist_ok=True)
    (running.plates / "DSS1" / "page.fits").write_text("<html>not a plate</html>\n" * 200)
    with pytest.raises(
        PlateServerError, match=re.escape("serves plate DSS1/page.fits as no FITS file")
    ):
        HttpPlateStore(running.url).open("DSS1/page.fits")
    # A plate being written (a hidden .part file) is not served.
    (running.plates / "DSS1" / ".0025.fits.0123.part").write_bytes(b"SIMPLE" * 1000)
    with pytest.raises(PlateServerError, match=re.escape("answered 403")):
        HttpPlateStore(running.url).open("DSS1/.0025.fits.0123.part")


def test_a_synchronous_cutout_while_the_plate_server_is_down_is_a_503_naming_it(
    server: PlateServer, over_http: PlateServer, make_user
) -> None:
    header = plate_header("HW41")
    plate_register(header=header, survey="DSS1", data=noise(6))
    user = make_user()
    script = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user)[1]}")
    ra, dec = sky_of(header, "across")
    query = {"RA": repr(ra), "DEC": repr(dec), "SIZE": "0.1", "SURVEY": "DSS1"}
    response = script.get("/api/cutout", query)  # nginx is not running
    assert response.status_code == 503 and response["Retry-After"] == "60"
    assert f"the plate server {server.url} cannot be reached" in response.json()["error"]
    with nginx(server.config, server.port):
        response = script.get("/api/cutout", query)
    assert response.status_code == 200 and response["Content-Type"] == "application/fits"


def test_a_finished_threads_connection_is_closed_not_left_to_the_collector(
    running: PlateServer, over_http: PlateServer
) -> None:
    """Each thread keeps its own kept-alive connection to the plate server (a web server's
    request threads, say); when the thread ends its socket is closed, not left open until
    the garbage collector finds it (a ResourceWarning, and a socket held meanwhile)."""
    plate = plate_register(header=plate_header("HT01"), survey="DSS1", data=noise(7))
    store = HttpPlateStore(running.url)
    read: list[object] = []

    def read_in_a_thread() -> None:
        read.append(store.open(plate.data_file).reader.read_box(10, 20, 30, 40).data)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(3):
            thread = threading.Thread(target=read_in_a_thread)
            thread.start()
            thread.join()
        gc.collect()
    assert len(read) == 3
    unclosed = [w for w in caught if "unclosed <socket" in str(w.message)]
    assert unclosed == [], [str(w.message) for w in unclosed]
