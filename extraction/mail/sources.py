"""The mail sources of the gate: one message on stdin, a Maildir, an mbox, or IMAP.

Exit status (sysexits): 0 when every message was handled, whatever became of it (refused,
unregistered sender, too large ... are handled); 75 (EX_TEMPFAIL) when the database is
unreachable, so that an MTA piping a message keeps it and retries. A message that failed
temporarily is never marked handled: it stays in ``new/`` of a Maildir and unseen on IMAP.

A message the gate could not handle (outcome ``failed``: recorded, with the reason, for
the staff) never blocks the queue: in a Maildir it is moved to the ``.Quarantine``
folder (Maildir++, so a mail client shows it) with the reason in an
``X-DSSportal-Quarantined`` header; on IMAP it is marked seen and flagged.

``ingest_mail`` only reads arguments and calls :class:`MailSources`;
:func:`extraction.mail.gate.mail_handle` does the work of each message. Handling is idempotent
by Message-ID, so re-running over the same mail is safe.
"""

from __future__ import annotations

import imaplib
import logging
import mailbox
import os
import re
import ssl
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from dssportal.infra.db import close_stale_connections
from extraction.mail.gate import (
    MailOutcome,
    MailTemporaryFailure,
    mail_gate_warm,
    mail_handle,
)
from extraction.models import InboundMailOutcome
from extraction.text.safetext import clip, quotable

log = logging.getLogger(__name__)

EX_TEMPFAIL = 75
EX_USAGE = 64
IMAP_PASSWORD_ENV = "DSSPORTAL_IMAP_PASSWORD"
QUARANTINE_FOLDER = ".Quarantine"
QUARANTINE_HEADER = "X-DSSportal-Quarantined"


class MailSourceError(Exception):
    """A source that cannot be read, or a run stopped early; ``returncode`` is the sysexits
    status for the caller to exit with."""

    def __init__(self, message: str, returncode: int) -> None:
        super().__init__(message)
        self.returncode = returncode


class MailSources:
    """Hand each new message of one source to the gate; ``out`` and ``err`` take the lines
    an operator reads (the summary, and why a run stopped)."""

    def __init__(self, *, out: Callable[[str], object], err: Callable[[str], object]) -> None:
        self.out, self.err = out, err

    # -- one message on stdin ------------------------------------------------------------

    def stdin(self, kind: str | None) -> None:
        raw = sys.stdin.buffer.read()
        try:
            outcome = mail_handle(raw, kind=kind)
        except MailTemporaryFailure as exc:
            raise MailSourceError(
                f"temporary failure, try again later: {exc}", returncode=EX_TEMPFAIL
            ) from exc
        detail = clip(" ".join(quotable(outcome.detail).split()), 500)
        self.out(f"{outcome.outcome}: {detail}".rstrip(": "))

    # -- Maildir -------------------------------------------------------------------------

    def maildir(self, root: Path, kind: str | None) -> None:
        new, cur = root / "new", root / "cur"
        if not new.is_dir():
            raise MailSourceError(
                f"{root} is not a Maildir (no new/ directory)", returncode=EX_USAGE
            )
        cur.mkdir(exist_ok=True)
        names = sorted(p.name for p in new.iterdir() if not p.name.startswith("."))
        counts: Counter[str] = Counter()
        for name in _progress(names, "maildir"):
            try:
                raw = (new / name).read_bytes()
            except FileNotFoundError:  # another run took it
                continue
            except OSError as exc:  # a directory, no permission: not a message to read
                counts["unreadable file"] += 1
                _quarantine(root, new / name, None, f"not readable: {exc}")
                continue
            outcome = self._handle_or_stop(raw, kind, counts)
            if outcome is None:
                break
            if outcome.outcome == InboundMailOutcome.FAILED:
                _quarantine(root, new / name, raw, outcome.detail)
                continue
            # Mark it handled the Maildir way: moved to cur/ with the Seen flag.
            os.replace(new / name, cur / f"{name.split(':', 1)[0]}:2,S")
        self._finish(counts)

    # -- mbox ----------------------------------------------------------------------------

    def mbox(self, path: Path, kind: str | None) -> None:
        if not path.is_file():
            raise MailSourceError(f"{path} is not a file", returncode=EX_USAGE)
        box = mailbox.mbox(path, create=False)
        counts: Counter[str] = Counter()
        try:
            keys = list(box.keys())
            for key in _progress(keys, "mbox"):
                raw = _mbox_unescape(box.get_bytes(key))
                if self._handle_or_stop(raw, kind, counts) is None:
                    break
        finally:
            box.close()
        self._finish(counts)

    # -- IMAP ----------------------------------------------------------------------------

    def imap(self, url: str, kind: str | None, interval: float) -> None:
        target = _ImapTarget.from_url(url)
        counts: Counter[str] = Counter()
        if interval:
            mail_gate_warm()  # a listener: its first message should not wait for imports
        while True:
            try:
                stopped = self._imap_round(target, kind, counts)
            except (OSError, imaplib.IMAP4.error) as exc:
                if not interval:
                    raise MailSourceError(
                        f"IMAP {target.host}:{target.port}: {exc}", returncode=EX_TEMPFAIL
                    ) from exc
                log.warning("IMAP %s:%s: %s; trying again", target.host, target.port, exc)
                stopped = False
            if not interval:
                break
            if stopped:
                log.warning("database unavailable; trying again in %s s", interval)
            time.sleep(interval)
        self._finish(counts)

    def _imap_round(self, target: _ImapTarget, kind: str | None, counts: Counter[str]) -> bool:
        """Handle the UNSEEN messages once; True when stopped by a temporary failure."""
        with target.connect() as connection:
            status, data = connection.uid("SEARCH", "UNSEEN")
            if status != "OK":
                raise imaplib.IMAP4.error(f"SEARCH UNSEEN failed: {data!r}")
            for uid in (data[0] or b"").decode("ascii").split():
                raw = _fetch(connection, uid)
                if raw is None:
                    continue
                outcome = self._handle_or_stop(raw, kind, counts)
                if outcome is None:
                    return True
                flags = "(\\Seen \\Flagged)" if outcome.outcome == "failed" else "(\\Seen)"
                connection.uid("STORE", uid, "+FLAGS.SILENT", flags)
        return False

    # -- shared ----------------------------------------------------------------------------

    def _handle_or_stop(
        self, raw: bytes, kind: str | None, counts: Counter[str]
    ) -> MailOutcome | None:
        """Handle one message; None (and the failure counted) when it must be kept."""
        close_stale_connections()
        try:
            outcome = mail_handle(raw, kind=kind)
        except MailTemporaryFailure as exc:
            counts["temporary failure"] += 1
            self.err(f"temporary failure, stopping; the rest is kept: {exc}")
            return None
        counts[outcome.outcome] += 1
        return outcome

    def _finish(self, counts: Counter[str]) -> None:
        summary = ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "no messages"
        handled = sum(n for what, n in counts.items() if what != "temporary failure")
        self.out(f"{handled} message(s) handled: {summary}")
        if counts["temporary failure"]:
            raise MailSourceError(
                "stopped by a temporary failure; run again later", returncode=EX_TEMPFAIL
            )


