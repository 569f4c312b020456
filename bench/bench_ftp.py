"""Download throughput of the FTP server under concurrent clients.

Run: ``.venv/bin/python bench/bench_ftp.py``. One user, one staging directory holding a 10 MB
file; 20 ftplib clients log in, then download it at the same moment, each in its own thread,
from the server on 127.0.0.1. The baseline, measured in the same process, is a plain socket
server (one thread per connection, ``socket.sendfile``) sending the same file to 20 concurrent
plain-socket clients: the floor of moving those bytes over loopback here. Best of a few runs.
Prints; never asserts. Uses a throwaway SQLite database and data directory.
"""

from __future__ import annotations

import ftplib
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FILE_BYTES = 10_000_000
CLIENTS = 20
RUNS = 5
CHUNK = 1 << 16
PASSWORD = "bench password 2026"


def django_setup(workdir: Path) -> None:
    """Test settings on a private SQLite file, schema migrated."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "dssportal.settings_test"
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["DSSPORTAL_DATA_DIR"] = str(workdir)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def staged_file(path_bytes: int) -> tuple[str, Path]:
    """A user and one staging directory with a ``path_bytes`` file; (username, file path)."""
    from accounts.services import user_create
    from extraction.models import Request
    from extraction.services.staging import staging_add_bytes, staging_directory_for_request

    user = user_create(username="bench", email="bench@example.org", password=PASSWORD)
    request = Request.objects.create(user=user, source="web", raw_text="bench")
    directory = staging_directory_for_request(request=request)
    path = directory.absolute_path / "field.fits"
    path.write_bytes(os.urandom(path_bytes))
    staging_add_bytes(directory=directory, size=path_bytes)
    return user.username, path


def run_concurrently(clients: int, worker: Callable[[threading.Barrier], int]) -> tuple[float, int]:
    """Start ``clients`` threads; each prepares, waits at the barrier, then transfers. Returns
    (seconds from the barrier to the last byte, total bytes)."""
    barrier = threading.Barrier(clients + 1)
    received: list[int] = []
    threads = [
        threading.Thread(target=lambda: received.append(worker(barrier))) for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, sum(received)


def ftp_round(address: tuple[str, int], username: str, remote: str) -> tuple[float, int, float]:
    """(transfer seconds, bytes, login seconds for all clients) of one concurrent round."""
    logged_in = threading.Barrier(CLIENTS + 1)
    login_started = time.perf_counter()
    login_done: list[float] = []

    def worker(go: threading.Barrier) -> int:
        client = ftplib.FTP()
        client.connect(*address, timeout=60)
        client.login(username, PASSWORD)
        login_done.append(time.perf_counter())
        logged_in.wait()
        go.wait()
        count = 0

        def sink(block: bytes) -> None:
            nonlocal count
            count += len(block)

        client.retrbinary(f"RETR {remote}", sink, blocksize=CHUNK)
        client.quit()
        return count

    result: list[tuple[float, int]] = []
    runner = threading.Thread(target=lambda: result.append(run_concurrently(CLIENTS, worker)))
    runner.start()
    logged_in.wait()
    login_seconds = max(login_done) - login_started
    runner.join()
    seconds, total = result[0]
    return seconds, total, login_seconds


def socket_round(path: Path) -> tuple[float, int]:
    """The baseline: a plain TCP server sending the file to each of ``CLIENTS`` clients."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=CLIENTS)
    address = listener.getsockname()

    def serve_one(conn: socket.socket) -> None:
        with conn, path.open("rb") as handle:
            conn.sendfile(handle)

    def acceptor() -> None:
        for _ in range(CLIENTS):
            conn, _peer = listener.accept()
            threading.Thread(target=serve_one, args=(conn,)).start()

    accepting = threading.Thread(target=acceptor)
    accepting.start()

    def worker(go: threading.Barrier) -> int:
        go.wait()
        count = 0
        with socket.create_connection(address, timeout=60) as conn:
            while block := conn.recv(CHUNK):
                count += len(block)
        return count

    try:
        return run_concurrently(CLIENTS, worker)
    finally:
        accepting.join()
        listener.close()


def mb_per_s(total: int, seconds: float) -> float:
    return total / seconds / 1e6


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dssportal-bench-ftp-") as tmp:
        django_setup(Path(tmp))
        import logging

        logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
        from extraction.ftp.server import ftp_server_build
        from tests.ftp_serving import served

        username, path = staged_file(FILE_BYTES)
        remote = f"/{path.parent.name}/{path.name}"
        expected = FILE_BYTES * CLIENTS
        server = ftp_server_build(
            host="127.0.0.1", port=0, max_cons_per_ip=CLIENTS + 5, max_pending_per_ip=CLIENTS + 5
        )
        with served(server):
            ftp = [ftp_round(server.address, username, remote) for _ in range(RUNS)]
        base = [socket_round(path) for _ in range(RUNS)]

    for _seconds, total, _login in ftp:
        if total != expected:
            print(f"WARNING: FTP round moved {total} bytes, expected {expected}")
    best_ftp = max(mb_per_s(total, seconds) for seconds, total, _ in ftp)
    best_base = max(mb_per_s(total, seconds) for seconds, total in base)
    login = min(login for _, _, login in ftp)
    print(f"FTP download, {CLIENTS} concurrent clients x {FILE_BYTES / 1e6:.0f} MB, best of {RUNS}")
    print(f"  ftp (pyftpdlib, thread per session) {best_ftp:9.0f} MB/s aggregate")
    print(f"  baseline (plain socket, sendfile)   {best_base:9.0f} MB/s aggregate")
    print(f"  ratio ftp / baseline                {best_ftp / best_base:9.2f}")
    print(f"  {CLIENTS} logins (test password hasher)  {login * 1000:9.0f} ms until all in")


if __name__ == "__main__":
    main()
