"""Every host of a site must sign with the same ``SECRET_KEY``: the task queue's messages,
sessions, CSRF tokens and confirmation links are signed with it.

A worker host with another key takes its share of tasks off the broker and drops each one
(django-q logs ``BadSignature`` and acknowledges it); a web host with another key enqueues
tasks no worker can read and signs sessions the other hosts refuse. Nothing else warns.

The first host to start records a fingerprint of its key in the database; every host after
it compares: ``qcluster`` refuses to start, ``/healthz`` answers 503. A deliberate change of
key is accepted from a host that still lists the recorded key in ``SECRET_KEY_FALLBACKS``
(Django's rotation setting), or recorded anew with ``manage.py record_signing_key``. With
``DEBUG`` on (one development machine, whose ``.env`` may be written anew) a new key is
recorded instead.
"""

from __future__ import annotations

import logging
import socket

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from dssportal.models import SigningKeyRecord

logger = logging.getLogger(__name__)

#: The one row of the record.
_RECORD_PK = 1


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
    the site has none yet)."""
    record = _recorded()
    if constant_time_compare(record.fingerprint, fingerprint(settings.SECRET_KEY)):
        return None
    fallbacks = getattr(settings, "SECRET_KEY_FALLBACKS", [])
    if any(constant_time_compare(record.fingerprint, fingerprint(old)) for old in fallbacks):
        record_signing_key()  # a deliberate change: this host knows the old key
        return None
    if settings.DEBUG:
        # Development: one machine, whose .env was written anew (make writes a random key).
        logger.warning("SECRET_KEY changed since %s: recorded the new one", record.recorded_at)
        record_signing_key()
        return None
    return (
        f"this host's SECRET_KEY is not the one the site's hosts share (recorded by host "
        f"{record.recorded_by} on {record.recorded_at:%Y-%m-%d %H:%M} UTC): tasks, sessions "
        "and links signed by one key are refused by the other. Give every host the same "
        "SECRET_KEY. If the key was changed on purpose, start once with the old key in "
        "SECRET_KEY_FALLBACKS, or run 'manage.py record_signing_key' on a host with the new one."
    )
