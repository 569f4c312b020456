"""FTP access to staging directories: pyftpdlib glued to Django users and staging rows.

What a user sees after logging in with their portal username (or a verified address) and
portal password or one of their app passwords::

    /                       their live staging directories, nothing else
    /dss-20261124-xxxxxxxx/  the files of one request

The real folder behind ``/`` is ``STAGING_DIR/user-<pk>/``. Only directories whose names are
live :class:`~extraction.models.StagingDirectory` rows of this user (not deleted, not past
``expires_at``) are visible, whatever else lies on disk: an expired folder that the expiry job
has not removed yet is already gone for FTP. Users may list, download and delete (a file with
DELE, a whole staging directory with RMD); nothing can be uploaded, renamed or created.

Concurrency: :class:`PortalFTPServer` runs every FTP session in its own thread (pyftpdlib's
``ThreadedFTPServer``), not in pyftpdlib's default single-threaded IO loop. A login hashes a
password (Django's PBKDF2 takes a good fraction of a second by design), every command checks
the database, and RMD removes a whole tree: in the async model each of these would stall the
transfers of every other user. Threads cost one stack per session, bounded by ``max_cons``.
Django database connections are per thread; each session closes its connection after every
command, so an idle FTP session (they may idle for minutes) holds no database connection.

Slots: a connection that has not logged in yet is *pending*. Pending connections are limited
per client address and in all (``DSSPORTAL_FTP_MAX_PENDING_LOGINS*``) and dropped after
``DSSPORTAL_FTP_LOGIN_TIMEOUT_S`` seconds, so that clients which connect and say nothing cannot
take the slots (``DSSPORTAL_FTP_MAX_CONNECTIONS``, per address
``DSSPORTAL_FTP_MAX_CONNECTIONS_PER_ADDRESS``) that logged-in users need. When every pending
slot is taken (22 addresses with 3 silent connections each fill 64), a newcomer is still
admitted: the pending connection that has waited longest (at least ``EVICTION_GRACE_S``) is
closed to make room, so silent connections cannot hold the slots, however often renewed,
while a real client logs in within its first seconds.

Data connections: a connection to a passive data port from another address than the
session's is refused quietly and the port keeps waiting for its owner (pyftpdlib answered
it with a 425 on the control channel, which the owner's client took as the answer to its
transfer command). Password guesses go
through the same throttled check as web and API log-ins (:mod:`accounts.throttle`), keyed by
the account and by the client's address, so reconnecting does not reset the delay.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections, connections
from django.utils import timezone
from pyftpdlib.exceptions import AuthenticationFailed, FilesystemError
from pyftpdlib.filesystems import AbstractedFS
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import ThreadedFTPServer

from accounts.throttle import LoginThrottled
from extraction.models import StagingDirectory
from extraction.services.staging import (
    StagingError,
    staging_directory_delete,
    staging_file_removed,
    user_area,
)

log = logging.getLogger(__name__)

#: Seconds a client waits after a failed login before it may try again (pyftpdlib's
#: ``auth_failed_timeout``; the session is dropped after three failures).
AUTH_FAILED_DELAY_S = 3.0
IDLE_TIMEOUT_S = 300

#: e = change directory, l = list, r = retrieve, d = delete (DELE and RMD). No w/a/f/m/M/T.
PERMISSIONS = "elrd"
ANONYMOUS_LOGINS = frozenset({"anonymous", "ftp"})
READ_ONLY = "This server only serves downloads: uploading, renaming and creating are not possible"
NOT_FOUND = "No such file or directory"
TOO_MANY_PENDING = (
    "421 Too many connections waiting to log in (from your address, or in all); "
    "log in on the ones you have or try again shortly."
)
LOGIN_TIMED_OUT = "421 No log-in within {seconds} seconds: connection closed."
EVICTED = (
    "421 Too many connections are waiting to log in; this one waited longest: connection "
    "closed. Log in right after connecting."
)
#: A pending connection younger than this is never closed to make room for a newcomer.
EVICTION_GRACE_S = 2.0
#: How often a pending session checks whether it was chosen to make room.
_EVICTION_CHECK_S = 0.2
LOGIN_FAILED = (
    "login failed: use your portal username or registered e-mail address and your portal "
    "password or an app password from your account page"
)


class PortalAuthorizer:
    """pyftpdlib's authorizer interface over Django users, one instance per FTP session.

    pyftpdlib passes authorizers only the name typed at USER, and two sessions may log in with
    the same name (or one by username, one by address), so the logged-in user is kept here,
    per session, rather than in a shared table keyed by that name.
    """

    def __init__(self) -> None:
        self.user_id: int | None = None
        self.username = ""
        self.home = ""

    def validate_authentication(self, username: str, password: str, handler: Any) -> None:
        self.user_id = None
        if username.strip().lower() in ANONYMOUS_LOGINS:
            raise AuthenticationFailed(
                "anonymous access is not offered: log in with your portal account"
            )
        try:
            user = authenticate(
                None,
                username=username,
                password=password,
                remote_address=handler.remote_ip,
                allow_app_password=True,
            )
        except LoginThrottled as exc:
            raise AuthenticationFailed(str(exc)) from None
        if user is None:  # wrong password, unknown name or unverified address, inactive user
            raise AuthenticationFailed(LOGIN_FAILED)
        area = user_area(user)
        area.mkdir(parents=True, exist_ok=True)
        # The real path, so that the lexical paths pyftpdlib builds under it compare equal to
        # the resolved ones the chroot check produces.
        self.home = os.path.realpath(area)
        self.user_id = user.pk
        self.username = user.get_username()

    def get_home_dir(self, username: str) -> str:
        return self.home

    def has_user(self, username: str) -> bool:
        return self.user_id is not None

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        return self.user_id is not None and perm in PERMISSIONS

    def get_perms(self, username: str) -> str:
        return PERMISSIONS

    def get_msg_login(self, username: str) -> str:
        return f"Logged in as {self.username}; each directory holds one request's images."

    def get_msg_quit(self, username: str) -> str:
        return "Goodbye."

    def impersonate_user(self, username: str, password: str) -> None:
        """Files are served as the portal's own system user; nothing to switch."""

    def terminate_impersonation(self, username: str) -> None:
        """See :meth:`impersonate_user`."""


