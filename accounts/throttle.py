"""Abuse limits: a growing delay after failed log-ins, and windowed counts for registrations
and for mails sent to one address.

Why a table and not django-axes or the cache: the limits must hold across gunicorn workers,
FTP session threads and several hosts. The database is the one store every one of them shares
in every deployment (SQLite embedded, PostgreSQL in production), whereas the cache is
per-process memory unless Redis is configured, and Django's database cache cannot increment
atomically. django-axes keys on a request object the FTP server does not have and throttles
only after the fact; here each attempt is counted *before* the password is checked, under a
row lock, so that a hundred guesses sent in parallel cannot all pass the gate together.

Log-in policy, per account and per client address (each key on its own): the first
``free`` failures cost nothing; after that an attempt is refused until
``min(2 ** (failures - free), max)`` seconds have passed since the last one (1, 2, 4, ... s).
A success clears the account's count; failures are forgotten after a quiet day.

Known addresses: a stranger's failures must not lock the owner out. An address (IPv4, IPv6
/64) from which an account logged in successfully in the last ``KNOWN_FOR`` is *known* for
that account: attempts from it are counted on a key of their own (the account at that
address) instead of the account's, so the owner at home or at the institute is not delayed
by guesses from elsewhere, while guesses from a known address are still throttled. The
same check serves the web pages, the admin, HTTP Basic and FTP, which all carry the
client's address (a browser cookie would help the web only).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import ThrottleCounter, User

#: Failures are forgotten when none happened for this long.
FORGET_AFTER = timedelta(days=1)
#: An address an account logged in from stays known for it this long after the last success.
KNOWN_FOR = timedelta(days=180)
_KNOWN = "known:"


class LoginThrottled(Exception):
    """Too many failed log-ins for an account or from an address: try again later."""

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(
            "Too many failed log-ins for this account or from your network: wait "
            f"{_human_seconds(retry_after_s)} before trying again. Forgot your password? "
            "Ask for a reset link on the log-in page."
        )


class RateLimited(Exception):
    """A windowed limit is reached; ``str()`` says which and for how long."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


