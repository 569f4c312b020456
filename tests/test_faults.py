"""Faults with real processes: task clusters on Redis and PostgreSQL killed, restarted, cut off.

Each test mails a batch to ``ingest_mail`` (the MTA's path), runs real ``qcluster`` processes
and checks what the user gets: every field done exactly once (one file each, bytes counted
once), no partial or stray file, exactly one completion mail, and no field waiting for a retry
timer. The database is a fresh PostgreSQL database on the server of ``DATABASE_URL`` (or the
local one); the broker is ``DSSPORTAL_TEST_REDIS_URL`` or a private ``redis-server``. Never the
shared servers themselves: PostgreSQL is "restarted" here by terminating this database's
backends, and for real on a private cluster in tests/test_faults_pg_restart.py.

The processes run with tests/fault_settings.py: every completion mail handed to the mail
backend is recorded (so "one mail" means one send, not one file), and the task log says when
a task found its field taken already (a duplicated task).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent
PROBE = Path(__file__).with_name("fault_probe.py")
REQUEST_ADDRESS = "dss-request@archive.example"
LINE = "f{n:04d} 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 U"
MAIL_GRACE_SECONDS = 3  # extraction.services.completion_mail.MAIL_GRACE
QUEUE_NAME = f"dssportal-faults-{os.getpid()}"  # this session's own (tests/fault_settings.py)
QUEUE_KEY = f"django_q:{QUEUE_NAME}:q"  # the Redis broker's list of waiting tasks
REDIS_DB_URL = os.environ.get("DSSPORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")

pytestmark = pytest.mark.processes


def _server_url() -> urllib.parse.SplitResult:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        url = "postgres://postgres@127.0.0.1:5432/dss_faults"
    return urllib.parse.urlsplit(url)


@dataclass
class Site:
    env: dict[str, str]
    db_url: str
    data_dir: Path

    def sql(self, query: str, *params: object) -> list[tuple[object, ...]]:
        with psycopg.connect(self.db_url, autocommit=True) as db:
            return db.execute(query, params).fetchall()


def process_env(*, db_url: str, data_dir: Path, redis_url: str) -> dict[str, str]:
    """The environment of every process a fault test starts (none of ours inherited)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("DSSPORTAL_", "DATABASE_URL", "REDIS_URL", "EMAIL_", "DEBUG", "DJANGO_ALLOW_ASYNC")
        )
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tests.fault_settings",
        FAULT_TEST_SENT_LOG=str(data_dir / "sent.log"),
        FAULT_TEST_QUEUE=QUEUE_NAME,
        DEBUG="0",
        SECRET_KEY="fault-tests-" + "s" * 50,
        DATABASE_URL=db_url,
        DSSPORTAL_DATA_DIR=str(data_dir),
        REDIS_URL=redis_url,
        DSSPORTAL_REQUEST_ADDRESS=REQUEST_ADDRESS,
        DSSPORTAL_DELETE_ADDRESS="dss-delete@archive.example",
        DSSPORTAL_SWEEP_SECONDS="1",
        DSSPORTAL_WORKERS="2",
        LOG_LEVEL="WARNING",
    )
    return env


def site_setup(env: dict[str, str]) -> None:
    """Schema, the real DSS plate and the user alice, in the database ``env`` names."""
    assert probe(env, "setup", timeout=300) == "ready"


