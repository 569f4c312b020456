"""Shared set-up for the benchmarks: a Django environment on a throwaway data directory and a
full-size synthetic DSS2 plate, built once and kept in bench/out/ (not in git)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))


def django_setup(data_dir: Path | None = None) -> Path:
    """Configure Django on a private data dir and SQLite file (unless DATABASE_URL is set)."""
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="dssportal-bench-"))
    os.environ["DSSPORTAL_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{data_dir / 'bench.sqlite3'}")
    os.environ["DJANGO_SETTINGS_MODULE"] = "dssportal.settings_test"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return data_dir


def full_dss2_plate() -> Path:
    """A full-size (23040 x 23040) synthetic DSS2 plate, RICE_1 in 500x500 tiles."""
    from extraction import synthetic
    from extraction.core.platestore import write_plate

    spec = next(
        s
        for s in synthetic.survey_catalogue("DSS2")
        if s.band == "R" and abs(s.dec_deg + 25) < 3 and abs(s.ra_deg - 12) < 4
    )
    path = OUT / f"DSS2-{spec.plate_id}-full.fits"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"building a full-size DSS2 plate ({spec.plate_id}) once, into {path} ...", flush=True)
    started = time.perf_counter()
    header = synthetic.plate_header(spec)
    data = synthetic.render_plate_pixels(spec, header)
    write_plate(path, data, header)
    print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def best_of(function: Callable[[], object], repeat: int = 5) -> float:
    """The best wall time (s) of ``repeat`` calls: the least disturbed by a noisy machine."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.95 for p95) of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, round(fraction * len(ordered)) - 1)]


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@contextmanager
def running_cluster(warm_up_s: float, log: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """``manage.py qcluster`` in a subprocess on this environment, given ``warm_up_s`` to
    start its workers before the caller's clock runs; stopped (SIGTERM, then SIGKILL of its
    whole process group if it lingers) on the way out, Ctrl-C and errors included. Its output
    goes to ``log`` (replaced), or nowhere."""
    output = log.open("wb") if log is not None else subprocess.DEVNULL
    cluster = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "qcluster"],
        stdout=output,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
        start_new_session=True,  # its own process group, so nothing of it outlives the bench
    )
    if log is not None:
        output.close()  # the cluster has its own copy
    try:
        time.sleep(warm_up_s)
        yield cluster
    finally:
        cluster.terminate()
        with suppress(subprocess.TimeoutExpired):
            cluster.wait(timeout=60)
        with suppress(ProcessLookupError):
            os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait()
