"""Every host of a site must sign with the same ``SECRET_KEY``: the task queue's messages,
sessions, CSRF tokens and confirmation links are signed with it.

A worker host with another key takes its share of tasks off the broker and drops each one
(django-q logs ``BadSignature`` and acknowledges it); a web or mail host with another key
enqueues tasks no worker can read and signs sessions the other hosts refuse. Nothing else
warns.

The first host to start records a fingerprint of its key in the database; every host after
it compares: ``qcluster`` waits for the database, refuses to start and, while running, stops
when the site's key changes; ``runlmtp`` refuses to start, ``ingest_mail`` defers mail, and
``/healthz`` answers 503. A deliberate change of key is recorded with ``manage.py
record_signing_key`` (django-q signs with ``SECRET_KEY`` alone, so a change is all hosts at
once). On SQLite, which one host alone can use, a new key is recorded with a warning: a
development machine whose ``.env`` was written anew.
"""

from __future__ import annotations

import logging
import socket

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from dssportal.models import SigningKeyRecord

logger = logging.getLogger(__name__)

#: The one row of the record.
_RECORD_PK = 1

#: What a host with another key is told in public (``/healthz``): the rest is in its logs.
PUBLIC_PROBLEM = "this host's SECRET_KEY is not the one the site's hosts share"


def fingerprint(secret: str) -> str:
    """A fingerprint of a key that tells keys apart and gives nothing of them away."""
    return salted_hmac("dssportal.signing-key-fingerprint", "", secret=secret).hexdigest()


def _this_key() -> dict[str, object]:
    return {
        "fingerprint": fingerprint(settings.SECRET_KEY),
        "recorded_by": socket.gethostname()[:255],
        "recorded_at": timezone.now(),
    }


def record_signing_key() -> SigningKeyRecord:
    """Record this host's key as the site's (after a deliberate change of key)."""
    record, _created = SigningKeyRecord.objects.update_or_create(
        pk=_RECORD_PK, defaults=_this_key()
    )
    logger.warning(
        "the site's signing key is now this host's (%s): hosts with another SECRET_KEY are refused",
        record.recorded_by,
    )
    return record


def _recorded() -> SigningKeyRecord:
    """The site's record, made from this host's key when there is none yet."""
    record = SigningKeyRecord.objects.filter(pk=_RECORD_PK).first()
    if record is not None:
        return record
    try:
        with transaction.atomic():
            return SigningKeyRecord.objects.create(pk=_RECORD_PK, **_this_key())
    except IntegrityError:  # another host recorded its key first
        return SigningKeyRecord.objects.get(pk=_RECORD_PK)


def signing_key_problem() -> str | None:
    """Why this host's ``SECRET_KEY`` is not the site's, or None when it is (recording it when
    the site has none yet).

    Raises
    ------
    django.db.DatabaseError
        When the database cannot be asked: nothing is known then.
    """
    record = _recorded()
    if constant_time_compare(record.fingerprint, fingerprint(settings.SECRET_KEY)):
        return None
    if connection.vendor == "sqlite":
        logger.warning("SECRET_KEY changed since %s: recorded the new one", record.recorded_at)
        record_signing_key()
        return None
    return (
        f"{PUBLIC_PROBLEM} (recorded by host {record.recorded_by} on "
        f"{record.recorded_at:%Y-%m-%d %H:%M} UTC): tasks, sessions and links signed by one "
        "key are refused by the other. Give every host the same SECRET_KEY; after changing it "
        "on purpose, run 'manage.py record_signing_key' once on a host with the new key."
    )


def signing_key_refusal(command: str) -> str | None:
    """Why ``command`` must not take work in on this host, or None (also when the database
    cannot be asked: the command's own handling of that applies)."""
    try:
        problem = signing_key_problem()
    except DatabaseError:
        return None
    return f"{command} will not take work in: {problem}" if problem else None
