"""``ingest_mail``: stdin for an MTA pipe, Maildir, mbox, and IMAP against a real dovecot."""

from __future__ import annotations

import imaplib
import io
import mailbox
import os
import pwd
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from extraction.mail import gate as mailgate
from extraction.mail import sources as ingest_mail
from extraction.mail.gate import MailTemporaryFailure, mail_handle
from extraction.mail.lmtp import lmtp_controller
from extraction.models import InboundMail, Request

pytestmark = pytest.mark.django_db

REQUEST_ADDRESS = "dss@archive.example"
LINE = "field01 12 5 13 30 45 32 10. 10. B1950 DSS1 e G"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


@pytest.fixture(autouse=True)
def service(settings, make_user):
    settings.DSSPORTAL_REQUEST_ADDRESS = REQUEST_ADDRESS
    settings.DSSPORTAL_DELETE_ADDRESS = "dss-delete@archive.example"
    make_user("alice", "alice@example.org")


def message(n: int, *, to: str = REQUEST_ADDRESS, body: str = LINE) -> bytes:
    return (
        f"From: Alice <alice@example.org>\r\nTo: {to}\r\nSubject: list {n}\r\n"
        f"Message-ID: <list-{n}@example.org>\r\nDate: Mon, 05 Jan 2026 10:31:00 +0000\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def run(django_capture_on_commit_callbacks, *args: str) -> str:
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("ingest_mail", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --------------------------------------------------------------------------------------
# stdin
# --------------------------------------------------------------------------------------


def test_one_message_on_stdin(monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(message(1))))
    out = run(django_capture_on_commit_callbacks)
    assert out.startswith("accepted: request #")
    assert Request.objects.get().message_id == "<list-1@example.org>"


def test_kind_option_and_refusals_exit_zero(monkeypatch, django_capture_on_commit_callbacks):
    raw = message(2, to="someone@example.org", body="dss-20260105-abcdefghijklm")
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(raw)))
    assert run(django_capture_on_commit_callbacks, "--kind", "delete").startswith("deleted:")
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(raw)))
    assert run(django_capture_on_commit_callbacks).startswith("unroutable:")


def test_temporary_failure_exits_75(monkeypatch):
    def unavailable(raw, *, kind=None):
        raise MailTemporaryFailure("database unavailable")

    monkeypatch.setattr(ingest_mail, "mail_handle", unavailable)
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(message(3))))
    with pytest.raises(CommandError) as caught:
        call_command("ingest_mail")
    assert caught.value.returncode == 75


def test_database_unreachable_exits_75_and_the_retry_is_accepted(tmp_path):
    raw = message(4)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dssportal.settings_test",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
        "DSSPORTAL_DATA_DIR": str(tmp_path),
        "DSSPORTAL_REQUEST_ADDRESS": REQUEST_ADDRESS,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "ingest_mail"],
        input=raw,
        capture_output=True,
        env=env,
        cwd=django_settings.BASE_DIR,
        timeout=60,
    )
    assert result.returncode == 75, result.stderr.decode()
    assert b"temporary failure" in result.stderr
    # The MTA keeps the message and delivers the same bytes again once the database is back.
    outcome = mail_handle(raw)
    assert outcome.outcome == "accepted"
    assert outcome.request.message_id == "<list-4@example.org>"


# --------------------------------------------------------------------------------------
# Maildir and mbox
# --------------------------------------------------------------------------------------


def test_maildir_moves_handled_messages_to_cur_and_a_rerun_is_harmless(
    tmp_path, django_capture_on_commit_callbacks
):
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for n in range(3):
        box.add(message(n))
    box.add(message(0))  # the same message delivered twice
    out = run(django_capture_on_commit_callbacks, "--maildir", str(tmp_path / "Maildir"))
    assert "4 message(s) handled: 3 accepted, 1 duplicate" in out
    assert list((tmp_path / "Maildir" / "new").iterdir()) == []
    cur = sorted(p.name for p in (tmp_path / "Maildir" / "cur").iterdir())
    assert len(cur) == 4 and all(name.endswith(":2,S") for name in cur)
    assert Request.objects.count() == 3

    out = run(django_capture_on_commit_callbacks, "--maildir", str(tmp_path / "Maildir"))
    assert "0 message(s) handled" in out
    assert Request.objects.count() == 3 and InboundMail.objects.count() == 4


