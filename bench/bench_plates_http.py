"""Plates over HTTP (issue 19): a worker without the plates folder, reading a full-size plate
from nginx on loopback (the shipped deploy/nginx/dssportal-plates.conf), against the local
store, in one run.

  1. a 10'x10' DSS2 field (``core.cut.cut_field``, plate open and cached) over HTTP against
     the same field from the local store: target within 2x;
  2. bytes fetched per field against the compressed size of the tiles it touches: target
     within 1.5x of those plus the headers (HTTP response headers per request; the plate's
     FITS headers and tile table once per plate per process, shown apart).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, full_dss2_plate

sys.path.insert(0, str(ROOT))

import numpy as np

from extraction.core.cut import cut_field
from extraction.core.httpplates import HttpPlateStore
from extraction.core.platestore import LocalPlateStore
from tests.plate_server import plate_server_config
from tests.test_production import free_port, nginx

N_FIELDS = 40
PASSES = 3


def fields_on(store: LocalPlateStore, key: str) -> list[tuple[float, float]]:
    geometry = store.open(key).geometry
    rng = np.random.default_rng(19)
    xs, ys = rng.uniform(2000, 21000, N_FIELDS), rng.uniform(2000, 21000, N_FIELDS)
    ras, decs = geometry.pixel_to_sky(xs, ys)
    return [(float(r), float(d)) for r, d in zip(ras, decs, strict=True)]


def cut_all(store, key: str, fields: list[tuple[float, float]], after=None) -> list[float]:  # type: ignore[no-untyped-def]
    """Seconds per field, cutting every field once; ``after(cut, seconds)`` after each."""
    times = []
    for ra, dec in fields:
        started = time.perf_counter()
        cut = cut_field(
            store.open(key),
            ra_deg=ra,
            dec_deg=dec,
            width_arcmin=10,
            height_arcmin=10,
            identifier="bench",
        )
        times.append(time.perf_counter() - started)
        if after is not None:
            after(cut)
    return times


def main() -> None:
    plate = full_dss2_plate()
    tmp = Path(tempfile.mkdtemp(prefix="dssportal-bench-http-"))
    plates, log = tmp / "plates", tmp / "plates.log"
    (plates / "DSS2").mkdir(parents=True)
    key = f"DSS2/{plate.name}"
    (plates / key).symlink_to(plate)
    port = free_port()
    config = plate_server_config(tmp, port, plates, log)
    local = LocalPlateStore(plates)
    fields = fields_on(local, key)
    with nginx(config, port):
        remote = HttpPlateStore(f"http://127.0.0.1:{port}/plates")
        remote.open(key)
        opening = remote.client.counter.bytes
        header_bytes = remote.open(key).reader.tiles.heap_start  # FITS headers + tile table
        # Interleaved passes, best per field: the machine's noise hits both stores alike.
        tile_bytes, fetched, requests = [], [], []
        last = [0, 0]

        def count(cut) -> None:  # type: ignore[no-untyped-def]
            box = cut.coverage.box
            ranges = remote.open(key).reader.tiles.tile_ranges(box.x0, box.x1, box.y0, box.y1)
            tile_bytes.append(sum(stop - start for start, stop in ranges))
            fetched.append(remote.client.counter.bytes - last[0])
            requests.append(remote.client.counter.requests - last[1])
            last[:] = [remote.client.counter.bytes, remote.client.counter.requests]

        last[:] = [remote.client.counter.bytes, remote.client.counter.requests]
        # Interleaved passes, best per field: the machine's noise hits both stores alike.
        passes = [
            (cut_all(local, key, fields), cut_all(remote, key, fields, count if n == 0 else None))
            for n in range(PASSES)
        ]
        local_best = [min(times) for times in zip(*(p[0] for p in passes), strict=True)]
        remote_best = [min(times) for times in zip(*(p[1] for p in passes), strict=True)]
    wire = [int(line.split()[3]) for line in log.read_text().splitlines()]
    first_request_wire = wire[0]
    field_wire = wire[1 : 1 + sum(requests)]
    local_ms = statistics.median(local_best) * 1000
    remote_ms = statistics.median(remote_best) * 1000
    ratio = remote_ms / local_ms
    body_ratio = sum(fetched) / sum(tile_bytes)
    wire_ratio = sum(field_wire) / sum(tile_bytes)
    first_ratio = (fetched[0] + opening) / (tile_bytes[0] + header_bytes)
    print(
        f"full-size DSS2 plate {plate.name}, {plate.stat().st_size / 1e6:.0f} MB; "
        f"{N_FIELDS} 10'x10' fields, best of {PASSES} each"
    )
    print(
        f"1. per field (median): local store {local_ms:.1f} ms, HTTP (nginx, loopback) "
        f"{remote_ms:.1f} ms -> {ratio:.2f}x the local store (target <= 2x: "
        f"{'met' if ratio <= 2 else 'NOT met'})"
    )
    print(
        f"2. bytes per field: touched tiles {statistics.mean(tile_bytes) / 1e6:.2f} MB "
        f"(mean), bodies fetched {body_ratio:.3f}x that, on the wire (nginx $bytes_sent, with "
        f"HTTP headers) {wire_ratio:.3f}x, {statistics.mean(requests):.1f} range requests per "
        f"field (target <= 1.5x: {'met' if wire_ratio <= 1.5 else 'NOT met'})"
    )
    print(
        f"   opening the plate once per process: {opening / 1e3:.1f} kB fetched for "
        f"{header_bytes / 1e3:.1f} kB of FITS headers and tile table ({first_request_wire} bytes "
        f"on the wire); the first field including it: {first_ratio:.3f}x its tiles + headers"
    )


if __name__ == "__main__":
    main()
