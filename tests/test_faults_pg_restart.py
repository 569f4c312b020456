"""PostgreSQL really restarted mid-batch, on a private cluster (never the machine's server).

A throw-away PostgreSQL cluster (``initdb`` + ``pg_ctl`` from the server's own binaries, as the
``postgres`` user when the tests run as root) and a private ``redis-server``; two ``qcluster``
processes and the mail command as the MTA runs it. While the database is down: the mail
command exits 75 (EX_TEMPFAIL) so that the MTA keeps the message, and a cluster told to stop
(SIGTERM to its process group, with tasks waiting for the database) stops within seconds.
Once it is back: every field done exactly once, one completion mail each, no partial file, and
the message retried by the MTA makes exactly one request.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.test_faults import (
    Clusters,
    Site,
    assert_done_exactly_once,
    done_count,
    free_port,
    ingest,
    mail,
    mail_batch,
    mailed,
    process_env,
    site_setup,
    start_redis,
    wait_until,
)

pytestmark = pytest.mark.processes

EX_TEMPFAIL = 75


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parent)
    initdb = Path(shutil.which("initdb") or (found[-1] if found else "initdb"))
    if not initdb.exists():
        pytest.fail("PostgreSQL's server binaries (initdb, pg_ctl) are needed")
    return initdb.parent


class PrivatePostgres:
    """A PostgreSQL cluster of our own in a temporary folder, on a free port."""

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.root = Path(tempfile.mkdtemp(prefix="dss-faults-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/dss_faults_private"
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.root, user="postgres")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{tool}: {done.stdout}{done.stderr}"

    def create(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")
        self.start()
        admin = self.url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute("CREATE DATABASE dss_faults_private")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.root / "log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_site(tmp_path: Path) -> Iterator[tuple[Site, PrivatePostgres]]:
    executable = shutil.which("redis-server")
    assert executable, "redis-server is needed (apt-get install redis-server)"
    postgres = PrivatePostgres()
    redis_port = free_port()
    broker = start_redis(executable, redis_port, tmp_path)
    try:
        postgres.create()
        data_dir = tmp_path / "data"
        env = process_env(
            db_url=postgres.url, data_dir=data_dir, redis_url=f"redis://127.0.0.1:{redis_port}/0"
        )
        site_setup(env)
        yield Site(env=env, db_url=postgres.url, data_dir=data_dir), postgres
    finally:
        postgres.remove()
        broker.kill()
        broker.wait(timeout=10)


def test_postgresql_restarted_mid_batch_then_every_field_is_done_once_and_the_mta_retry_works(
    private_site: tuple[Site, PrivatePostgres], tmp_path: Path
) -> None:
    site, postgres = private_site
    clusters = Clusters(site.env, tmp_path)
    try:
        clusters.start()
        doomed = clusters.start()
        n_fields = 60
        request_id = mail_batch(site, n_fields, "pgrestart")
        wait_until(lambda: done_count(site, request_id) >= 10, 120, "10 fields done")

        postgres.stop()
        down_at = time.monotonic()
        during = ingest(site, mail(3, "during-outage"))
        assert during.wait(timeout=60) == EX_TEMPFAIL, during.stderr.read() if during.stderr else ""

        # systemd stopping a host while its tasks wait for the database.
        started = time.monotonic()
        os.killpg(doomed.pid, signal.SIGTERM)
        doomed.wait(timeout=30)
        stop_time = time.monotonic() - started
        assert stop_time < 10, f"qcluster took {stop_time:.1f} s to stop with the database down"

        time.sleep(max(0.0, 4 - (time.monotonic() - down_at)))
        postgres.start()
        outage = time.monotonic() - down_at

        retried = mail_batch(site, 3, "during-outage")  # the MTA tries again: accepted once
        ((n_requests,),) = site.sql(
            "SELECT count(*) FROM extraction_request WHERE message_id LIKE %s",
            "%batch-during-outage@example.org%",
        )
        assert n_requests == 1

        for request, n in ((request_id, n_fields), (retried, 3)):
            wait_until(lambda r=request: mailed(site, r), 60, f"the completion mail of #{request}")
            assert_done_exactly_once(site, request, n)
        print(
            f"database down {outage:.1f} s; SIGTERM stop {stop_time:.1f} s; {clusters.duplicates()}"
        )
    finally:
        clusters.stop_all()