def live_staging_names(*, user_id: int) -> frozenset[str]:
    """Names of the user's staging directories that FTP may show: not deleted, not expired."""
    rows = StagingDirectory.objects.filter(
        user_id=user_id, deleted_at__isnull=True, expires_at__gt=timezone.now()
    )
    return frozenset(rows.values_list("name", flat=True))


class StagingFilesystem(AbstractedFS):
    """A read-and-delete view of one user's live staging directories.

    pyftpdlib's chroot (``validpath``: the resolved path must lie below the home folder) is
    kept; on top of it a path is *visible* only when the first component below the home, both
    as typed and after resolving symbolic links, is the name of a live staging directory of
    this user. Invisible paths answer "No such file or directory", so that a client cannot
    tell an expired or foreign directory from one that never existed.
    """

    #: ``format_list`` shows ``name -> target`` when this is callable: listings say that an
    #: entry is a link, never where on the server it points.
    readlink = None

    def __init__(self, root: str, cmd_channel: Any) -> None:
        super().__init__(root, cmd_channel)
        self.user_id: int = cmd_channel.authorizer.user_id
        self._live: frozenset[str] | None = None

    # --- visibility -------------------------------------------------------------------------

    def forget(self) -> None:
        """Drop the cached live names; called before every command so expiry and deletions
        made elsewhere take effect at once, while one command costs at most one query."""
        self._live = None

    def live_names(self) -> frozenset[str]:
        if self._live is None:
            self._live = live_staging_names(user_id=self.user_id)
        return self._live

    def _top(self, path: str) -> str | None:
        """The first component of ``path`` below the home: ``""`` for the home itself,
        ``None`` for anything outside it."""
        rel = os.path.relpath(path, self.root)
        if rel == ".":
            return ""
        if rel == os.pardir or rel.startswith(os.pardir + os.sep):
            return None
        return rel.split(os.sep, 1)[0]

    def visible(self, path: str) -> bool:
        if not self.validpath(path):
            return False
        tops = (self._top(os.path.normpath(path)), self._top(os.path.realpath(path)))
        return all(top is not None and (top == "" or top in self.live_names()) for top in tops)

    def _require_visible(self, path: str) -> None:
        if not self.visible(path):
            raise FilesystemError(NOT_FOUND)

    def _is_home(self, path: str) -> bool:
        return os.path.realpath(path) == os.path.realpath(self.root)

    def _staging_row(self, name: str) -> StagingDirectory:
        row = StagingDirectory.objects.filter(
            user_id=self.user_id, name=name, deleted_at__isnull=True
        ).first()
        if row is None:
            raise FilesystemError(NOT_FOUND)
        return row

    # --- reading ------------------------------------------------------------------------------

    def listdir(self, path: str) -> list[str]:
        self._require_visible(path)
        if self._is_home(path):
            return [name for name in sorted(self.live_names()) if self._is_folder(name)]
        return [name for name in os.listdir(path) if self.visible(os.path.join(path, name))]

    def listdirinfo(self, path: str) -> list[str]:
        return self.listdir(path)

    def _is_folder(self, name: str) -> bool:
        path = os.path.join(self.root, name)
        return os.path.isdir(path) and not os.path.islink(path)

    def chdir(self, path: str) -> None:
        # pyftpdlib's version calls os.chdir(), which changes the directory of the whole
        # process, under every other session thread: only the virtual cwd changes here.
        self._require_visible(path)
        if not os.path.isdir(path):
            raise FilesystemError("Not a directory")
        self.cwd = self.fs2ftp(path)

    def open(self, filename: str, mode: str) -> Any:
        if set(mode) & set("wax+"):
            raise FilesystemError(READ_ONLY)
        self._require_visible(filename)
        return open(filename, mode)

    def stat(self, path: str) -> os.stat_result:
        self._require_visible(path)
        return os.stat(path)

    def lstat(self, path: str) -> os.stat_result:
        self._require_visible(path)
        return os.lstat(path)

    def isfile(self, path: str) -> bool:
        return self.visible(path) and os.path.isfile(path)

    def isdir(self, path: str) -> bool:
        return self.visible(path) and os.path.isdir(path)

    def islink(self, path: str) -> bool:
        return self.visible(path) and os.path.islink(path)

    def lexists(self, path: str) -> bool:
        return self.visible(path) and os.path.lexists(path)

    def getsize(self, path: str) -> int:
        self._require_visible(path)
        return os.path.getsize(path)

    def getmtime(self, path: str) -> float:
        self._require_visible(path)
        return os.path.getmtime(path)

    # --- deleting -----------------------------------------------------------------------------

    def rmdir(self, path: str) -> None:
        """RMD ``/<name>`` removes the whole staging directory, files and all, through the
        staging service, so that the row is marked deleted and the quota freed. FTP's RMD
        normally wants an empty directory; emptying a request's directory file by file first
        would only make users work harder for the same result."""
        self._require_visible(path)
        path = os.path.normpath(path)
        name = os.path.basename(path)
        if os.path.dirname(path) != os.path.normpath(self.root) or not self._is_folder(name):
            raise FilesystemError(
                "only a whole staging directory can be removed (RMD /<directory name>)"
            )
        try:
            staging_directory_delete(directory=self._staging_row(name), reason="deleted over FTP")
        except StagingError as exc:
            raise FilesystemError(str(exc)) from exc
        self.forget()
        if self.cwd == f"/{name}" or self.cwd.startswith(f"/{name}/"):
            self.cwd = "/"

    def remove(self, path: str) -> None:
        """DELE of one file in a staging directory; the directory's recorded size shrinks by
        the bytes freed (symbolic links count for nothing, as in ``directory_bytes``)."""
        self._require_visible(path)
        top = self._top(os.path.normpath(path))
        if not top or os.path.normpath(path) == os.path.join(self.root, top):
            raise FilesystemError("use RMD to remove a whole staging directory")
        directory = self._staging_row(top)
        info = os.lstat(path)
        if stat.S_ISDIR(info.st_mode):
            raise FilesystemError("Is a directory")
        os.remove(path)
        staging_file_removed(
            directory=directory,
            name=os.path.basename(path),
            size=info.st_size if stat.S_ISREG(info.st_mode) else 0,
        )
        log.info("deleted %s/%s over FTP", top, os.path.relpath(path, os.path.join(self.root, top)))

    # --- writing: refused ---------------------------------------------------------------------

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise FilesystemError(READ_ONLY)

    mkdir = rename = chmod = utime = mkstemp = _refuse


