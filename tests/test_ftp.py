"""The FTP server against a real client: a pyftpdlib server on 127.0.0.1 in a thread,
the standard library's ftplib as the client, committed rows (the server thread has its own
database connection)."""

from __future__ import annotations

import datetime as dt
import ftplib
import importlib.util
import io
import os
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.utils import timezone

from accounts.models import EmailAddress, User
from extraction.ftp.server import PortalFTPServer, ftp_server_build, passive_ports_parse
from extraction.models import Request, StagingDirectory
from extraction.services.links import staging_ftp_url, staging_web_url
from extraction.services.staging import (
    staging_add_bytes,
    staging_directory_for_request,
    user_area,
)
from tests.ftp_serving import served

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery"
AUTH_DELAY = 0.05


@pytest.fixture(autouse=True)
def private_staging(settings, tmp_path: Path) -> Path:
    """A staging root per test: parallel test workers share DSSPORTAL_DATA_DIR, and their
    databases hand out the same user ids."""
    settings.STAGING_DIR = tmp_path / "staging"
    settings.STAGING_DIR.mkdir()
    return settings.STAGING_DIR


def _serving(**options: object) -> AbstractContextManager[PortalFTPServer]:
    return served(ftp_server_build(host="127.0.0.1", port=0, **options))  # type: ignore[arg-type]


@pytest.fixture
def ftp_address() -> Iterator[tuple[str, int]]:
    with _serving(auth_failed_delay=AUTH_DELAY) as server:
        yield server.address


@pytest.fixture
def connect(ftp_address: tuple[str, int]) -> Iterator[Callable[..., ftplib.FTP]]:
    """Log in (or only connect, with ``login=None``); every client is closed afterwards."""
    clients: list[ftplib.FTP] = []

    def _connect(login: str | None, password: str = PASSWORD) -> ftplib.FTP:
        client = ftplib.FTP()
        clients.append(client)
        client.connect(*ftp_address, timeout=10)
        if login is not None:
            client.login(login, password)
        return client

    yield _connect
    for client in clients:
        try:
            client.quit()
        except (OSError, EOFError, ftplib.Error):
            client.close()


def _staged(user: User, files: dict[str, bytes] | None = None) -> StagingDirectory:
    request = Request.objects.create(user=user, source="web", raw_text="x")
    directory = staging_directory_for_request(request=request)
    for name, data in (files or {}).items():
        (directory.absolute_path / name).write_bytes(data)
        staging_add_bytes(directory=directory, size=len(data))
    directory.refresh_from_db()
    return directory


def _retr(client: ftplib.FTP, path: str) -> bytes:
    buffer = io.BytesIO()
    client.retrbinary(f"RETR {path}", buffer.write)
    return buffer.getvalue()


# --- what a user sees ---------------------------------------------------------------------------


def test_listing_shows_only_own_live_directories(make_user, connect) -> None:
    me, other = make_user(), make_user()
    live = _staged(me, {"a.fits": b"a"})
    expired = _staged(me, {"b.fits": b"b"})
    StagingDirectory.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    deleted = _staged(me, {"c.fits": b"c"})  # marked deleted, folder left on disk
    StagingDirectory.objects.filter(pk=deleted.pk).update(deleted_at=timezone.now())
    foreign = _staged(other, {"d.fits": b"d"})
    (user_area(me) / "stray-folder").mkdir()

    client = connect(me.username)
    assert client.nlst() == [live.name]
    assert client.nlst(live.name) == ["a.fits"]
    for hidden in (expired, deleted, foreign):
        with pytest.raises(ftplib.error_perm, match="550"):
            client.cwd(f"/{hidden.name}")
        with pytest.raises(ftplib.error_perm, match="550"):
            client.nlst(f"/{hidden.name}")


def test_download_equals_staged_bytes(make_user, connect) -> None:
    user = make_user()
    data = os.urandom(300_000)
    directory = _staged(user, {"m31.fits.gz": data})
    client = connect(user.username)
    client.cwd(directory.name)
    assert client.pwd() == f"/{directory.name}"
    client.voidcmd("TYPE I")
    assert client.size("m31.fits.gz") == len(data)
    assert _retr(client, "m31.fits.gz") == data
    assert _retr(client, f"/{directory.name}/m31.fits.gz") == data


