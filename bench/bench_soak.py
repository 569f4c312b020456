"""Soak (issue 13): BENCH_SOAK_FIELDS (default 10,000) fields through the mail gate with 2 workers.

Many requests arrive by mail (``mail_handle``, what ``ingest_mail`` and ``runlmtp`` call) at a
steady rate a bit below what the cluster can do, with a few large ones among them, the way a
busy day looks rather than one giant batch:

- the first mail is a large one (5 % of the fields) sent alone: its throughput is the capacity
  the rest of the run is paced against (the machine is shared, so a fixed rate would be wrong
  on another day);
- then mails of 10, 50 and 90 fields (50 on average) arrive paced at BENCH_SOAK_LOAD (default
  0.8) of that capacity, with two more large mails at a third and two thirds of the way.

All fields are 10'x10' DSS2 gzip on the full-size synthetic plate, as in bench_pipeline.
``manage.py qcluster`` with 2 workers does the work on whatever DATABASE_URL and REDIS_URL say
(SQLite and the ORM broker by default; give PostgreSQL an EMPTY database):

    BENCH_SOAK_FIELDS=1000 .venv/bin/python bench/bench_soak.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/EMPTY_DB REDIS_URL=redis://127.0.0.1:6379/N \\
        .venv/bin/python bench/bench_soak.py

Printed: the throughput (fields/s, first receipt to last completion mail) and its ratio to
the two-worker floor measured in the same run (fields x single-field floor / 2; paced arrival
bounds it from below by 1/BENCH_SOAK_LOAD of the calibration ratio, which is printed too);
p50/p95/max time from receipt to completion mail per request; the resident memory of every
process of the cluster's process tree, sampled every BENCH_SOAK_SAMPLE_S (default 2) seconds
from /proc, as a table and sparklines of VmRSS and of its anonymous part (RssAnon, the heap),
with the verdict "flat" when, after the warm-up (the first mail), the median of the last third
is within 10 % (or 20 MB) of the first third's. The workers memory-map the plate, so VmRSS also
counts the plate pages they have touched (page cache: shared, reclaimable, at most the plate's
size per worker): VmRSS growing within that bound with a flat heap is still "flat", and the
report says so. Then the staged files, completion mails (exactly one per request) and failed
fields. Exits 1 when a field is lost or failed, a file or a completion mail is missing or
doubled, or nothing ended for BENCH_SOAK_STALL_S (default 300) seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("DSSPORTAL_REQUEST_ADDRESS", "dss-request@bench.example")

from _common import percentile, running_cluster
from bench_extraction import DATA, plate_and_floor, request_text
from tqdm import tqdm

N_FIELDS = int(os.environ.get("BENCH_SOAK_FIELDS", "10000"))
LOAD = float(os.environ.get("BENCH_SOAK_LOAD", "0.8"))
SAMPLE_S = float(os.environ.get("BENCH_SOAK_SAMPLE_S", "2"))
STALL_S = float(os.environ.get("BENCH_SOAK_STALL_S", "300"))
SMALL_SIZES = (10, 50, 90)
FLAT_FRACTION, FLAT_MB = 0.10, 20.0
WORKERS = 2


@dataclass
class Mail:
    size: int
    large: bool
    lines: list[str]
    sent_at: float = 0.0  # wall clock (time.time()), to compare with the outbox files' mtime
    request_id: int = 0


@dataclass
class RssSample:
    at: float  # seconds since the first mail
    processes: int
    total_mb: float
    anon_mb: float  # RssAnon: the heap; the rest is the memory-mapped plate, shared and reclaimable
    largest_mb: float


@dataclass
class RssSampler:
    """Reads VmRSS of a process and all its descendants from /proc, every ``SAMPLE_S``."""

    root_pid: int
    started: float
    samples: list[RssSample] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_S):
            sizes = [rss_mb(pid) for pid in process_tree(self.root_pid)]
            sizes = [size for size in sizes if size[0] > 0]
            if sizes:
                totals = [total for total, _ in sizes]
                self.samples.append(
                    RssSample(
                        at=time.time() - self.started,
                        processes=len(sizes),
                        total_mb=sum(totals),
                        anon_mb=sum(anon for _, anon in sizes),
                        largest_mb=max(totals),
                    )
                )


def process_tree(root: int) -> list[int]:
    """``root`` and every descendant alive now."""
    from dssportal.infra.processes import descendant_pids

    return [root, *descendant_pids(root)]


def rss_mb(pid: int) -> tuple[float, float]:
    """VmRSS and RssAnon of a process (MB); zeros when it has gone."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                values[key] = int(value.split()[0]) / 1024.0
    except OSError:
        pass
    return values.get("VmRSS", 0.0), values.get("RssAnon", 0.0)


