"""Whether a message's From domain was authenticated, read from the ``Authentication-Results``
header (RFC 8601) that the site's own MTA adds (Postfix with OpenDKIM, OpenDMARC and
policyd-spf: see ``deploy/postfix/README``).

Only headers whose authserv-id is the trusted one count: anyone can write an
``Authentication-Results`` header into a message, and the site's MTA must remove incoming
ones that carry its id (see ``deploy/postfix/README.md``). The results of every trusted
header are read together (the SPF policy server and each milter add their own), and a
failure outweighs a pass of the same kind, so a header slipped in by a sender can never
turn our MTA's failure into a pass. Pure: no Django, no network.

The verdict for the From domain:

- ``fail``: ``dmarc=fail``;
- ``pass``: else ``dmarc=pass``;
- ``fail``: else ``spf=fail`` for an envelope sender aligned with the From domain (the same,
  a parent or a child), or a failed DKIM signature of an aligned domain;
- ``pass``: else ``dkim=pass`` or ``spf=pass`` for an aligned domain;
- ``none``: no trusted header, or nothing said either way (neutral, softfail, none).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["pass", "fail", "none"]

#: At most this much of one header is read (a bound: the text comes from the sender too).
_MAX_CHARS = 4000
#: At most this many headers are read.
_MAX_HEADERS = 20
_RESULT = re.compile(r"\b(dmarc|dkim|spf)\s*=\s*([a-z]+)\b", re.IGNORECASE)
_PROPERTY = re.compile(r"\b(header\.d|header\.i|header\.from|smtp\.mailfrom)\s*=\s*([^\s;()]+)")


@dataclass(frozen=True)
class AuthCheck:
    """One result of a header: method (``spf``, ``dkim``, ``dmarc``), its result and the
    properties that name the domain it applies to."""

    method: str
    result: str
    domains: tuple[str, ...]


def _strip_comments(text: str) -> str:
    """RFC 5322 comments removed (not nested more than once: a bound, not a parser)."""
    return re.sub(r"\([^()]*\)", " ", text)


def auth_checks(value: str) -> tuple[str, list[AuthCheck]]:
    """The authserv-id and the results of one ``Authentication-Results`` value."""
    text = _strip_comments(value[:_MAX_CHARS])
    head, _, rest = text.partition(";")
    authserv_id = head.strip().split(" ")[0].lower() if head.strip() else ""
    checks = []
    for clause in rest.split(";"):
        found = _RESULT.search(clause)
        if found is None:
            continue
        domains = tuple(_domain_of(value.lower()) for _, value in _PROPERTY.findall(clause.lower()))
        checks.append(AuthCheck(found[1].lower(), found[2].lower(), domains))
    return authserv_id, checks


def _domain_of(value: str) -> str:
    return value.strip().strip('"').rpartition("@")[2].rstrip(".")


def _aligned(domain: str, from_domain: str) -> bool:
    """``domain`` is the From domain, a parent or a child of it (relaxed alignment). Without
    the public-suffix list a parent must hold a dot, so that no top-level domain aligns."""
    if not domain or not from_domain:
        return False
    if domain == from_domain:
        return True
    parent, child = sorted((domain, from_domain), key=len)
    return "." in parent and child.endswith("." + parent)


def from_domain_verdict(
    headers: Iterable[str], *, trusted_id: str, from_domain: str
) -> tuple[Verdict, str]:
    """The verdict for ``from_domain`` and the results it rests on, for the record."""
    trusted_id = trusted_id.strip().lower()
    from_domain = from_domain.strip().lower().rstrip(".")
    checks: list[AuthCheck] = []
    trusted = 0
    for value in list(headers)[:_MAX_HEADERS]:
        authserv_id, found = auth_checks(value)
        if authserv_id == trusted_id:
            trusted += 1
            checks.extend(found)
    if not trusted:
        return "none", f"no Authentication-Results header of {trusted_id}"
    said = ", ".join(f"{c.method}={c.result}" for c in checks) or "no results"
    return _verdict(checks, from_domain), f"{trusted_id}: {said}"


def _verdict(checks: list[AuthCheck], from_domain: str) -> Verdict:
    def said(method: str, result: str, *, aligned_only: bool) -> bool:
        return any(
            c.method == method
            and c.result == result
            and (not aligned_only or any(_aligned(d, from_domain) for d in c.domains))
            for c in checks
        )

    if said("dmarc", "fail", aligned_only=False):
        return "fail"
    if said("dmarc", "pass", aligned_only=False):
        return "pass"
    if said("spf", "fail", aligned_only=True) or said("dkim", "fail", aligned_only=True):
        return "fail"
    if said("spf", "pass", aligned_only=True) or said("dkim", "pass", aligned_only=True):
        return "pass"
    return "none"