def test_login_with_verified_address_not_with_unverified(make_user, connect) -> None:
    user = make_user("hubble", "edwin@example.org")
    EmailAddress.objects.create(user=user, email="second@example.org", verified=False)
    directory = _staged(user)
    assert connect("EDWIN@example.org").nlst() == [directory.name]
    with pytest.raises(ftplib.error_perm, match="530"):
        connect("second@example.org")


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("login", "password"),
    [("owner", "wrong password"), ("anonymous", "guest@example.org"), ("ftp", "")],
    ids=["wrong-password", "anonymous", "ftp"],
)
def test_bad_logins_refused(make_user, connect, login: str, password: str) -> None:
    make_user("owner", "owner@example.org")
    with pytest.raises(ftplib.error_perm, match="530"):
        connect(login, password)


def test_inactive_user_refused(make_user, connect) -> None:
    user = make_user()
    User.objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(ftplib.error_perm, match="530"):
        connect(user.username)


def test_failed_login_is_delayed(make_user) -> None:
    user = make_user()
    with _serving(auth_failed_delay=0.4) as server:
        client = ftplib.FTP()
        client.connect(*server.address, timeout=10)
        started = time.monotonic()
        with pytest.raises(ftplib.error_perm, match="530"):
            client.login(user.username, "wrong")
        assert time.monotonic() - started >= 0.35
        client.close()


def test_connections_per_address_limited(make_user) -> None:
    first = ftplib.FTP()
    with _serving(max_cons_per_ip=1) as server:
        try:
            first.connect(*server.address, timeout=10)
            with pytest.raises(ftplib.error_temp, match="421"):
                ftplib.FTP().connect(*server.address, timeout=10)
        finally:
            first.close()


@pytest.fixture
def traversal_setup(make_user, private_staging: Path) -> dict[str, object]:
    me, other = make_user(), make_user()
    mine = _staged(me, {"ok.fits": b"ok"})
    theirs = _staged(other, {"secret.fits": b"theirs"})
    outside = private_staging.parent / "outside"
    outside.mkdir()
    (outside / "x").write_bytes(b"outside")
    (private_staging / "x").write_bytes(b"staging root")
    (user_area(me) / "x").write_bytes(b"user area")
    os.symlink(outside / "x", mine.absolute_path / "escape")
    os.symlink(outside, mine.absolute_path / "escape-dir")
    os.symlink(theirs.absolute_path / "secret.fits", mine.absolute_path / "foreign")
    return {"me": me, "mine": mine, "theirs": theirs, "other": other}


def test_traversal_cannot_leave_own_directories(traversal_setup, connect) -> None:
    me, mine, theirs, other = (traversal_setup[k] for k in ("me", "mine", "theirs", "other"))
    client = connect(me.username)  # type: ignore[attr-defined]
    # At the top, ".." is the top itself (chroot semantics): still only one's own directories.
    for up in ("..", "/..", "../..", f"{mine.name}/../.."):  # type: ignore[attr-defined]
        client.cwd(up)
        assert client.pwd() == "/"
        assert client.nlst() == [mine.name]  # type: ignore[attr-defined]
    client.cwd(mine.name)  # type: ignore[attr-defined]
    refused = [
        lambda: _retr(client, "../../x"),
        lambda: _retr(client, "../x"),
        lambda: _retr(client, "/etc/passwd"),
        lambda: _retr(client, "/../../../../etc/passwd"),
        lambda: _retr(client, f"/{theirs.name}/secret.fits"),  # type: ignore[attr-defined]
        lambda: _retr(client, f"../user-{other.pk}/{theirs.name}/secret.fits"),  # type: ignore[attr-defined]
        lambda: client.cwd(f"/{theirs.name}"),  # type: ignore[attr-defined]
        lambda: client.cwd("/etc"),
        lambda: _retr(client, "escape"),
        lambda: _retr(client, "foreign"),
        lambda: client.cwd("escape-dir"),
        lambda: client.nlst("escape-dir"),
        lambda: client.sendcmd("SIZE escape"),
    ]
    for attempt in refused:
        with pytest.raises(ftplib.error_perm, match="55"):
            attempt()
    # Links that lead away are not even listed.
    assert sorted(client.nlst()) == ["ok.fits"]
    assert _retr(client, "ok.fits") == b"ok"


