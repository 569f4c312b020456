"""``kill -9`` of any one process of a task cluster, and extraction resumes by itself (issue 24).

For each process of a running ``qcluster`` (an idle worker, a busy worker, the pusher, the
monitor, the sentinel, the command itself under the supervisor of ``make run``/``make serve``)
and on both brokers (the ORM broker on PostgreSQL, a private Redis): SIGKILL it, mail fields
in, and check that every field is done within 30 s of the kill, exactly once (one staged file
each, one completion mail sent), that no process of the killed cluster is left running beside
its replacement, and that the replacement's queues have live readers: the monitor waits on
its pipe, not on a lock a dead process holds (what stopped the monitor's and the workers'
queues for good before). On the ORM broker every task is also acknowledged (a stuck monitor
acknowledges nothing, and the broker hands each task out again six minutes later).

A sentinel that hangs instead of dying (SIGSTOP) is replaced too, once its heartbeat has been
silent for ``HANG_SECONDS``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis

from dssportal.infra.clusterkeeper import HANG_SECONDS
from dssportal.infra.processes import descendant_pids
from tests import test_faults
from tests.test_faults import (
    ROOT,
    Site,
    assert_done_exactly_once,
    done_count,
    free_port,
    ingested,
    mail_batch,
    mail_batch_arriving,
    mailed,
    start_redis,
    wait_until,
)

pytestmark = pytest.mark.processes

site = test_faults.site  # the module's PostgreSQL database, schema, plate and user

RECOVERY_SECONDS = 30
ROLES = ["idle worker", "busy worker", "pusher", "monitor", "sentinel", "command"]
#: Roles killed while a batch is being worked on; the others while the cluster is idle.
MID_BATCH = {"busy worker", "pusher"}


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server: a shared one would hand our tasks to other tests' clusters."""

    executable = shutil.which("redis-server")
    assert executable, "redis-server is needed (CI starts one; apt-get install redis-server)"
    port = free_port()
    server = start_redis(executable, port, tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}/0"
    server.kill()
    server.wait(timeout=10)


@pytest.fixture(params=["orm", "redis"])
def broker(request: pytest.FixtureRequest, site: Site, redis_url: str) -> str:
    """The REDIS_URL of the processes ("" for the ORM broker), with no task left over."""
    with psycopg.connect(site.db_url, autocommit=True) as db:
        db.execute("DELETE FROM django_q_ormq")
    with contextlib.closing(redis.Redis.from_url(redis_url)) as connection:
        connection.flushdb()
    return "" if request.param == "orm" else redis_url


# --- the processes of a cluster -----------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent) of a process, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        stat = _stat(int(entry.name))
        if stat is not None and stat[1] == pid and stat[0] != "Z":
            found.append(int(entry.name))
    return found


def waits_in(pid: int) -> str:
    """The kernel function the process sleeps in ("0": running)."""
    try:
        return Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return "gone"


@dataclass(frozen=True)
class ClusterProcesses:
    command: int
    sentinel: int
    workers: tuple[int, ...]
    pusher: int
    monitor: int

    def all(self) -> list[int]:
        return [self.command, self.sentinel, *self.workers, self.pusher, self.monitor]


def _roles(command: int, log: str) -> ClusterProcesses | None:
    sentinels = children(command)
    if len(sentinels) != 1:
        return None
    below = children(sentinels[0])

    def started_as(what: str) -> list[int]:
        return [pid for pid in below if re.search(rf"{what} at {pid}\b", log)]

    workers, pushers, monitors = (
        started_as("ready for work"),
        started_as("pushing tasks"),
        started_as("monitoring"),
    )
    if len(workers) != 2 or len(pushers) != 1 or len(monitors) != 1:
        return None
    return ClusterProcesses(command, sentinels[0], tuple(workers), pushers[0], monitors[0])