def test_maildir_keeps_what_failed_temporarily_in_new(tmp_path, monkeypatch):
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    keys = [box.add(message(n)) for n in range(3)]
    calls = []

    def flaky(raw, *, kind=None):
        calls.append(raw)
        if len(calls) == 2:
            raise MailTemporaryFailure("database unavailable")
        return mail_handle(raw, kind=kind)

    monkeypatch.setattr(ingest_mail, "mail_handle", flaky)
    with pytest.raises(CommandError) as caught:
        call_command("ingest_mail", "--maildir", str(tmp_path / "Maildir"), stdout=io.StringIO())
    assert caught.value.returncode == 75
    left = sorted(p.name for p in (tmp_path / "Maildir" / "new").iterdir())
    assert left == sorted(keys)[1:]  # the failed one and the one after it stay new
    assert Request.objects.count() == 1


def test_mbox_handles_every_message_and_reports_counts(
    tmp_path, django_capture_on_commit_callbacks
):
    box = mailbox.mbox(tmp_path / "inbox.mbox")
    box.add(message(1))
    box.add(message(2, body="From the archive, please:\n" + LINE))  # a ">From"-escaped body
    box.add(message(3, to="elsewhere@example.org"))
    box.flush()
    box.close()
    out = run(django_capture_on_commit_callbacks, "--mbox", str(tmp_path / "inbox.mbox"))
    assert "3 message(s) handled: 2 accepted, 1 unroutable" in out
    assert Request.objects.count() == 2
    escaped = Request.objects.get(message_id="<list-2@example.org>")
    assert escaped.rejected_lines[0]["text"] == "From the archive, please:"


# --------------------------------------------------------------------------------------
# IMAP against a real dovecot
# --------------------------------------------------------------------------------------


def _dovecot_config(root: Path, mail_root: Path, port: int, uid: int, gid: int) -> str:
    version = subprocess.run(
        [DOVECOT, "--version"], capture_output=True, text=True, check=True
    ).stdout
    major_minor = tuple(int(x) for x in re.findall(r"\d+", version)[:2])
    users = ""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.getuid()).pw_name
        users = f"default_login_user = {me}\ndefault_internal_user = {me}\n"
    common = (
        f"base_dir = {root}/run\nlog_path = {root}/dovecot.log\nprotocols = imap\n"
        f"listen = 127.0.0.1\nssl = no\nauth_mechanisms = plain login\nfirst_valid_uid = 0\n"
        f"{users}"
    )
    listener = (
        "service imap-login {\n  inet_listener imap {\n    address = 127.0.0.1\n"
        f"    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n"
        "  chroot =\n}\nservice anvil {\n  chroot =\n}\n"
    )
    if major_minor >= (2, 4):
        return (
            "dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0\n"
            + common
            + "auth_allow_cleartext = yes\nmail_driver = maildir\n"
            + f"mail_home = {mail_root}/%{{user}}\nmail_path = ~/Maildir\n"
            + f"passdb passwd-file {{\n  passwd_file_path = {root}/passwd\n}}\n"
            + "userdb static {\n  fields {\n"
            + f"    uid = {uid}\n    gid = {gid}\n    home = {mail_root}/%{{user}}\n  }}\n}}\n"
            + listener
        )
    return (
        common
        + "disable_plaintext_auth = no\n"
        + f"mail_location = maildir:{mail_root}/%u\n"
        + f"passdb {{\n  driver = passwd-file\n  args = {root}/passwd\n}}\n"
        + f"userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={mail_root}/%u\n}}\n"
        + listener
    )


@pytest.fixture
def dovecot(tmp_path):
    """A private dovecot on a free loopback port with user ``astro``, password ``secret``."""
    if not os.access(DOVECOT, os.X_OK):
        pytest.skip("dovecot is not installed; run ./scripts/ensure-test-tools")
    if os.geteuid() == 0:
        # Dovecot will not touch mail as root: its auth and mail processes run as its own
        # user, which cannot enter pytest's root-only tmp_path. Use a directory it can read.
        account = pwd.getpwnam("dovecot")
        uid, gid = account.pw_uid, account.pw_gid
        root = Path(tempfile.mkdtemp(prefix="dssportal-imap-"))
        root.chmod(0o755)
    else:
        uid, gid = os.getuid(), os.getgid()
        root = tmp_path / "dovecot"
    mail_root = root / "mail"
    for directory in (root / "run", mail_root):
        directory.mkdir(parents=True)
    os.chown(mail_root, uid, gid)
    (root / "passwd").write_text("astro:{PLAIN}secret::::::\n")
    port = free_port()
    (root / "dovecot.conf").write_text(_dovecot_config(root, mail_root, port, uid, gid))
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (
                        (root / "dovecot.log").read_text()
                        if (root / "dovecot.log").exists()
                        else ""
                    )
                    output = process.stdout.read().decode() if process.poll() is not None else ""
                    pytest.fail(f"dovecot did not start:\n{output}\n{log}")
                time.sleep(0.05)
        yield SimpleNamespace(port=port, url=f"imap://astro:secret@127.0.0.1:{port}/INBOX")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        process.stdout.close()
        if root != tmp_path / "dovecot":
            shutil.rmtree(root, ignore_errors=True)