@pytest.mark.parametrize(
    "command",
    [
        lambda c, d: c.storbinary(f"STOR /{d}/new.fits", io.BytesIO(b"x")),
        lambda c, d: c.storbinary(f"APPE /{d}/a.fits", io.BytesIO(b"x")),
        lambda c, d: c.storbinary(f"STOU /{d}/u", io.BytesIO(b"x")),
        lambda c, d: c.mkd(f"/{d}/sub"),
        lambda c, d: c.mkd("/dss-20260101-aaaaaaaaaaaaa"),
        lambda c, d: c.sendcmd(f"RNFR /{d}/a.fits"),
        lambda c, d: c.sendcmd(f"RNTO /{d}/b.fits"),
        lambda c, d: c.sendcmd(f"SITE CHMOD 777 /{d}/a.fits"),
        lambda c, d: c.sendcmd(f"MFMT 20000101000000 /{d}/a.fits"),
    ],
    ids=["STOR", "APPE", "STOU", "MKD-inside", "MKD-top", "RNFR", "RNTO", "SITE-CHMOD", "MFMT"],
)
def test_writes_refused(make_user, connect, command) -> None:
    user = make_user()
    directory = _staged(user, {"a.fits": b"a"})
    before = sorted(os.listdir(directory.absolute_path))
    client = connect(user.username)
    with pytest.raises(ftplib.error_perm):
        command(client, directory.name)
    assert sorted(os.listdir(directory.absolute_path)) == before
    assert sorted(os.listdir(user_area(user))) == [directory.name]


# --- deleting -----------------------------------------------------------------------------------


def test_rmd_deletes_the_whole_staging_directory(make_user, connect) -> None:
    user = make_user()
    directory = _staged(user, {"a.fits": b"a" * 1000, "b.fits": b"b" * 500})
    keep = _staged(user, {"c.fits": b"c"})
    client = connect(user.username)
    client.cwd(directory.name)
    client.rmd(f"/{directory.name}")
    assert client.pwd() == "/"
    assert not directory.absolute_path.exists()
    directory.refresh_from_db()
    assert directory.deleted_at is not None
    assert directory.deleted_reason == "deleted over FTP"
    assert directory.bytes == 0
    assert client.nlst() == [keep.name]
    with pytest.raises(ftplib.error_perm, match="550"):
        client.rmd("/")
    with pytest.raises(ftplib.error_perm, match="550"):
        client.rmd(f"/{directory.name}")


def test_rmd_of_an_extracted_request_removes_its_previews_and_marks_its_files_deleted(
    make_user, connect, settings, tmp_path: Path
) -> None:
    from extraction.services.previews import field_preview_file, preview_path
    from extraction.services.requests import request_create_from_text
    from tests.factories import register_real_dss_plate

    settings.PREVIEWS_DIR = tmp_path / "previews"
    register_real_dss_plate()
    user = make_user()
    text = "m1 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 U\nm2 14 29 56 -62 41 05 1. 1. J2000 DSS1 n"
    request = request_create_from_text(user=user, text=text, source="web").request  # runs inline
    image = request.fields.get(line_no=1)
    assert image.status == "done" and not preview_path(image).exists()  # made on first view
    assert field_preview_file(field=image) == preview_path(image)
    assert preview_path(image).is_file()
    directory = StagingDirectory.objects.get(request=request)
    plate_list = request.fields.get(line_no=2)
    client = connect(user.username)
    client.delete(f"/{directory.name}/{plate_list.output_name}")  # one file: that field only
    plate_list.refresh_from_db()
    assert plate_list.deleted_at is not None and image.deleted_at is None
    directory.refresh_from_db()
    assert directory.bytes == image.bytes
    client.rmd(f"/{directory.name}")
    directory.refresh_from_db()
    assert directory.deleted_reason == "deleted over FTP" and not directory.absolute_path.exists()
    assert not preview_path(image).exists()
    image.refresh_from_db()
    assert image.deleted_at == directory.deleted_at


def test_dele_removes_one_file_and_its_bytes(make_user, connect) -> None:
    user = make_user()
    directory = _staged(user, {"a.fits": b"a" * 1000, "b.fits": b"b" * 500})
    assert directory.bytes == 1500
    client = connect(user.username)
    client.delete(f"/{directory.name}/a.fits")
    assert sorted(os.listdir(directory.absolute_path)) == ["b.fits"]
    directory.refresh_from_db()
    assert directory.bytes == 500
    assert directory.deleted_at is None
    with pytest.raises(ftplib.error_perm, match="550"):
        client.delete(f"/{directory.name}")
    with pytest.raises(ftplib.error_perm, match="550"):
        client.delete(f"/{directory.name}/a.fits")