class OwnerOnlyPassiveDTP(FTPHandler.passive_dtp):
    """A passive data port that refuses connections from other addresses than its session's
    without a word on the control channel, and keeps waiting for the owner's."""

    def handle_accepted(self, sock: Any, addr: Any) -> None:
        if self.cmd_channel.connected and self.cmd_channel.remote_ip != addr[0]:
            with contextlib.suppress(OSError):
                sock.close()
            log.warning(
                "FTP: refused a data connection from %s to the passive port of %s",
                addr[0],
                self.cmd_channel.remote_ip,
            )
            return
        super().handle_accepted(sock, addr)


class _RefusedBeforeLogin(Exception):
    """A connection refused on arrival because too many wait to log in."""


class PortalHandlerMixin:
    """Session behaviour shared by the plain and the TLS handler: per-session authorizer,
    pre-login limits, database hygiene around every command."""

    authorizer: Any
    fs: Any
    server: Any
    ioloop: Any
    remote_ip: str
    authenticated: bool
    login_timeout: float

    def __init__(self, conn: Any, server: Any, ioloop: Any = None) -> None:
        self.authorizer = PortalAuthorizer()
        self._pending = False
        self._login_deadline: Any = None
        self._eviction_check: Any = None
        super().__init__(conn, server, ioloop)  # type: ignore[call-arg]

    # --- pre-login limits -----------------------------------------------------------------

    def handle(self) -> None:
        """Greet the client, or refuse it when too many connections wait to log in."""
        if not self.server.pending_login_admit(self, self.remote_ip):
            self.respond_w_warning(TOO_MANY_PENDING)  # type: ignore[attr-defined]
            # Raised out of handle(), pyftpdlib's accept path drops the session at once,
            # without starting a thread for it (see handle_error).
            raise _RefusedBeforeLogin
        self._pending = True
        super().handle()  # type: ignore[misc]

    def handle_error(self) -> None:
        if isinstance(sys.exc_info()[1], _RefusedBeforeLogin):
            self.close()
            return
        super().handle_error()  # type: ignore[misc]

    def add_channel(self, map: Any = None, events: Any = None) -> None:
        super().add_channel(map, events)  # type: ignore[misc]
        # The threaded server re-adds the session to its own thread's loop: the deadline is
        # set there, so that it fires in the thread that owns the session.
        if self._pending and self.ioloop is not self.server.ioloop and self.login_timeout:
            self._login_deadline = self.ioloop.call_later(
                self.login_timeout,
                self._login_timed_out,
                _errback=self.handle_error,
            )
            self._eviction_check = self.ioloop.call_every(
                _EVICTION_CHECK_S, self._evicted_check, _errback=self.handle_error
            )

    def _evicted_check(self) -> None:
        """Close this pending session if the server chose it to make room (the choice is
        made in the accepting thread; the session is closed in its own)."""
        if self._pending and self.server.pending_login_evicted(self):
            self._pending_done()
            self.respond(EVICTED)  # type: ignore[attr-defined]
            self.close_when_done()  # type: ignore[attr-defined]

    def _login_timed_out(self) -> None:
        if not self.authenticated and not self._closed:  # type: ignore[attr-defined]
            self.respond(LOGIN_TIMED_OUT.format(seconds=round(self.login_timeout)))  # type: ignore[attr-defined]
            self.close_when_done()  # type: ignore[attr-defined]

    def _pending_done(self) -> None:
        if self._pending:
            self._pending = False
            self.server.pending_login_release(self, self.remote_ip)
        for timer in (self._login_deadline, self._eviction_check):
            if timer is not None and not timer.cancelled:
                timer.cancel()

    def on_login(self, username: str) -> None:
        self._pending_done()
        super().on_login(username)  # type: ignore[misc]

    def close(self) -> None:
        self._pending_done()
        super().close()  # type: ignore[misc]

    def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
        # Every database access of a session happens while a command is processed (paths are
        # checked, users authenticated, rows updated); close_old_connections() drops a
        # connection the database has closed meanwhile, close_all() releases this thread's
        # connection so that an idle session does not hold one.
        close_old_connections()
        if isinstance(self.fs, StagingFilesystem):
            self.fs.forget()
        try:
            super().pre_process_command(line, cmd, arg)  # type: ignore[misc]
        finally:
            connections.close_all()