def _human_seconds(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return f"{minutes} minutes"
    return f"{math.ceil(minutes / 60)} hours"


# --- keys -----------------------------------------------------------------------------------


def client_address(request: HttpRequest | None) -> str | None:
    """The client's IP address: ``REMOTE_ADDR``, or the address the trusted reverse proxies
    (``DSSPORTAL_TRUSTED_PROXIES`` of them) recorded last in ``X-Forwarded-For``."""
    if request is None:
        return None
    proxies = int(settings.DSSPORTAL_TRUSTED_PROXIES)
    if proxies:
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR") or None


def address_key(address: str) -> str:
    """One key per IPv4 address and per IPv6 /64 (one subscriber's usual allocation)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return "ip:" + _digest(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"ip:{ip}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def account_key(*, user: User | None, login: str) -> str:
    """The account a login names: its user (username and addresses share one count), or the
    name as typed for unknown names, so that both kinds are throttled alike."""
    if user is not None:
        return f"user:{user.pk}"
    return "login:" + _digest(login.strip().casefold())


# --- counters -------------------------------------------------------------------------------


def _locked(key: str) -> ThrottleCounter:
    """The counter row for ``key``, locked for this transaction (created when missing)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            ThrottleCounter.objects.get_or_create(
                key=key, defaults={"window_started_at": now, "last_at": now}
            )
    except IntegrityError:
        pass  # created meanwhile by a concurrent attempt
    return ThrottleCounter.objects.select_for_update().get(key=key)


def login_delay_s(failures: int, *, free: int) -> int:
    """Seconds an attempt must wait after the last one, given the failures counted so far."""
    if failures < free:
        return 0
    return min(2 ** min(failures - free, 30), int(settings.DSSPORTAL_LOGIN_MAX_DELAY_S))


def _known_key(account: str, address: str) -> str:
    """The key that marks ``address`` as known for ``account`` (and counts its failures)."""
    return f"{_KNOWN}{account}@{address_key(address)}"


def address_known_for_user(*, user: User, address: str | None) -> bool:
    """Whether ``user`` logged in successfully from ``address`` (or its /64) lately."""
    return _address_known(account_key(user=user, login=""), address)


def _address_known(account: str, address: str | None) -> bool:
    if not address or not account.startswith("user:"):
        return False
    since = timezone.now() - KNOWN_FOR
    return ThrottleCounter.objects.filter(
        key=_known_key(account, address), window_started_at__gte=since
    ).exists()


def _login_keys(account: str, address: str | None) -> list[tuple[str, int]]:
    """The counters an attempt is checked against: the account's, or, from an address the
    account logged in from before, the account's at that address; and the address's."""
    free_account = int(settings.DSSPORTAL_LOGIN_FREE_FAILURES_PER_ACCOUNT)
    known = _address_known(account, address)
    keys = [(_known_key(account, address) if known and address else account, free_account)]
    if address:
        keys.append((address_key(address), int(settings.DSSPORTAL_LOGIN_FREE_FAILURES_PER_ADDRESS)))
    return keys


def login_attempt_start(*, account: str, address: str | None) -> None:
    """Count one password attempt for the account and the address, or refuse it.

    The attempt is counted as a failure before the password is checked
    (:func:`login_succeeded` takes it back), so parallel attempts are bounded too.

    Raises
    ------
    LoginThrottled
        When the account or the address must wait; nothing is counted then.
    """
    now = timezone.now()
    with transaction.atomic():
        rows = []
        for key, free in _login_keys(account, address):
            row = _locked(key)
            if now - row.last_at > FORGET_AFTER:
                row.count = 0
            wait = row.last_at + timedelta(seconds=login_delay_s(row.count, free=free)) - now
            if row.count >= free and wait.total_seconds() > 0:
                raise LoginThrottled(max(1, math.ceil(wait.total_seconds())))
            rows.append(row)
        for row in rows:
            row.count += 1
            row.last_at = now
            row.save(update_fields=["count", "last_at"])


def login_succeeded(*, account: str, address: str | None) -> None:
    """A right password: the count it was checked against starts again (the account's, or
    the account's at a known address: the owner logging in at home does not give strangers
    their free failures back); the address gets its attempt back and is known for the
    account from now on (``window_started_at`` of its key: the last success)."""
    with transaction.atomic():
        counted_on = _login_keys(account, address)[0][0]
        ThrottleCounter.objects.filter(key=counted_on).update(count=0)
        if address:
            row = _locked(address_key(address))
            if row.count:
                row.count -= 1
                row.save(update_fields=["count"])
            if account.startswith("user:"):
                known = _locked(_known_key(account, address))
                known.count = 0
                known.window_started_at = known.last_at = timezone.now()
                known.save(update_fields=["count", "window_started_at", "last_at"])


def login_failures_forget(*, user: User) -> None:
    """After a password reset the account's owner is known: let them log in at once."""
    ThrottleCounter.objects.filter(key=account_key(user=user, login="")).update(count=0)


@dataclass(frozen=True)
class Limit:
    """At most ``count`` events per ``window`` for one key."""

    count: int
    window: timedelta
    message: str  # says what is limited; the wait is appended


def rate_limit_take(*, key: str, limit: Limit) -> None:
    """Count one event under ``key``.

    Raises
    ------
    RateLimited
        When the window already holds ``limit.count`` events; nothing is counted then.
    """
    rate_limits_take([(key, limit)])


def rate_limits_take(takes: Sequence[tuple[str, Limit]]) -> None:
    """Count one event under each key (distinct keys), all or none.

    One statement when every key has room (no transaction of its own: this sits on the path
    of every anonymous cut-out, where each round trip to the database shows); when one is
    full, the keys it did count are given back before the refusal.

    Raises
    ------
    RateLimited
        For the first key whose window is full; nothing stays counted under any key then.
    """
    now = timezone.now()
    counted = _counted(takes, now=now)
    refused = next((t for t in takes if t[0] not in counted), None)
    if refused is None:
        return
    if counted:
        ThrottleCounter.objects.filter(key__in=counted, count__gt=0).update(count=F("count") - 1)
    key, limit = refused
    row = ThrottleCounter.objects.filter(key=key).first()
    ends = (row.window_started_at if row is not None else now) + limit.window
    wait = max(1, math.ceil((ends - now).total_seconds()))
    raise RateLimited(f"{limit.message} Please try again in {_human_seconds(wait)}.", wait)


def _counted(takes: Sequence[tuple[str, Limit]], *, now: datetime) -> set[str]:
    """Add one to the counter of each key whose window is not full; the keys added to.

    One upsert, atomic on PostgreSQL (each conflicting row is locked and its latest version
    tested) and on SQLite (one writer): windowed limits sit on the path of every anonymous
    cut-out, where a get-or-create and a locked read-modify-write cost four statements a key.
    A window that has run out starts again with this event. Keys go in sorted, so that
    concurrent statements lock rows in one order.
    """
    adapt = connection.ops.adapt_datetimefield_value
    at = adapt(now)
    rows = sorted((key, adapt(now - limit.window), limit.count) for key, limit in takes)
    rows = [row for row in rows if row[2] >= 1]  # a limit of 0 refuses everything
    if not rows:
        return set()
    q = connection.ops.quote_name
    names = {f: q(f) for f in _COUNTER_FIELDS}  # the columns bear the fields' names
    table = q(ThrottleCounter._meta.db_table)
    when = " ".join(["WHEN %s THEN %s"] * len(rows))
    sql = _TAKE_SQL.format(
        table=table,
        values=", ".join(["(%s, 1, %s, %s)"] * len(rows)),
        expired=f"CASE {table}.{names['key']} {when} END",
        limit=f"CASE {table}.{names['key']} {when} END",
        **names,
    )
    inserted = [value for key, _, _ in rows for value in (key, at, at)]
    expired = [value for key, cutoff, _ in rows for value in (key, cutoff)]
    limit = [value for key, _, count in rows for value in (key, count)]
    params = [*inserted, *expired, *expired, at, at, *expired, *limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {key for (key,) in cursor.fetchall()}


_COUNTER_FIELDS = ("key", "count", "window_started_at", "last_at")
# {expired}: the start before which a key's window has run out; {limit}: its count. The
# WHERE of DO UPDATE leaves a full window's row alone: its key does not come back.
_TAKE_SQL = """
INSERT INTO {table} ({key}, {count}, {window_started_at}, {last_at}) VALUES {values}
ON CONFLICT ({key}) DO UPDATE SET
  {count} = CASE WHEN {table}.{window_started_at} <= {expired} THEN 1
            ELSE {table}.{count} + 1 END,
  {window_started_at} = CASE WHEN {table}.{window_started_at} <= {expired} THEN %s
            ELSE {table}.{window_started_at} END,
  {last_at} = %s
WHERE {table}.{window_started_at} <= {expired} OR {table}.{count} < {limit}
RETURNING {key}
"""


#: Longer than every window and than FORGET_AFTER: an older counter no longer limits anything.
IDLE_COUNTER_AGE = timedelta(days=2)


def throttle_counters_prune() -> int:
    """Delete counters idle for longer than any window, and known addresses not used for
    ``KNOWN_FOR`` (scheduled daily); returns how many."""
    now = timezone.now()
    idle = ThrottleCounter.objects.filter(last_at__lt=now - IDLE_COUNTER_AGE).exclude(
        key__startswith=_KNOWN
    )
    deleted, _ = idle.delete()
    forgotten, _ = ThrottleCounter.objects.filter(
        key__startswith=_KNOWN, window_started_at__lt=now - KNOWN_FOR
    ).delete()
    return deleted + forgotten
