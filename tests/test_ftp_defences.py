"""FTP log-in defences (issue 12, items 11, 13 and 14) against a real pyftpdlib server on the
loopback: clients bind to several 127.0.0.x addresses to act as different hosts."""

from __future__ import annotations

import ftplib
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from accounts.models import User
from extraction.ftp.server import PortalFTPServer, ftp_server_build
from extraction.models import Request
from extraction.services.staging import staging_directory_for_request
from tests.ftp_serving import served

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def private_staging(settings, tmp_path: Path) -> Path:
    settings.STAGING_DIR = tmp_path / "staging"
    settings.STAGING_DIR.mkdir()
    return settings.STAGING_DIR


@contextmanager
def serving(**options: object) -> Iterator[PortalFTPServer]:
    options.setdefault("auth_failed_delay", 0.01)
    # Sequential log-ins from one address must not trip over a slot the server is still
    # releasing; the tests of the pending limits set it themselves.
    options.setdefault("max_pending_per_ip", 50)
    server = ftp_server_build(host="127.0.0.1", port=0, **options)  # type: ignore[arg-type]
    with served(server):
        yield server


@contextmanager
def clients() -> Iterator[list[ftplib.FTP]]:
    opened: list[ftplib.FTP] = []
    try:
        yield opened
    finally:
        for client in opened:
            client.close()


def connect(
    server: PortalFTPServer, opened: list[ftplib.FTP], *, source: str = "127.0.0.1"
) -> ftplib.FTP:
    client = ftplib.FTP(source_address=(source, 0))
    opened.append(client)
    client.connect(*server.address, timeout=10)
    return client


def connect_when_admitted(
    server: PortalFTPServer, opened: list[ftplib.FTP], *, source: str
) -> ftplib.FTP:
    """Connect once the server has let go of the slot a closed connection held (it does so
    in the session's own thread, a moment after the client saw the connection end)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return connect(server, opened, source=source)
        except ftplib.error_temp:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def login_reply(server: PortalFTPServer, login: str, password: str, source: str) -> str:
    """The server's answer to one log-in from ``source`` on a fresh connection."""
    with clients() as opened:
        try:
            return connect(server, opened, source=source).login(login, password)
        except ftplib.Error as exc:
            return str(exc)


# --- item 11 --------------------------------------------------------------------------------------


def test_a_username_that_is_someone_elses_address_does_not_shadow_their_ftp_login(
    make_user,
) -> None:
    make_user("bob", "bob@example.org")
    User.objects.create_user("bob@example.org", "mallory@example.net", "mallory's password")
    with serving() as server:
        assert login_reply(server, "bob@example.org", PASSWORD, "127.0.0.1").startswith("230")
        assert "530" in login_reply(server, "bob@example.org", "mallory's password", "127.0.0.1")


# --- item 13 --------------------------------------------------------------------------------------


def test_reconnecting_does_not_reset_the_delay(make_user, frozen_clock) -> None:
    make_user("bob", "bob@example.org")
    with serving() as server:
        for _ in range(5):  # the free failures, one connection each
            assert "530" in login_reply(server, "bob", "wrong", "127.0.0.1")
        refused = login_reply(server, "bob", PASSWORD, "127.0.0.1")
        assert "530" in refused and "Too many failed log-ins" in refused
        # From another address the account is held back too.
        refused = login_reply(server, "bob@example.org", PASSWORD, "127.0.0.2")
        assert "530" in refused and "wait" in refused


def test_guessing_many_accounts_from_one_address_is_held_back(make_user, frozen_clock) -> None:
    users = [make_user() for _ in range(21)]
    with serving() as server:
        for user in users[:20]:
            login_reply(server, user.username, "wrong", "127.0.0.3")
        assert "Too many failed" in login_reply(server, users[20].username, PASSWORD, "127.0.0.3")
        assert login_reply(server, users[20].username, PASSWORD, "127.0.0.4").startswith("230")


# --- item 14 --------------------------------------------------------------------------------------


def test_silent_connections_cannot_take_the_slots_of_real_users(make_user) -> None:
    """The attack of the issue scaled down: many addresses open as many connections as they
    can and never log in. Before the limits, the slots were full and real users got 421."""
    make_user("bob", "bob@example.org")
    limits = {"max_cons": 40, "max_cons_per_ip": 10, "max_pending": 32, "max_pending_per_ip": 3}
    with serving(**limits) as server, clients() as opened:
        refused = 0
        for n in range(2, 10):  # eight attacking addresses, ten connections each
            for _ in range(10):
                try:
                    connect(server, opened, source=f"127.0.0.{n}")
                except ftplib.error_temp as exc:
                    assert "421" in str(exc)
                    refused += 1
        assert refused == 80 - 8 * 3
        # A real user from yet another address still logs in (and so do many).
        for n in range(20, 26):
            assert login_reply(server, "bob", PASSWORD, f"127.0.0.{n}").startswith("230")