class PrivateDataMixin:
    """With TLS required, data too travels only under TLS (RFC 4217 ``PROT P``).

    pyftpdlib checks the protection level when PASV/PORT opens a data channel, but accepts a
    later ``PROT C`` and then moves the listing or file through that channel in clear: here
    ``PROT C`` is refused, and every transfer checks the level again before it starts.
    """

    tls_data_required: bool
    _prot: bool

    def ftp_PROT(self, line: str) -> None:
        if self.tls_data_required and line.strip().upper() == "C":
            self.respond(  # type: ignore[attr-defined]
                "534 Clear data channels are not allowed here: use PROT P (TLS)."
            )
            return
        super().ftp_PROT(line)  # type: ignore[misc]

    def process_command(self, cmd: str, *args: Any, **kwargs: Any) -> None:
        if cmd in _DATA_COMMANDS and self.tls_data_required and not self._prot:
            self.respond("522 SSL/TLS required on the data channel: send PROT P first.")  # type: ignore[attr-defined]
            return
        super().process_command(cmd, *args, **kwargs)  # type: ignore[misc]


#: Commands that move data over a data channel.
_DATA_COMMANDS = frozenset({"LIST", "NLST", "MLSD", "RETR", "STOR", "APPE", "STOU"})


class PortalFTPServer(ThreadedFTPServer):
    """``ThreadedFTPServer`` with per-instance state and database cleanup per thread.

    pyftpdlib keeps the threads' exit flag and lock on the class and builds every server on
    one process-wide IO loop, so stopping one server would stop every other in the process
    (tests and the benchmark run several, one after another or side by side).
    """

    #: Connections not logged in yet, per client address and in all (see the module doc).
    max_pending_per_ip = 3
    max_pending = 64

    def __init__(self, address: tuple[str, int], handler: type) -> None:
        self._lock = threading.Lock()
        self._exit = threading.Event()
        self._pending_lock = threading.Lock()
        self._pending: Counter[str] = Counter()
        #: Pending sessions by id, with when each arrived (oldest first: dicts keep order).
        self._waiting: dict[int, float] = {}
        self._evicted: set[int] = set()
        super().__init__(address, handler, ioloop=IOLoop())

    def pending_login_admit(self, session: object, ip: str) -> bool:
        """Count a new connection from ``ip`` as waiting to log in, if the limits allow;
        when all pending slots are taken, choose the longest-waiting one to make room."""
        with self._pending_lock:
            if self._pending[ip] >= self.max_pending_per_ip:
                return False
            if len(self._waiting) - len(self._evicted) >= self.max_pending:
                oldest = self._longest_waiting()
                if oldest is None:
                    return False
                self._evicted.add(oldest)
            self._pending[ip] += 1
            self._waiting[id(session)] = time.monotonic()
            return True

    def _longest_waiting(self) -> int | None:
        """The pending session that has waited longest, past the grace period, not yet
        chosen; None when every one is younger (then the newcomer is refused)."""
        cutoff = time.monotonic() - EVICTION_GRACE_S
        for session, since in self._waiting.items():
            if since > cutoff:
                return None
            if session not in self._evicted:
                return session
        return None

    def pending_login_evicted(self, session: object) -> bool:
        with self._pending_lock:
            return id(session) in self._evicted

    def pending_login_release(self, session: object, ip: str) -> None:
        with self._pending_lock:
            self._pending[ip] -= 1
            if self._pending[ip] <= 0:
                del self._pending[ip]
            self._waiting.pop(id(session), None)
            self._evicted.discard(id(session))

    def _loop(self, handler: Any) -> None:
        try:
            super()._loop(handler)
        finally:
            connections.close_all()

    @property
    def uses_tls(self) -> bool:
        return bool(getattr(self.handler, "tls_control_required", False))


