"""IVOA services under load (issue 20), against gunicorn (2 workers x 4 threads) in one run.

1. **SIA-2 query** over the whole synthetic catalogue (every DSS1 and DSS2 plate, 5,000+):
   ``POS=CIRCLE`` at a random sky position with a radius of 0.05 to 1 degree. (a) One client
   alone: the service time. (b) BENCH_CLIENTS (default 20) concurrent clients for
   BENCH_VO_SECONDS (default 20), each a script or TOPCAT session that looks at an answer for
   0.2-1 s before its next query; goal p95 <= 50 ms, and beside it, as the baseline of the same
   run, the p95 of ``/healthz`` under the same load. (c) Saturation: the same clients with no
   pause, printed (latency there is queueing, clients / throughput), not judged.
2. **SODA 10'x10' cut-out** from a full-size DSS2 plate (23040^2 px, RICE_1): the median
   HTTP call against the core cut's own time in this process (the plate open, the box read,
   the FITS built and written: what the web worker does besides choosing the plate) plus the
   HTTP cost of a trivial call, the three taken in turn. Goal: (SODA - HTTP) / core <= 1.3.

Uses DATABASE_URL (an EMPTY database) or a private SQLite file; the full plate is built once
into bench/out/ (see _common.full_dss2_plate).
"""

from __future__ import annotations

import http.client
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from _common import ROOT, full_dss2_plate, percentile
from bench_web import environment, free_port, start_server

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "20"))
SECONDS = float(os.environ.get("BENCH_VO_SECONDS", "20"))
CUTS = int(os.environ.get("BENCH_VO_CUTS", "60"))
SIA_GOAL_MS = 50.0
PAUSE_S = (0.2, 1.0)
SODA_GOAL_RATIO = 1.3
FIELD_ARCMIN = 10.0

SETUP = """
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from pathlib import Path
from astropy.io import fits
from extraction.core.platestore import first_image_hdu
from extraction.services.obscore import obscore_catalogue
from extraction.services.plates import plate_register
from extraction.services.synthetic import synthetic_catalogue_register
print("CATALOGUED", synthetic_catalogue_register(surveys=["DSS1", "DSS2"]))
full = Path({full!r})
with fits.open(full) as hdul:
    header = first_image_hdu(hdul).header.copy()
plate = plate_register(header=header, survey="DSS2", store=lambda path, cards: (
    path.unlink(missing_ok=True), path.symlink_to(full)))
print("ONLINE", plate.plate_id, plate.ra_deg, plate.dec_deg)
print("ROWS", len(obscore_catalogue().rows))  # footprints computed once and stored
"""


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()


def sia_path(rng: random.Random) -> str:
    ra, dec = rng.uniform(0, 360), rng.uniform(-90, 90)
    radius = rng.uniform(0.05, 1.0)
    return "/vo/sia2/query?" + urllib.parse.urlencode({"POS": f"CIRCLE {ra} {dec} {radius}"})


def clients(
    port: int,
    make_path,
    seconds: float,
    *,
    pause_s: tuple[float, float] = (0.0, 0.0),
    n: int = CLIENTS,
) -> tuple[list[float], int, int]:
    """``n`` threads asking one path after another, ``pause_s`` apart (a random span, s);
    latencies (ms), count, errors (a dropped connection is counted and reopened)."""
    times: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        time.sleep(rng.uniform(*pause_s))
        while time.perf_counter() < deadline:
            path = make_path(rng)
            started = time.perf_counter()
            try:
                status, _body = _get(conn, path)
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status = 0
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                times.append(elapsed)
                errors[0] += status != 200
            time.sleep(rng.uniform(*pause_s))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times, len(times), errors[0]


def core_cut(full: Path, ra: float, dec: float) -> Callable[[], int]:
    """The core's cut function (``core.cut.cut_from_store`` on the plate folder, the plate
    open and cached as in a web worker) and the writing of the FITS bytes."""
    from extraction.core.cut import cut_from_store
    from extraction.core.cutout import fits_bytes
    from extraction.core.platestore import LocalPlateStore

    store = LocalPlateStore(full.parent)

    def cut() -> int:
        made = cut_from_store(
            store, full.name, ra_deg=ra, dec_deg=dec, width_arcmin=FIELD_ARCMIN,
            height_arcmin=FIELD_ARCMIN, identifier="cutout",
        )  # fmt: skip
        return len(fits_bytes(made.cutout))

    return cut


