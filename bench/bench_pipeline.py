"""Throughput from mail in to completion mail out (issue 13), against the two-worker floor.

One request of BENCH_FIELDS (default 1,000) 10'x10' DSS2 gzip fields on a full-size plate is
handed to the mail gate (``mail_handle``, what ``ingest_mail`` and ``runlmtp`` call); the clock
stops when the completion mail is in the outbox. ``manage.py qcluster`` with 2 workers does the
work, on whatever DATABASE_URL and REDIS_URL say (SQLite and the ORM broker by default):

    .venv/bin/python bench/bench_pipeline.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/EMPTY_DB REDIS_URL=redis://127.0.0.1:6379/N \\
        .venv/bin/python bench/bench_pipeline.py

The floor is the single-field floor (decode the tiles + gzip-1 + write) measured in the same
run, shared by 2 workers: BENCH_FIELDS x floor / 2. Target: within 1.5x.

On a shared, loaded machine the wall-clock ratio mostly measures the other load; the CPU time
the cluster's processes used meanwhile (all of them: workers, pusher, monitor, sweepers)
against BENCH_FIELDS x floor is printed beside it, which the other load hardly moves.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("DSSPORTAL_REQUEST_ADDRESS", "dss-request@bench.example")

from _common import running_cluster
from bench_extraction import DATA, N_FIELDS, plate_and_floor, request_text


def completion_mail_sent(request_id: int) -> bool:
    marker = f"Subject: DSS request #{request_id}: ".encode()
    return any(
        marker in path.read_bytes() and b"ready" in path.read_bytes()
        for path in (DATA / "outbox").glob("*.eml")
    )


def descendants_cpu_s() -> float:
    """CPU seconds (user + system) used so far by this process's descendants still alive."""
    from dssportal.infra.processes import descendant_pids

    total = 0
    for pid in descendant_pids(os.getpid()):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # ended meanwhile
        utime, stime = stat[stat.rindex(")") + 2 :].split()[11:13]
        total += int(utime) + int(stime)
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    import django

    from accounts.services import user_create
    from extraction.mail.gate import mail_handle
    from extraction.models import Request

    path, floor = plate_and_floor()
    user_create(username="bench", email="bench@example.org", password="x", quota_mb=100_000)
    body = request_text(path, N_FIELDS).replace("\n", "\r\n")
    message = (
        "From: Bench <bench@example.org>\r\nTo: dss-request@bench.example\r\n"
        "Subject: bench\r\nMessage-ID: <bench-pipeline@example.org>\r\n"
        "Date: Mon, 05 Jan 2026 10:31:00 +0000\r\nContent-Type: text/plain\r\n\r\n"
        f"{body}\r\n"
    ).encode()
    broker = "Redis" if os.environ.get("REDIS_URL") else "ORM"
    database = django.db.connection.vendor
    with running_cluster(warm_up_s=5):
        cpu_before = descendants_cpu_s()
        started = time.perf_counter()
        mail_handle(message, kind="request")
        received = time.perf_counter() - started
        request = Request.objects.get(message_id__contains="bench-pipeline")
        while not completion_mail_sent(request.pk):
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
        cpu = descendants_cpu_s() - cpu_before
    request.refresh_from_db()
    ideal = N_FIELDS * floor / 2
    print(
        f"mail in -> completion mail out, {N_FIELDS} 10'x10' DSS2 gzip fields, qcluster with 2 "
        f"workers ({database}, {broker} broker): {elapsed:.1f} s = {N_FIELDS / elapsed:.1f} "
        f"fields/s (gate {received:.2f} s); floor {floor * 1000:.1f} ms/field on 2 workers = "
        f"{ideal:.1f} s -> {elapsed / ideal:.2f}x (target <= 1.5x: "
        f"{'met' if elapsed / ideal <= 1.5 else 'NOT met'}); {request.n_done} done, "
        f"{request.n_failed} failed, {request.n_skipped} skipped; cluster CPU {cpu:.1f} s = "
        f"{cpu / N_FIELDS * 1000:.1f} ms/field -> {cpu / (N_FIELDS * floor):.2f}x the floor"
    )


if __name__ == "__main__":
    main()