def passive_ports_parse(text: str) -> list[int] | None:
    """``"60000-60100"`` (inclusive) or ``"60000"`` -> ports; ``""`` -> None (any port)."""
    text = text.strip()
    if not text:
        return None
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if match is None:
        raise ImproperlyConfigured(
            f"DSSPORTAL_FTP_PASSIVE_PORTS={text!r} is not a port range like 60000-60100."
        )
    low, high = int(match[1]), int(match[2] or match[1])
    if not 1024 <= low <= high <= 65535:
        raise ImproperlyConfigured(
            f"DSSPORTAL_FTP_PASSIVE_PORTS={text!r}: use ports between 1024 and 65535, low-high."
        )
    return list(range(low, high + 1))


def _tls_handler_base(certfile: str, keyfile: str) -> tuple[type, Any]:
    """pyftpdlib's TLS handler and a server context (TLS 1.2 or newer) for the certificate."""
    try:
        from OpenSSL import SSL
        from pyftpdlib.handlers import TLS_FTPHandler
    except ImportError as exc:
        raise ImproperlyConfigured(
            "DSSPORTAL_FTP_TLS_CERTFILE is set, but FTPS needs the pyOpenSSL package "
            "(pip install pyOpenSSL)."
        ) from exc
    for name, value in (("CERTFILE", certfile), ("KEYFILE", keyfile)):
        if not Path(value).is_file():
            raise ImproperlyConfigured(f"DSSPORTAL_FTP_TLS_{name}={value!r} is not a file.")
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    context.set_options(SSL.OP_NO_COMPRESSION)
    try:
        context.use_certificate_chain_file(certfile)
        context.use_privatekey_file(keyfile)
        context.check_privatekey()
    except SSL.Error as exc:
        raise ImproperlyConfigured(
            f"The FTPS certificate {certfile!r} or key {keyfile!r} cannot be used: {exc}"
        ) from exc
    return TLS_FTPHandler, context