def _imap(port: int) -> imaplib.IMAP4:
    connection = imaplib.IMAP4("127.0.0.1", port)
    connection.login("astro", "secret")
    connection.select("INBOX")
    return connection


def test_imap_handles_unseen_messages_and_marks_them_seen(
    dovecot, django_capture_on_commit_callbacks
):
    connection = _imap(dovecot.port)
    connection.append("INBOX", None, None, message(10))
    connection.append("INBOX", "(\\Seen)", None, message(11))  # already read by someone
    out = run(django_capture_on_commit_callbacks, "--imap", dovecot.url, "--interval", "0")
    assert "1 message(s) handled: 1 accepted" in out
    assert list(Request.objects.values_list("message_id", flat=True)) == ["<list-10@example.org>"]
    connection.select("INBOX")
    assert connection.uid("SEARCH", None, "UNSEEN")[1] == [b""]
    connection.logout()
    # Polling again finds nothing new.
    out = run(django_capture_on_commit_callbacks, "--imap", dovecot.url)
    assert "0 message(s) handled" in out and Request.objects.count() == 1


def test_imap_goes_past_poison_and_flags_what_the_gate_failed_on(
    dovecot, monkeypatch, django_capture_on_commit_callbacks
):
    real = mailgate._dispatch

    def broken_for_one(incoming):
        if incoming.message_id == "<list-31@example.org>":
            raise RuntimeError("a fault of the gate")
        return real(incoming)

    monkeypatch.setattr(mailgate, "_dispatch", broken_for_one)
    nested = "".join(
        f'Content-Type: multipart/mixed; boundary="b{n}"\r\n\r\n--b{n}\r\n' for n in range(500)
    )
    connection = _imap(dovecot.port)
    for raw in (
        message(30),
        message(31),  # the gate fails on it
        message(32).replace(b"Subject: list 32", b"Subject: =?utf-7?q?+2AA-?="),
        message(33).replace(b"Content-Type: text/plain; charset=utf-8\r\n\r\n", nested.encode()),
        message(34),
    ):
        connection.append("INBOX", None, None, raw)
    out = run(django_capture_on_commit_callbacks, "--imap", dovecot.url)
    assert "5 message(s) handled: 3 accepted, 1 failed, 1 unreadable" in out
    assert sorted(Request.objects.values_list("message_id", flat=True)) == [
        "<list-30@example.org>",
        "<list-32@example.org>",
        "<list-34@example.org>",
    ]
    connection.select("INBOX")
    assert connection.uid("SEARCH", None, "UNSEEN")[1] == [b""]
    flagged = connection.search(None, "FLAGGED")[1][0].split()
    assert flagged == [b"2"]
    connection.logout()


def test_imap_unreachable_is_a_temporary_failure():
    with pytest.raises(CommandError) as caught:
        call_command("ingest_mail", "--imap", f"imap://a:b@127.0.0.1:{free_port()}/INBOX")
    assert caught.value.returncode == 75


def test_imap_url_must_name_a_user():
    with pytest.raises(CommandError) as caught:
        call_command("ingest_mail", "--imap", "http://example.org/")
    assert caught.value.returncode == 64


# --------------------------------------------------------------------------------------
# LMTP listener
# --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_lmtp_listener_hands_each_recipient_to_the_gate(monkeypatch):
    port = free_port()
    controller = lmtp_controller("127.0.0.1", port)
    controller.start()
    try:
        with smtplib.LMTP("127.0.0.1", port) as client:
            refused = client.sendmail(
                "alice@example.org", [REQUEST_ADDRESS, "root@archive.example"], message(20)
            )
            assert (
                list(refused) == ["root@archive.example"]
                and refused["root@archive.example"][0] == 550
            )
            assert Request.objects.get().message_id == "<list-20@example.org>"

            def unavailable(raw, *, kind=None):
                raise MailTemporaryFailure("database unavailable")

            monkeypatch.setattr(mailgate, "mail_handle", unavailable)
            with pytest.raises(smtplib.SMTPDataError) as caught:
                client.sendmail("alice@example.org", [REQUEST_ADDRESS], message(21))
            assert caught.value.smtp_code == 451
    finally:
        controller.stop()
    assert Request.objects.count() == 1
