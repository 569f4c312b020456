"""Object names to positions: the offline catalogues first (OpenNGC, named bright stars:
``extraction.core.catalogues``), then CDS Sesame over HTTPS when the site allows it
(``DSSPORTAL_RESOLVER_ONLINE=1``), with a short time-out and a cache table so that a name is
asked on-line once (answers kept ``DSSPORTAL_RESOLVER_CACHE_DAYS``, "not found" a day).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from extraction.core.catalogues import (
    ResolvedName,
    ResolverUnavailable,
    fold,
    offline_resolve,
    openngc_ambiguous,
    sesame_fetch,
)
from extraction.models import ResolvedNameCache

log = logging.getLogger(__name__)

#: Longest name we try to resolve; OpenNGC's longest common name is far shorter.
MAX_NAME_CHARS = 80
#: How long "Sesame knows no such name" is believed before asking again.
_NOT_FOUND_KEPT = timedelta(days=1)


class NameNotFound(ValueError):
    """A name no resolver knows, with the sentence the user reads; ``status`` the HTTP
    status a web caller answers with."""

    status = 404


class NameInvalid(NameNotFound):
    """Not a name to look up at all (empty, overlong, a NUL): a usage error."""

    status = 400


def _quotable(text: str) -> str:
    """The name as it can be quoted back: no control characters or lone surrogates."""
    return "".join(c if c.isprintable() else "?" for c in text)


def name_resolve(*, name: str) -> ResolvedName:
    """The J2000 position of a named object, and which resolver gave it.

    Raises
    ------
    NameInvalid
        For an empty or overlong name, or one holding a NUL.
    NameNotFound
        For a name no resolver knows (saying which were asked).
    """
    text = " ".join(name.split())
    if not text:
        raise NameInvalid("give an object name, e.g. NGC 253, M 31, Vega or Orion Nebula.")
    if len(text) > MAX_NAME_CHARS:
        raise NameInvalid(f"an object name has at most {MAX_NAME_CHARS} characters.")
    if "\x00" in text:
        raise NameInvalid("an object name cannot hold a NUL character.")
    found = offline_resolve(text)
    if found is not None:
        return found
    ambiguous = openngc_ambiguous(text)
    if ambiguous:
        raise NameNotFound(
            f"{_quotable(text)!r} names several objects in OpenNGC ({', '.join(ambiguous)}); "
            "give the whole name (e.g. 'Orion Nebula') or a designation."
        )
    online = settings.DSSPORTAL_RESOLVER_ONLINE
    if online:
        found = _sesame_cached(text)
        if found is not None:
            return found
    asked = "OpenNGC, the named bright stars" + (" and CDS Sesame" if online else "")
    raise NameNotFound(
        f"{_quotable(text)!r} is not known to {asked} (NGC, IC, Messier, PGC, UGC, common "
        "names such as 'Orion Nebula', bright stars such as 'Vega'); give the position instead."
    )


def _sesame_cached(text: str) -> ResolvedName | None:
    """Sesame's answer for a name, from the cache table when it is fresh enough."""
    key = fold(text)[:200]
    now = timezone.now()
    cached = ResolvedNameCache.objects.filter(key=key).first()
    if cached is not None and cached.fresh(now):
        return cached.resolved(text)
    try:
        found = sesame_fetch(
            text,
            base_url=settings.DSSPORTAL_RESOLVER_SESAME_URL,
            timeout_s=settings.DSSPORTAL_RESOLVER_TIMEOUT_S,
        )
    except ResolverUnavailable as exc:
        log.warning("name resolver: %s", exc)
        if cached is not None and cached.found:
            return cached.resolved(text)  # stale beats nothing while Sesame is away
        raise NameNotFound(
            f"{_quotable(text)!r} is not in the offline catalogues, and the on-line resolver "
            "(CDS Sesame) did not answer; try again later or give the position."
        ) from None
    keep = timedelta(days=settings.DSSPORTAL_RESOLVER_CACHE_DAYS) if found else _NOT_FOUND_KEPT
    ResolvedNameCache.store(key=key, resolved=found, expires_at=now + keep)
    return found