def _handler_class(*, auth_failed_delay: float, idle_timeout: int, login_timeout: float) -> type:
    """A handler class for one server, configured from settings.

    A fresh subclass per server, because pyftpdlib reads its configuration from class
    attributes (and caches the TLS context there).
    """
    attrs: dict[str, Any] = {
        "authorizer": PortalAuthorizer(),  # placeholder; each session makes its own
        "abstracted_fs": StagingFilesystem,
        # At most 75 characters: pyftpdlib splits longer banners over several lines.
        "banner": "dssportal FTP: log in with your portal username or address and password.",
        "auth_failed_timeout": auth_failed_delay,
        "timeout": idle_timeout,
        "login_timeout": login_timeout,
        "passive_ports": passive_ports_parse(settings.DSSPORTAL_FTP_PASSIVE_PORTS),
        "passive_dtp": OwnerOnlyPassiveDTP,
        "masquerade_address": settings.DSSPORTAL_FTP_MASQUERADE_ADDRESS or None,
    }
    base: type = FTPHandler
    certfile = settings.DSSPORTAL_FTP_TLS_CERTFILE
    if certfile:
        base, context = _tls_handler_base(certfile, settings.DSSPORTAL_FTP_TLS_KEYFILE or certfile)
        attrs.update(ssl_context=context, tls_control_required=True, tls_data_required=True)
        return type(
            "PortalFTPHandler",
            (PortalHandlerMixin, PrivateDataMixin, base),
            {**attrs, "proto_cmds": _without_stou(base)},
        )
    return type(
        "PortalFTPHandler", (PortalHandlerMixin, base), {**attrs, "proto_cmds": _without_stou(base)}
    )


def _without_stou(base: type) -> dict[str, Any]:
    # STOU makes its temporary file before it checks the write permission: drop it outright.
    return {k: v for k, v in base.proto_cmds.items() if k != "STOU"}  # type: ignore[attr-defined]


def ftp_server_build(
    *,
    host: str,
    port: int,
    auth_failed_delay: float = AUTH_FAILED_DELAY_S,
    max_cons: int | None = None,
    max_cons_per_ip: int | None = None,
    max_pending: int | None = None,
    max_pending_per_ip: int | None = None,
    login_timeout: float | None = None,
    idle_timeout: int = IDLE_TIMEOUT_S,
) -> PortalFTPServer:
    """A listening (not yet serving) FTP server for the staging area; ``port=0`` picks a free
    port (see ``server.address``). Passive ports, masquerade address, TLS and the connection
    limits (where not given) come from the ``DSSPORTAL_FTP_*`` settings. Call
    ``serve_forever()`` to serve, ``close_all()`` to stop.

    Raises
    ------
    django.core.exceptions.ImproperlyConfigured
        When the FTP settings are malformed or the TLS certificate cannot be used.
    """
    handler = _handler_class(
        auth_failed_delay=auth_failed_delay,
        idle_timeout=idle_timeout,
        login_timeout=_or(login_timeout, settings.DSSPORTAL_FTP_LOGIN_TIMEOUT_S),
    )
    server = PortalFTPServer((host, port), handler)
    server.max_cons = _or(max_cons, settings.DSSPORTAL_FTP_MAX_CONNECTIONS)
    server.max_cons_per_ip = _or(
        max_cons_per_ip, settings.DSSPORTAL_FTP_MAX_CONNECTIONS_PER_ADDRESS
    )
    server.max_pending = _or(max_pending, settings.DSSPORTAL_FTP_MAX_PENDING_LOGINS)
    server.max_pending_per_ip = _or(
        max_pending_per_ip, settings.DSSPORTAL_FTP_MAX_PENDING_LOGINS_PER_ADDRESS
    )
    return server


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def ftp_server_describe(server: PortalFTPServer) -> str:
    host, port = server.address
    protocol = "FTPS (explicit TLS required)" if server.uses_tls else "FTP"
    return f"{protocol} on {host}:{port}, serving {settings.STAGING_DIR}"