def soda_ms(
    port: int, did: str, ra: float, dec: float, core: Callable[[], int]
) -> tuple[float, float, float, int]:
    """Median SODA call, trivial call (/healthz) and core cut (ms), one client alone.

    The three are taken in turn, CUTS times, so that each sees the same machine: measured
    one after the other, a noisy minute shifted one median by 20% against the others."""
    radius = FIELD_ARCMIN / 2 / 60
    query = urllib.parse.urlencode({"ID": did, "CIRCLE": f"{ra} {dec} {radius}"})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(4):  # both workers open the plate and build their caches
        status, body = _get(conn, f"/vo/soda/sync?{query}")
        assert status == 200, body[:300]
    core()
    soda, trivial, cuts = [], [], []
    for _ in range(CUTS):
        started = time.perf_counter()
        status, body = _get(conn, f"/vo/soda/sync?{query}")
        soda.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        _get(conn, "/healthz")
        trivial.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        core()
        cuts.append((time.perf_counter() - started) * 1000)
    medians = (statistics.median(soda), statistics.median(trivial), statistics.median(cuts))
    return (*medians, len(body))


def measure(port: int, full: Path, plate: list[str]) -> int:
    plate_id, ra, dec = plate[0], float(plate[1]), float(plate[2])
    warm = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for _ in range(8):  # each worker loads the catalogue once
        assert _get(warm, sia_path(random.Random(1)))[0] == 200
    alone, _, _ = clients(port, sia_path, SECONDS / 4, n=1)
    print(
        f"  1a. SIA-2 query, one client alone: p50 {statistics.median(alone):.1f} ms, "
        f"p95 {percentile(alone, 0.95):.1f} ms"
    )
    times, count, errors = clients(port, sia_path, SECONDS, pause_s=PAUSE_S)
    base, _, _ = clients(port, lambda rng: "/healthz", SECONDS / 2, pause_s=PAUSE_S)
    p95, base95 = percentile(times, 0.95), percentile(base, 0.95)
    met = p95 <= SIA_GOAL_MS
    print(
        f"  1b. SIA-2 query, {CLIENTS} clients {PAUSE_S[0]}-{PAUSE_S[1]} s apart: {count} "
        f"queries in {SECONDS:.0f} s ({count / SECONDS:.0f}/s): p50 "
        f"{statistics.median(times):.1f} ms, p95 {p95:.1f} ms (goal {SIA_GOAL_MS:.0f} ms: "
        f"{'met' if met else 'NOT met'}); /healthz under the same load p95 {base95:.1f} ms "
        f"(ratio {p95 / base95:.1f}); {errors} errors"
    )
    saturated, count, more_errors = clients(port, sia_path, SECONDS / 2)
    errors += more_errors
    rate = count / (SECONDS / 2)
    print(
        f"  1c. saturation, {CLIENTS} clients with no pause: {rate:.0f} queries/s, p50 "
        f"{statistics.median(saturated):.0f} ms, p95 {percentile(saturated, 0.95):.0f} ms "
        f"(Little's law: {CLIENTS} / {rate:.0f} = {CLIENTS / rate * 1000:.0f} ms)"
    )
    did = f"ivo://127.0.0.1/dss?DSS2/{plate_id}"
    # A field 1 degree from the plate centre: well inside the scan.
    field_dec = dec + 1.0
    soda, trivial, core, size = soda_ms(port, did, ra, field_dec, core_cut(full, ra, field_dec))
    ratio = (soda - trivial) / core
    ok = ratio <= SODA_GOAL_RATIO
    met &= ok
    print(
        f"  2. SODA {FIELD_ARCMIN:.0f}'x{FIELD_ARCMIN:.0f}' from a full-size plate ({size} bytes): "
        f"HTTP {soda:.1f} ms, trivial HTTP call {trivial:.1f} ms, core cut {core:.1f} ms: "
        f"(SODA - HTTP) / core = {ratio:.2f} (goal {SODA_GOAL_RATIO}: {'met' if ok else 'NOT met'})"
    )
    print(f"  goals {'met' if met else 'NOT met'}")
    return 1 if errors else 0


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    full = full_dss2_plate()
    data_dir = Path(tempfile.mkdtemp(prefix="dssportal-bench-vo-"))
    try:
        env = environment(data_dir) | {
            "DSSPORTAL_ANON_CUTOUT_PER_MINUTE": "100000",
            "DSSPORTAL_ANON_CUTOUT_PER_DAY": "100000",
            "DSSPORTAL_PUBLIC_URL": "http://127.0.0.1:8000",
        }
        started = time.perf_counter()
        made = subprocess.run(
            [sys.executable, "-c", SETUP.format(full=str(full))],
            env=env,
            cwd=ROOT,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        ).stdout.split()
        rows = made[made.index("ROWS") + 1]
        online = made[made.index("ONLINE") + 1 : made.index("ONLINE") + 4]
        print(f"catalogue of {rows} plates (footprints in {time.perf_counter() - started:.0f} s)")
        port = free_port()
        server = start_server(env, port)
        try:
            return measure(port, full, online)
        finally:
            server.terminate()
            server.wait(timeout=60)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