# --- FTPS ---------------------------------------------------------------------------------------


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, with ``cryptography`` when it is installed
    (pyOpenSSL depends on it), else with the openssl command."""
    cert, key = tmp_path / "ftp.crt", tmp_path / "ftp.key"
    if importlib.util.find_spec("cryptography") is None:
        command = "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
        command += " -addext subjectAltName=IP:127.0.0.1"
        subprocess.run(
            ["openssl", *command.split(), "-keyout", str(key), "-out", str(cert)],
            check=True,
            capture_output=True,
        )
        return cert, key
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


needs_pyopenssl = pytest.mark.skipif(
    importlib.util.find_spec("OpenSSL") is None, reason="FTPS needs pyOpenSSL"
)


@needs_pyopenssl
def test_ftps_login_and_download(make_user, settings, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    settings.DSSPORTAL_FTP_TLS_CERTFILE = str(cert)
    settings.DSSPORTAL_FTP_TLS_KEYFILE = str(key)
    user = make_user()
    data = os.urandom(100_000)
    directory = _staged(user, {"a.fits": data})
    with _serving(auth_failed_delay=AUTH_DELAY) as server:
        plain = ftplib.FTP()
        plain.connect(*server.address, timeout=10)
        with pytest.raises(ftplib.error_perm, match="TLS required"):
            plain.login(user.username, PASSWORD)
        plain.close()

        context = ssl.create_default_context(cafile=str(cert))
        client = ftplib.FTP_TLS(context=context)
        client.connect(*server.address, timeout=10)
        client.login(user.username, PASSWORD)  # AUTH TLS first, verifying the certificate
        with pytest.raises(ftplib.error_perm, match="TLS required on the data channel"):
            client.nlst()
        client.prot_p()
        assert client.nlst() == [directory.name]
        assert _retr(client, f"/{directory.name}/a.fits") == data
        # Once private, the data channel cannot be made clear again, not even with a
        # passive channel opened while it was private (pyftpdlib alone allowed that).
        client.sendcmd("TYPE I")
        client.sendcmd("PASV")
        with pytest.raises(ftplib.error_perm, match=r"534 .*PROT P"):
            client.sendcmd("PROT C")
        assert _retr(client, f"/{directory.name}/a.fits") == data
        client.quit()

        clear = ftplib.FTP_TLS(context=context)
        clear.connect(*server.address, timeout=10)
        clear.login(user.username, PASSWORD)
        clear.sendcmd("PBSZ 0")
        with pytest.raises(ftplib.error_perm, match="534"):
            clear.sendcmd("PROT C")
        with pytest.raises(ftplib.error_perm, match="TLS required on the data channel"):
            clear.retrbinary(f"RETR /{directory.name}/a.fits", lambda chunk: None)
        clear.close()

        untrusting = ftplib.FTP_TLS(context=ssl.create_default_context())
        untrusting.connect(*server.address, timeout=10)
        with pytest.raises(ssl.SSLCertVerificationError):
            untrusting.login(user.username, PASSWORD)
        untrusting.close()


def test_missing_certificate_is_a_configuration_error(settings, tmp_path: Path) -> None:
    settings.DSSPORTAL_FTP_TLS_CERTFILE = str(tmp_path / "missing.crt")
    with pytest.raises(ImproperlyConfigured):
        ftp_server_build(host="127.0.0.1", port=0)


# --- configuration, links, command --------------------------------------------------------------


def test_passive_ports_and_masquerade_from_settings(settings) -> None:
    settings.DSSPORTAL_FTP_PASSIVE_PORTS = "60000-60002"
    settings.DSSPORTAL_FTP_MASQUERADE_ADDRESS = "192.0.2.7"
    server = ftp_server_build(host="127.0.0.1", port=0)
    try:
        assert server.handler.passive_ports == [60000, 60001, 60002]
        assert server.handler.masquerade_address == "192.0.2.7"
    finally:
        server.close_all()
    assert passive_ports_parse("") is None
    for bad in ("60000-", "ports", "70000-70001", "60010-60000"):
        with pytest.raises(ImproperlyConfigured):
            passive_ports_parse(bad)


def test_links(make_user, settings) -> None:
    settings.DSSPORTAL_FTP_PUBLIC_URL = "ftp://dss.example.org:2121"
    settings.DSSPORTAL_PUBLIC_URL = "https://dss.example.org"
    directory = _staged(make_user())
    assert staging_ftp_url(directory) == f"ftp://dss.example.org:2121/{directory.name}/"
    assert staging_web_url(directory) == f"https://dss.example.org/staging/{directory.name}/"


def test_runftpd_prints_the_address(monkeypatch) -> None:
    served: list[PortalFTPServer] = []
    monkeypatch.setattr(PortalFTPServer, "serve_forever", lambda self: served.append(self))
    out = io.StringIO()
    call_command("runftpd", "--host", "127.0.0.1", "--port", "0", stdout=out)
    (server,) = served
    host, port = server.address
    server.close_all()
    assert f"FTP on {host}:{port}" in out.getvalue()