class Portal:
    """A ``qcluster`` command (alone, as under systemd, or under the supervisor) and its log."""

    def __init__(self, site: Site, broker: str, log_path: Path, *, supervised: bool) -> None:
        self.log_path, self.data_dir = log_path, site.data_dir
        qcluster = [sys.executable, str(ROOT / "manage.py"), "qcluster"]
        argv = (
            [sys.executable, "-c", _SUPERVISED.format(qcluster=qcluster)]
            if supervised
            else qcluster
        )
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                argv,
                env={**site.env, "REDIS_URL": broker, "LOG_LEVEL": "INFO"},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.supervised = supervised
        self.seen: set[int] = set()  # every process of every cluster found, to end at the stop

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def command(self) -> int | None:
        if not self.supervised:
            return self.process.pid
        commands = children(self.process.pid)
        return commands[0] if len(commands) == 1 else None

    def cluster(self, timeout: float = 60, *, replacing: int = 0) -> ClusterProcesses:
        """The processes of the running cluster once all of them are up; one with another
        sentinel than ``replacing``."""
        found: list[ClusterProcesses] = []

        def up() -> bool:
            assert self.process.poll() is None, f"qcluster ended:\n{self.log()[-3000:]}"
            command = self.command()
            roles = _roles(command, self.log()) if command else None
            found[:] = [roles] if roles and roles.sentinel != replacing else []
            self.seen.update(found[0].all() if found else [])
            return bool(found)

        wait_until(up, timeout, "a new cluster" if replacing else "a running cluster")
        return found[0]

    def stop(self) -> None:
        """Kill everything, orphans of a killed process included (should one be left)."""
        below = [*descendant_pids(self.process.pid), self.process.pid]
        for pid in below + [pid for pid in self.seen if _ours(pid, self.data_dir)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def _ours(pid: int, data_dir: Path) -> bool:
    """Still a process of this module's site (not one that got the number since)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"DSSPORTAL_DATA_DIR={data_dir}".encode() in environ


# The supervisor of runportal/serveportal (make run, make serve), running qcluster alone.
_SUPERVISED = (
    "import sys; from dssportal.infra.supervise import supervise; "
    "sys.exit(supervise({{'worker': {qcluster!r}}}, print))"
)


@pytest.fixture
def portal(request: pytest.FixtureRequest, site: Site, broker: str, tmp_path: Path):
    started: list[Portal] = []

    def start(*, supervised: bool = False) -> Portal:
        started.append(Portal(site, broker, tmp_path / "qcluster.log", supervised=supervised))
        return started[-1]

    yield start
    for running in started:
        running.stop()


# --- what a killed process leaves ---------------------------------------------------------------


def victim(role: str, cluster: ClusterProcesses) -> int:
    """The process to kill; a worker by what it is doing, as the kernel sees it."""
    if role in ("pusher", "monitor", "sentinel", "command"):
        return int(getattr(cluster, role))
    wanted = reading_the_task_queue if role == "idle worker" else working
    chosen: list[int] = []

    def found() -> bool:
        chosen[:] = [pid for pid in cluster.workers if wanted(pid)]
        return bool(chosen)

    wait_until(found, 10, f"an {role}")
    return chosen[0]


def reading_the_task_queue(pid: int) -> bool:
    """The idle worker that holds the task queue's reader lock, waiting in its pipe."""
    return "pipe" in waits_in(pid)


def working(pid: int) -> bool:
    """Neither waiting for a task nor for the lock of the queue (idle workers do one or the
    other): cutting a field, reading plates or the database."""
    where = waits_in(pid)
    return "pipe" not in where and "futex" not in where and where != "gone"


def stuck_on_a_lock(pid: int) -> bool:
    """Sleeping on a futex at each look for a second: a queue reader whose lock is gone."""
    for _ in range(5):
        if "futex" not in waits_in(pid):
            return False
        time.sleep(0.2)
    return True


def acknowledged_all(site: Site) -> bool:
    return site.sql("SELECT count(*) FROM django_q_ormq")[0][0] == 0


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_kill_9_of_one_cluster_process_and_extraction_resumes_by_itself(
    site: Site, broker: str, portal, role: str
) -> None:
    env_site = Site(
        env={**site.env, "REDIS_URL": broker}, db_url=site.db_url, data_dir=site.data_dir
    )
    running: Portal = portal(supervised=role == "command")
    before = running.cluster()
    tag = f"{role.replace(' ', '-')}-{'redis' if broker else 'orm'}"
    n_fields = 240 if role in MID_BATCH else 3  # 240: a few seconds of work for two workers
    request_id = 0
    ingesting = None
    if role in MID_BATCH:
        request_id, ingesting = mail_batch_arriving(env_site, n_fields, tag)
        wait_until(lambda: done_count(site, request_id) >= 1, 60, "a field done")

    killed = victim(role, before)
    os.kill(killed, signal.SIGKILL)
    killed_at = time.monotonic()
    if request_id:
        assert done_count(site, request_id) < n_fields, "the batch ended before the kill"
    wait_until(lambda: not alive(killed), 5, "the killed process dead")
    if ingesting is not None:
        ingested(ingesting)
    with ThreadPoolExecutor(1) as mailer:
        # Fields mailed in after the kill (idle roles) arrive while the cluster recovers.
        submitted = mailer.submit(mail_batch, env_site, n_fields, tag) if not request_id else None
        after = running.cluster(timeout=RECOVERY_SECONDS)
        whole = time.monotonic() - killed_at
        request_id = submitted.result() if submitted else request_id
    wait_until(lambda: mailed(site, request_id), RECOVERY_SECONDS - whole, f"the {n_fields} fields")
    finished = time.monotonic() - killed_at
    print(
        f"kill -9 of the {role} ({'Redis' if broker else 'ORM'} broker): the cluster whole "
        f"again after {whole:.1f} s, the {n_fields} fields done {finished:.1f} s after the kill"
    )

    assert_done_exactly_once(site, request_id, n_fields)
    left = [pid for pid in before.all() if alive(pid) and pid not in after.all()]
    assert not left, f"processes of the killed cluster run beside the new one: {left}"
    assert not stuck_on_a_lock(after.monitor), "the monitor waits on a dead process's lock"
    wait_until(
        lambda: any(map(reading_the_task_queue, after.workers)), 5, "a worker reading the queue"
    )
    if not broker and role not in MID_BATCH:
        wait_until(lambda: acknowledged_all(site), 10, "every task acknowledged")


@pytest.mark.parametrize("broker", ["orm"], indirect=True)
def test_a_hung_sentinel_is_replaced_and_extraction_resumes(
    site: Site, broker: str, portal
) -> None:
    running: Portal = portal()
    before = running.cluster()
    os.kill(before.sentinel, signal.SIGSTOP)  # as if stuck on a lock a killed worker held
    stopped_at = time.monotonic()
    request_id = mail_batch(
        Site(env={**site.env, "REDIS_URL": broker}, db_url=site.db_url, data_dir=site.data_dir),
        3,
        f"hung-{'redis' if broker else 'orm'}",
    )
    running.cluster(timeout=HANG_SECONDS + RECOVERY_SECONDS, replacing=before.sentinel)
    replaced = time.monotonic() - stopped_at
    wait_until(lambda: mailed(site, request_id), RECOVERY_SECONDS, "the fields")
    print(f"hung sentinel: a new cluster {replaced:.1f} s after SIGSTOP")
    assert_done_exactly_once(site, request_id, 3)
    assert not [pid for pid in before.all() if pid != before.command and alive(pid)]