def mail_plan(lines: list[str]) -> list[Mail]:
    """One large mail first (the calibration), then the paced stream with two more inside."""
    large = max(1, len(lines) * 5 // 100)
    sizes, rest = [], len(lines) - 3 * large
    while rest > 0:
        size = min(rest, SMALL_SIZES[len(sizes) % len(SMALL_SIZES)])
        sizes.append(size)
        rest -= size
    plan = [(size, False) for size in sizes]
    for position in (len(plan) * 2 // 3, len(plan) // 3, 0):
        plan.insert(position, (large, True))
    mails, start = [], 0
    for size, is_large in plan:
        mails.append(Mail(size, is_large, lines[start : start + size]))
        start += size
    return mails


def message(number: int, mail: Mail, users: int) -> bytes:
    body = "\r\n".join(mail.lines)
    sender = f"soak{number % users}@example.org"
    return (
        f"From: Soak <{sender}>\r\nTo: dss-request@bench.example\r\n"
        f"Subject: soak {number}\r\nMessage-ID: <soak-{number}@example.org>\r\n"
        "Date: Mon, 05 Jan 2026 10:31:00 +0000\r\nContent-Type: text/plain\r\n\r\n"
        f"{body}\r\n"
    ).encode()


def send(number: int, mail: Mail, users: int) -> None:
    from extraction.mail.gate import mail_handle

    mail.sent_at = time.time()
    outcome = mail_handle(message(number, mail, users), kind="request")
    assert outcome.request is not None, f"mail {number} made no request: {outcome.detail}"
    mail.request_id = outcome.request.pk


def fields_ended() -> int:
    from extraction.models import Field, FieldStatus

    return Field.objects.exclude(status__in=(FieldStatus.QUEUED, FieldStatus.RUNNING)).count()


def completion_mails() -> dict[int, list[float]]:
    """Request id -> the times (mtime) its completion mails reached the outbox."""
    pattern = re.compile(rb"^Subject: DSS request #(\d+): .*\b(ready|made)\b", re.MULTILINE)
    found: dict[int, list[float]] = {}
    for path in (DATA / "outbox").glob("*.eml"):
        head = path.read_bytes().split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        match = pattern.search(head)
        if match:
            found.setdefault(int(match.group(1)), []).append(path.stat().st_mtime)
    return found


class Stalled(Exception):
    pass


def drive(mails: list[Mail], users: int) -> float:
    """Send the mails on their schedule and wait for every field; returns the capacity
    (fields/s) the calibration mail measured."""
    from extraction.models import Request

    bar = tqdm(total=N_FIELDS, desc="soak", unit=" fields", disable=None)
    last_ended, last_progress = 0, time.time()

    def watch() -> int:
        nonlocal last_ended, last_progress
        ended = fields_ended()
        bar.update(ended - last_ended)
        if ended != last_ended:
            last_ended, last_progress = ended, time.time()
        elif time.time() - last_progress > STALL_S:
            raise Stalled(f"no field ended for {STALL_S:.0f} s ({ended} of {N_FIELDS} ended)")
        return ended

    send(0, mails[0], users)
    while watch() < mails[0].size:
        time.sleep(0.2)
    capacity = mails[0].size / (time.time() - mails[0].sent_at)
    rate = LOAD * capacity
    bar.set_postfix_str(f"capacity {capacity:.1f}/s, arrivals {rate:.1f}/s")
    due = time.time()
    for number, mail in enumerate(mails[1:], start=1):
        while time.time() < due:
            watch()
            time.sleep(min(0.5, max(0.0, due - time.time())))
        send(number, mail, users)
        due += mail.size / rate
    ids = [mail.request_id for mail in mails]
    while watch() < N_FIELDS or Request.objects.filter(pk__in=ids, notified_at=None).exists():
        time.sleep(0.5)
    while len(completion_mails()) < len(mails) and time.time() - last_progress < 30:
        time.sleep(0.2)  # the mail leaves after the commit that decided it
    time.sleep(2)  # a doubled completion mail would show up here
    bar.close()
    return capacity


def latency_report(mails: list[Mail], sent: dict[int, list[float]]) -> None:
    for label, chosen in (
        ("all", mails),
        ("small (10-90 fields)", [m for m in mails if not m.large]),
        (f"large ({mails[0].size} fields)", [m for m in mails if m.large]),
    ):
        times = [min(sent[m.request_id]) - m.sent_at for m in chosen if m.request_id in sent]
        if times:
            print(
                f"  receipt -> completion mail, {label:<22} n={len(times):4d}  p50 "
                f"{statistics.median(times):6.1f} s  p95 {percentile(times, 0.95):6.1f} s  max "
                f"{max(times):6.1f} s"
            )


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 60) -> str:
    buckets = [
        values[i * len(values) // width : (i + 1) * len(values) // width] for i in range(width)
    ]
    points = [statistics.median(b) for b in buckets if b]
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    return "".join(SPARKS[round((p - low) / span * (len(SPARKS) - 1))] for p in points)


def rss_report(samples: list[RssSample], warm_up_s: float, plate_mb: float) -> bool:
    """Print the memory over time; True when it stayed flat after the warm-up."""
    if len(samples) < 6:
        print(f"  cluster RSS: only {len(samples)} samples, no verdict (run longer)")
        return True
    rows = [*samples[:: max(1, len(samples) // 8)], samples[-1]]
    print("  cluster memory over time (every process of the qcluster tree, from /proc):")
    print("      t (s)  processes  VmRSS MB  of it RssAnon MB  largest process MB")
    for row in rows:
        print(
            f"    {row.at:7.0f}  {row.processes:9d}  {row.total_mb:8.0f}  {row.anon_mb:16.0f}  "
            f"{row.largest_mb:18.0f}"
        )
    settled = [s for s in samples if s.at >= warm_up_s] or samples
    third = max(1, len(settled) // 3)
    verdicts = {}
    for label, values in (
        ("VmRSS", [s.total_mb for s in settled]),
        ("RssAnon", [s.anon_mb for s in settled]),
    ):
        first, last = statistics.median(values[:third]), statistics.median(values[-third:])
        verdicts[label] = last - first <= max(FLAT_FRACTION * first, FLAT_MB)
        print(
            f"    {label:<7} {min(values):5.0f}-{max(values):5.0f} MB {sparkline(values)}  first "
            f"third {first:.0f} MB, last {last:.0f} MB ({last - first:+.0f}): "
            f"{'flat' if verdicts[label] else 'growing'}"
        )
    # What is not anonymous is file-backed: the libraries and the memory-mapped plate, whose
    # pages the kernel keeps resident as the workers touch more of its tiles (page cache,
    # shared, reclaimable); it cannot exceed the plate's size per worker.
    mapped = max(s.total_mb - s.anon_mb for s in settled) - (
        samples[0].total_mb - samples[0].anon_mb
    )
    bounded = mapped <= WORKERS * plate_mb
    flat = verdicts["RssAnon"] and (verdicts["VmRSS"] or bounded)
    print(
        f"  after a warm-up of {warm_up_s:.0f} s (the first mail); flat = within 10 % or 20 MB. "
        f"File-backed growth {mapped:.0f} MB (bound: {WORKERS} workers x the {plate_mb:.0f} MB "
        f"plate mapped). Verdict: {'flat' if flat else 'GROWING'}"
        + ("" if verdicts["VmRSS"] else " (the heap is flat; VmRSS grows by mapped plate pages)")
        * flat
    )
    return flat


def staged_files() -> int:
    return sum(
        1
        for path in (DATA / "staging").rglob("*.fits*")
        if path.is_file() and not any(part.startswith(".") for part in path.parts)
    )


def main() -> int:
    import django

    from accounts.services import user_create
    from extraction.models import Field, FieldStatus

    path, floor = plate_and_floor()
    users = 20
    for n in range(users):
        user_create(
            username=f"soak{n}", email=f"soak{n}@example.org", password="x", quota_mb=100_000
        )
    mails = mail_plan(request_text(path, N_FIELDS).splitlines())
    broker = "Redis" if os.environ.get("REDIS_URL") else "ORM"
    database = django.db.connection.vendor
    with running_cluster(warm_up_s=5) as cluster:
        sampler = RssSampler(cluster.pid, started=time.time())
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()
        try:
            started = time.time()
            capacity = drive(mails, users)
            elapsed = max(t for times in completion_mails().values() for t in times) - started
        except Stalled as exc:
            print(f"STALLED: {exc}")
            elapsed, capacity = float("nan"), float("nan")
        finally:
            sampler.stop.set()
            thread.join()
    sent = completion_mails()
    statuses = dict(
        Field.objects.values_list("status").annotate(n=django.db.models.Count("pk"))  # type: ignore[arg-type]
    )
    done, failed = statuses.get(FieldStatus.DONE, 0), statuses.get(FieldStatus.FAILED, 0)
    lost = sum(statuses.get(s, 0) for s in (FieldStatus.QUEUED, FieldStatus.RUNNING))
    files, doubled = staged_files(), sum(1 for t in sent.values() if len(t) > 1)
    missing = sum(1 for m in mails if m.request_id not in sent)
    ideal = N_FIELDS * floor / 2
    calibration = (mails[0].size / capacity) / (mails[0].size * floor / 2)
    print(
        f"soak: {N_FIELDS} 10'x10' DSS2 gzip fields in {len(mails)} mails through the mail gate, "
        f"qcluster with 2 workers ({database}, {broker} broker)\n"
        f"  throughput {N_FIELDS / elapsed:.1f} fields/s over {elapsed:.0f} s; floor "
        f"{floor * 1000:.1f} ms/field on 2 workers = {ideal:.0f} s -> {elapsed / ideal:.2f}x "
        f"(arrivals paced at {LOAD:.2f} of the capacity the first mail measured, "
        f"{capacity:.1f} fields/s = {calibration:.2f}x the floor)"
    )
    latency_report(mails, sent)
    warm_up = min(sent.get(mails[0].request_id, [started])) - started
    flat = rss_report(sampler.samples, warm_up_s=warm_up, plate_mb=path.stat().st_size / 2**20)
    print(
        f"  fields: {done} done, {failed} failed, {lost} never ended; {files} files staged; "
        f"{sum(len(t) for t in sent.values())} completion mails for {len(mails)} requests "
        f"({missing} missing, {doubled} doubled)"
    )
    healthy = (
        done == N_FIELDS
        and files == done
        and not failed
        and not lost
        and not missing
        and not doubled
    )
    if not flat:
        print("  worker memory grew: see the table above")
    return 0 if healthy else 1


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through running_cluster, which stops the cluster


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)
    try:
        sys.exit(main())
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(DATA, ignore_errors=True)