def test_a_connection_that_does_not_log_in_is_closed_and_frees_its_slot(make_user) -> None:
    make_user("bob", "bob@example.org")
    with serving(max_pending_per_ip=1, login_timeout=0.5) as server, clients() as opened:
        silent = connect(server, opened, source="127.0.0.5")
        with pytest.raises(ftplib.error_temp, match="421"):
            connect(server, opened, source="127.0.0.5")
        started = time.monotonic()
        with pytest.raises(ftplib.error_temp, match="421 No log-in within"):
            silent.voidresp()
        assert time.monotonic() - started < 5
        client = connect_when_admitted(server, opened, source="127.0.0.5")
        assert client.login("bob", PASSWORD).startswith("230")
        # Logged in, the session is no longer bound by the log-in deadline.
        time.sleep(0.8)
        assert client.pwd() == "/"


def test_limits_come_from_settings(settings) -> None:
    settings.DSSPORTAL_FTP_MAX_CONNECTIONS = 40
    settings.DSSPORTAL_FTP_MAX_CONNECTIONS_PER_ADDRESS = 4
    settings.DSSPORTAL_FTP_MAX_PENDING_LOGINS = 9
    settings.DSSPORTAL_FTP_MAX_PENDING_LOGINS_PER_ADDRESS = 2
    settings.DSSPORTAL_FTP_LOGIN_TIMEOUT_S = 7
    server = ftp_server_build(host="127.0.0.1", port=0)
    try:
        assert (server.max_cons, server.max_cons_per_ip) == (40, 4)
        assert (server.max_pending, server.max_pending_per_ip) == (9, 2)
        assert server.handler.login_timeout == 7
    finally:
        server.close_all()


# --- issue 24, items 8 and 9 ----------------------------------------------------------------------


def test_silent_connections_from_many_addresses_cannot_hold_every_slot(make_user) -> None:
    """22 addresses x 3 silent connections filled all 64 slots, renewably: now a newcomer
    makes the longest-waiting silent connection (past a short grace) give way."""
    make_user("bob", "bob@example.org")
    limits = {"max_pending": 6, "max_pending_per_ip": 3, "login_timeout": 30}
    with serving(**limits) as server, clients() as opened:
        silent = [connect(server, opened, source=f"127.0.0.{n}") for n in (2, 2, 2, 3, 3, 3)]
        with pytest.raises(ftplib.error_temp, match="421"):  # within the grace: refused
            connect(server, opened, source="127.0.0.9")
        time.sleep(2.5)
        assert login_reply(server, "bob", PASSWORD, "127.0.0.9").startswith("230")
        with pytest.raises(ftplib.error_temp, match="waited longest"):
            silent[0].voidresp()
        # The others still wait: only as many give way as newcomers came.
        assert silent[-1].sendcmd("NOOP").startswith("200")


def test_a_strangers_connection_to_the_passive_port_does_not_abort_the_transfer(
    make_user, private_staging
) -> None:
    bob = make_user("bob", "bob@example.org")
    directory = staging_directory_for_request(
        request=Request.objects.create(user=bob, source="mail")
    )
    folder = directory.absolute_path
    (folder / "field.fits").write_bytes(b"SIMPLE  =" + b"x" * 10_000)
    with serving() as server, clients() as opened:
        owner = connect(server, opened, source="127.0.0.1")
        owner.login("bob", PASSWORD)
        owner.cwd(folder.name)
        owner.voidcmd("TYPE I")
        host, port = ftplib.parse227(owner.sendcmd("PASV"))
        with socket.create_connection((host, port), source_address=("127.0.0.7", 0)) as strange:
            strange.settimeout(5)
            assert strange.recv(10) == b""  # refused: closed at once
        data = socket.create_connection((host, port), timeout=10)
        reply = owner.sendcmd("RETR field.fits")
        assert reply.startswith("1"), reply
        received = b""
        with data:
            while chunk := data.recv(65536):
                received += chunk
        assert owner.voidresp().startswith("226")
        assert received == (folder / "field.fits").read_bytes()


def test_strangers_failures_do_not_delay_the_owner_at_a_known_address(
    make_user, frozen_clock
) -> None:
    """Issue 24 item 4 on FTP: the owner logged in from 127.0.0.1 before; strangers' guesses
    from other addresses hold the account back everywhere but there."""
    make_user("bob", "bob@example.org")
    with serving() as server:
        assert login_reply(server, "bob", PASSWORD, "127.0.0.1").startswith("230")
        for n in range(10):
            frozen_clock.advance(2**n)
            login_reply(server, "bob", "wrong", f"127.0.0.{20 + n}")
        assert login_reply(server, "bob", PASSWORD, "127.0.0.1").startswith("230")
        assert "Too many failed" in login_reply(server, "bob", PASSWORD, "127.0.0.50")