def probe(env: dict[str, str], *args: str, timeout: float = 60) -> str:
    """What tests/fault_probe.py prints, run with ``args`` in the processes' environment."""
    done = subprocess.run(
        [sys.executable, str(PROBE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    server = _server_url()
    name = f"{server.path.lstrip('/')}_faults_{os.getpid()}"
    admin_url = server._replace(path="/postgres").geturl()
    try:
        with psycopg.connect(admin_url, autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {server.hostname}:{server.port} is needed: {exc}")
    db_url = server._replace(path=f"/{name}").geturl()
    data_dir = tmp_path_factory.mktemp("faults")
    env = process_env(db_url=db_url, data_dir=data_dir, redis_url=REDIS_DB_URL)
    site_setup(env)
    try:
        yield Site(env=env, db_url=db_url, data_dir=data_dir)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def broker(site: Site) -> Iterator[redis.Redis]:
    """The shared test Redis database, with no task left over from an earlier test."""
    connection = redis.Redis.from_url(site.env["REDIS_URL"])
    connection.delete(QUEUE_KEY)
    yield connection
    connection.delete(QUEUE_KEY)
    connection.close()


@dataclass(frozen=True)
class Duplicates:
    abandoned: int
    orphaned: int
    not_claimed: int


class Clusters:
    """qcluster processes, each in its own process group as under systemd."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir, self.running = env, log_dir, list[subprocess.Popen[bytes]]()

    def start(self, **env: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"qcluster-{len(self.running)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "qcluster"],
            env={**self.env, **env},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running.append(process)
        return process

    def logs(self) -> str:
        return "".join(
            path.read_text(errors="replace") for path in sorted(self.log_dir.glob("qcluster-*.log"))
        )

    def duplicates(self) -> Duplicates:
        """What the sweepers re-enqueued, and how many tasks found their field taken."""
        logs = self.logs()
        sweeps = re.findall(r"re-enqueued (\d+) abandoned, (\d+) orphaned", logs)
        return Duplicates(
            abandoned=sum(int(a) for a, _ in sweeps),
            orphaned=sum(int(o) for _, o in sweeps),
            not_claimed=len(re.findall(r"field \d+ not claimed", logs)),
        )

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


@pytest.fixture
def clusters(site: Site, tmp_path: Path) -> Iterator[Clusters]:
    running = Clusters(site.env, tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


def mail(n_fields: int, tag: str) -> bytes:
    body = "\r\n".join(LINE.format(n=n) for n in range(n_fields))
    return (
        f"From: Alice <alice@example.org>\r\nTo: {REQUEST_ADDRESS}\r\nSubject: batch {tag}\r\n"
        f"Message-ID: <batch-{tag}@example.org>\r\nDate: Mon, 05 Jan 2026 10:31:00 +0000\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def ingest(site: Site, message: bytes) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "ingest_mail", "--kind", "request"],
        env=site.env,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write(message)
    process.stdin.close()
    return process


def mail_batch(site: Site, n_fields: int, tag: str) -> int:
    request_id, process = mail_batch_arriving(site, n_fields, tag)
    ingested(process)
    return request_id


def mail_batch_arriving(site: Site, n_fields: int, tag: str) -> tuple[int, subprocess.Popen[bytes]]:
    """The batch mailed in, and its request as soon as the gate has stored it: a test that
    acts mid-batch must not wait for ``ingest_mail`` to exit (it still sends the receipt and
    shuts down while the workers go through the batch). Check the process with ``ingested``."""
    process = ingest(site, mail(n_fields, tag))
    found: list[int] = []

    def stored() -> bool:
        assert process.poll() in (None, 0), process.stderr.read() if process.stderr else ""
        found[:] = [
            int(pk)
            for (pk,) in site.sql(
                "SELECT id FROM extraction_request WHERE message_id LIKE %s",
                f"%batch-{tag}@example.org%",
            )
        ]
        return bool(found)

    wait_until(stored, 120, f"the request of batch {tag} stored")
    return found[0], process


def ingested(process: subprocess.Popen[bytes]) -> None:
    assert process.wait(timeout=120) == 0, process.stderr.read() if process.stderr else ""


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"waited {timeout} s for {what}"
        time.sleep(0.1)
    return time.monotonic() - started


def done_count(site: Site, request_id: int) -> int:
    ((n,),) = site.sql(
        "SELECT count(*) FROM extraction_field WHERE request_id = %s AND status = 'done'",
        request_id,
    )
    return int(n)


def notified(site: Site, request_id: int) -> bool:
    ((at,),) = site.sql("SELECT notified_at FROM extraction_request WHERE id = %s", request_id)
    return at is not None


def completion_mails(site: Site, request_id: int) -> list[Path]:
    outbox = site.data_dir / "outbox"
    marker = f"Subject: DSS request #{request_id}: ".encode()
    return [
        p for p in outbox.glob("*.eml") if marker in p.read_bytes() and b"ready" in p.read_bytes()
    ]


def completion_sends(site: Site, request_id: int) -> list[str]:
    """Every completion mail of the request handed to the mail backend (tests/fault_mail.py)."""
    log = site.data_dir / "sent.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if line.startswith(f"<completion.{request_id}.")]


def mailed(site: Site, request_id: int) -> bool:
    ((at,),) = site.sql("SELECT mailed_at FROM extraction_request WHERE id = %s", request_id)
    return at is not None


def assert_done_exactly_once(site: Site, request_id: int, n_fields: int) -> None:
    statuses = site.sql(
        "SELECT status, count(*) FROM extraction_field WHERE request_id = %s GROUP BY status",
        request_id,
    )
    assert dict(statuses) == {"done": n_fields}
    ((path, recorded_bytes),) = site.sql(
        "SELECT path, bytes FROM extraction_stagingdirectory WHERE request_id = %s", request_id
    )
    staged = sorted((site.data_dir / "staging" / str(path)).iterdir())
    assert [p.name for p in staged] == [f"f{n:04d}.fits" for n in range(n_fields)]
    assert recorded_bytes == sum(p.stat().st_size for p in staged), "bytes counted twice"
    time.sleep(1.5)  # a second completion mail would be sent by now, dead scratch removed
    partial = site.data_dir / "staging" / ".partial"
    assert [p for p in partial.glob("**/*") if p.is_file()] == [], "a partial file is left"
    assert len(completion_mails(site, request_id)) == 1
    assert len(completion_sends(site, request_id)) == 1, "the completion mail was sent twice"
    assert mailed(site, request_id)


def test_sigkill_of_a_cluster_mid_batch_loses_nothing_and_qcluster_stops_on_sigterm(
    site: Site, broker: redis.Redis, clusters: Clusters
) -> None:
    n_fields = 480  # a few seconds of work for four workers
    first, second = clusters.start(), clusters.start()
    request_id, ingesting = mail_batch_arriving(site, n_fields, "sigkill")
    wait_until(lambda: done_count(site, request_id) >= 20, 120, "20 fields done")

    # Checked before the kill: afterwards the other cluster may end the batch at once.
    assert done_count(site, request_id) < n_fields, "the batch ended before the kill"
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    killed_at = time.monotonic()
    time.sleep(1)
    restarted = clusters.start()
    ingested(ingesting)
    wait_until(lambda: mailed(site, request_id), 60, "the completion mail")
    recovery = time.monotonic() - killed_at
    assert recovery < 30, f"the batch took {recovery:.0f} s to finish after the kill"
    assert_done_exactly_once(site, request_id, n_fields)
    duplicates = clusters.duplicates()
    print(f"after SIGKILL of one of two clusters, {n_fields} fields: {duplicates}")
    # The fields the killed cluster had in hand, and at most a few more (prefetched tasks).
    assert duplicates.not_claimed <= duplicates.abandoned + duplicates.orphaned

    # systemd's stop: SIGTERM to the whole process group; a shell's `kill PID`: the main one.
    started = time.monotonic()
    os.killpg(second.pid, signal.SIGTERM)
    restarted.send_signal(signal.SIGTERM)
    second.wait(timeout=30)
    restarted.wait(timeout=30)
    stop_time = time.monotonic() - started
    assert stop_time < 10, f"qcluster took {stop_time:.1f} s to stop after SIGTERM"


def test_a_cluster_killed_between_the_settle_and_the_mail_sends_it_once_after_a_restart(
    site: Site, broker: redis.Redis, clusters: Clusters, tmp_path: Path
) -> None:
    n_fields = 40
    marker = tmp_path / "crashed"
    first = clusters.start(FAULT_TEST_CRASH_MARKER=str(marker))
    request_id = mail_batch(site, n_fields, "mailcrash")
    first.wait(timeout=120)  # its mail backend killed the whole cluster at the completion mail
    assert marker.exists()
    assert notified(site, request_id) and not mailed(site, request_id)
    assert completion_mails(site, request_id) == []
    # Up to the crash a normal run: no field was re-enqueued, no task was duplicated.
    assert clusters.duplicates() == Duplicates(abandoned=0, orphaned=0, not_claimed=0)

    clusters.start()  # two clusters: four sweepers race for the owed mail
    clusters.start()
    waited = wait_until(lambda: mailed(site, request_id), 30, "the owed completion mail")
    print(f"the owed completion mail went out {waited:.1f} s after the restart")
    assert_done_exactly_once(site, request_id, n_fields)


def test_a_database_cut_between_the_completion_mail_and_its_record_sends_it_once(
    site: Site, broker: redis.Redis, clusters: Clusters, tmp_path: Path
) -> None:
    """The mail has gone when the connection that would record it is cut: the sender records
    it once the database answers again, before the sweeper takes the mail for owed."""
    n_fields = 40
    marker = tmp_path / "cut"
    clusters.start(FAULT_TEST_CUT_MARKER=str(marker))
    request_id = mail_batch(site, n_fields, "mailcut")
    wait_until(lambda: mailed(site, request_id), 30, "the completion mail recorded")
    assert marker.exists(), "the connection was not cut"
    time.sleep(MAIL_GRACE_SECONDS)  # a sweeper would send it again by now
    assert_done_exactly_once(site, request_id, n_fields)


def test_tasks_a_live_cluster_has_taken_but_not_started_keep_the_broker_busy(
    site: Site, broker: redis.Redis, clusters: Clusters
) -> None:
    """A cluster takes tasks off the broker ahead of its workers (its prefetch). At the end of a
    long batch the broker is empty while the last tasks wait there, enqueued long ago: the
    sweeper took them for orphans and enqueued them again. With one worker the cluster
    prefetches one task: two tasks leave one running and one waiting inside the cluster."""
    clusters.start(DSSPORTAL_WORKERS="1")
    wait_until(
        lambda: probe(site.env, "broker-idle") == "True", 60, "the cluster up, nothing queued"
    )
    # Long tasks: the second must still wait when a slow probe (Django's start-up on a busy
    # CI machine) reads the clusters' reports, which come every guard cycle (0.5 s).
    probe(site.env, "sleeps", "2", "10")
    wait_until(lambda: broker.llen(QUEUE_KEY) == 0, 10, "both tasks off the broker")
    wait_until(
        lambda: probe(site.env, "broker-idle") == "False",
        8,
        "the task waiting inside the cluster counted as queued",
    )
    wait_until(lambda: probe(site.env, "broker-idle") == "True", 40, "both tasks done")


def test_qcluster_stops_within_seconds_of_sigterm_mid_batch_and_loses_nothing(
    site: Site, broker: redis.Redis, clusters: Clusters
) -> None:
    n_fields = 240  # a few seconds of work for two workers
    first = clusters.start()
    request_id, ingesting = mail_batch_arriving(site, n_fields, "sigterm")
    wait_until(lambda: done_count(site, request_id) >= 5, 120, "5 fields done")
    # Checked before the stop: the workers end the tasks they hold, which may end the batch.
    assert done_count(site, request_id) < n_fields, "the batch ended before the stop"
    started = time.monotonic()
    os.killpg(first.pid, signal.SIGTERM)  # systemd's stop, with both workers busy
    first.wait(timeout=30)
    stop_time = time.monotonic() - started
    assert stop_time < 10, f"qcluster took {stop_time:.1f} s to stop mid-batch"

    clusters.start()
    ingested(ingesting)
    wait_until(lambda: mailed(site, request_id), 60, "the completion mail")
    assert_done_exactly_once(site, request_id, n_fields)
    print(f"SIGTERM mid-batch: stopped in {stop_time:.1f} s; {clusters.duplicates()}")


def test_database_connections_cut_mid_batch_then_every_field_is_done_once(
    site: Site, broker: redis.Redis, clusters: Clusters
) -> None:
    n_fields = 240  # a few seconds of work for two workers
    clusters.start()
    request_id, ingesting = mail_batch_arriving(site, n_fields, "pgcut")
    wait_until(lambda: done_count(site, request_id) >= 10, 120, "10 fields done")
    name = site.db_url.rsplit("/", 1)[1]
    for _ in range(3):  # what a PostgreSQL restart does to every open connection
        site.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            name,
        )
        time.sleep(0.3)
    ingested(ingesting)
    wait_until(lambda: mailed(site, request_id), 60, "the completion mail")
    assert_done_exactly_once(site, request_id, n_fields)
    duplicates = clusters.duplicates()
    print(f"after connections cut three times, {n_fields} fields: {duplicates}")
    # Tasks ride the cut out and go on with their fields: no orphan, a duplicate at most for
    # a field that was running when its connection was cut.
    assert duplicates.orphaned == 0 and duplicates.not_claimed <= duplicates.abandoned


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_redis_restarted_mid_batch_loses_no_field(
    site: Site, clusters: Clusters, tmp_path: Path
) -> None:
    executable = shutil.which("redis-server")
    assert executable, "redis-server is needed (CI starts one; apt-get install redis-server)"
    port = free_port()

    server = start_redis(executable, port, tmp_path)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        clusters.start(REDIS_URL=url)
        n_fields = 60
        request_id = mail_batch(
            Site(env={**site.env, "REDIS_URL": url}, db_url=site.db_url, data_dir=site.data_dir),
            n_fields,
            "redis",
        )
        wait_until(lambda: done_count(site, request_id) >= 10, 120, "10 fields done")
        server.kill()  # no persistence: every task still in the queue is gone
        server.wait(timeout=10)
        time.sleep(1)
        server = start_redis(executable, port, tmp_path)
        wait_until(lambda: mailed(site, request_id), 60, "the completion mail")
        assert_done_exactly_once(site, request_id, n_fields)
    finally:
        clusters.stop_all()
        server.kill()
        server.wait(timeout=10)


def start_redis(executable: str, port: int, folder: Path) -> subprocess.Popen[bytes]:
    """A private redis-server without persistence on ``port``, answering."""
    process = subprocess.Popen(
        [
            executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
    )
    probe = redis.Redis(port=port)
    wait_until(lambda: _pings(probe), 10, "redis-server")
    return process


def _pings(connection: redis.Redis) -> bool:
    try:
        return bool(connection.ping())
    except redis.ConnectionError:
        return False


def test_the_same_mail_from_two_processes_at_once_makes_one_request(
    site: Site, broker: redis.Redis
) -> None:
    message = mail(3, "twice")
    both = [ingest(site, message), ingest(site, message)]
    assert [process.wait(timeout=120) for process in both] == [0, 0]
    ((n_requests,),) = site.sql(
        "SELECT count(*) FROM extraction_request WHERE message_id LIKE %s",
        "%batch-twice@example.org%",
    )
    assert n_requests == 1