def _progress(items: list[str], label: str) -> Iterable[str]:
    if not sys.stderr.isatty() or len(items) < 2:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=label, unit="msg", file=sys.stderr)


class _ImapTarget:
    """Where to poll, from ``imap[s]://user[:password]@host[:port]/MAILBOX``."""

    def __init__(self, *, secure: bool, host: str, port: int, user: str, password: str, box: str):
        self.secure, self.host, self.port = secure, host, port
        self.user, self.password, self.box = user, password, box

    @classmethod
    def from_url(cls, url: str) -> _ImapTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
            raise MailSourceError(
                f"--imap wants imap://user:password@host:port/MAILBOX or imaps://..., not {url!r}",
                returncode=EX_USAGE,
            )
        password = unquote(parts.password or "") or os.environ.get(IMAP_PASSWORD_ENV, "")
        secure = parts.scheme == "imaps"
        return cls(
            secure=secure,
            host=parts.hostname,
            port=parts.port or (993 if secure else 143),
            user=unquote(parts.username),
            password=password,
            box=unquote(parts.path.lstrip("/")) or "INBOX",
        )

    def connect(self) -> _ImapSession:
        return _ImapSession(self)


class _ImapSession:
    """A logged-in IMAP connection with the mailbox selected read-write."""

    def __init__(self, target: _ImapTarget) -> None:
        self.target = target
        self.connection: imaplib.IMAP4 | None = None

    def __enter__(self) -> imaplib.IMAP4:
        t = self.target
        context = ssl.create_default_context()
        if t.secure:
            connection: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                t.host, t.port, ssl_context=context, timeout=60
            )
        else:
            connection = imaplib.IMAP4(t.host, t.port, timeout=60)
            if "STARTTLS" in connection.capabilities:
                connection.starttls(ssl_context=context)
        self.connection = connection
        connection.login(t.user, t.password)
        status, data = connection.select(_imap_quote(t.box))
        if status != "OK":
            raise imaplib.IMAP4.error(f"cannot select {t.box!r}: {data!r}")
        return connection

    def __exit__(self, *exc_info: object) -> None:
        if self.connection is None:
            return
        try:
            self.connection.close()
            self.connection.logout()
        except (OSError, imaplib.IMAP4.error):
            pass  # the work is done; a rude goodbye from the server changes nothing


def _imap_quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fetch(connection: imaplib.IMAP4, uid: str) -> bytes | None:
    """The whole message, without setting \\Seen (that is done once it is handled)."""
    status, data = connection.uid("FETCH", uid, "(BODY.PEEK[])")
    if status != "OK":
        return None
    return next(_literals(data), None)


def _literals(data: Iterable[object]) -> Iterator[bytes]:
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            yield item[1]


def _quarantine(root: Path, path: Path, raw: bytes | None, reason: str) -> None:
    """Move a message the gate could not handle out of ``new/`` into the Maildir++ folder
    ``.Quarantine``, the reason in a header on top, so that the queue goes on."""
    folder = root / QUARANTINE_FOLDER
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    target = folder / "cur" / f"{path.name.split(':', 1)[0]}:2,"
    log.error("message %s quarantined in %s: %s", path.name, target, reason)
    if raw is None:
        os.replace(path, target)
        return
    why = clip(" ".join(quotable(reason).split()), 500).encode("ascii", "replace")
    temporary = folder / "tmp" / path.name
    temporary.write_bytes(QUARANTINE_HEADER.encode() + b": " + why + b"\r\n" + raw)
    os.replace(temporary, target)
    path.unlink()


_MBOX_FROM_QUOTE = re.compile(rb"^>(>*From )", re.MULTILINE)


def _mbox_unescape(raw: bytes) -> bytes:
    """Undo the ``>From `` quoting of mbox files (mboxrd rule): a body line that began with
    "From " must not reach the gate looking like a quoted reply line."""
    return _MBOX_FROM_QUOTE.sub(rb"\1", raw)
