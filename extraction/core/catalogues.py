"""Object names to positions, offline first: OpenNGC, then named bright stars; and the reading
of CDS Sesame's answers for the online step. Pure Python, no Django, no network here except in
:func:`sesame_fetch`, which the services call only when the site allows it.

Offline catalogues, each shipped in a maintained package (nothing is downloaded):

- OpenNGC (``pyongc``): NGC, IC, Messier and the catalogues OpenNGC cross-identifies (PGC, UGC,
  ESO, Caldwell, Melotte ...), and OpenNGC's common names, matched as typed
  (``Sombrero Galaxy``), by their leading words (``Sombrero``, ``Crab``) and by their initials
  (``LMC``) when exactly one object answers.
- The named bright stars of PyEphem (``ephem.stars``: Vega, Betelgeuse, Polaris ...; J2000
  positions from Hipparcos).

Positions are ICRS/J2000 degrees.
"""

from __future__ import annotations

import math
import re
import sqlite3
import unicodedata
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

import ephem
import ephem.stars
import pyongc
from pyongc import ongc

OPENNGC = "OpenNGC (offline)"
BRIGHT_STARS = "named bright stars (PyEphem, offline)"
SESAME = "CDS Sesame (on-line)"


@dataclass(frozen=True)
class ResolvedName:
    """An object found by name, position J2000 (ICRS) in degrees, and who found it."""

    query: str
    name: str  # the catalogue's main designation, e.g. NGC0224 for M 31
    ra_deg: float
    dec_deg: float
    object_type: str
    common_names: tuple[str, ...] = ()
    messier: str = ""  # "M31" or ""
    source: str = OPENNGC

    def as_json(self) -> dict[str, object]:
        return {
            "query": self.query,
            "name": self.name,
            "ra_deg": self.ra_deg,
            "dec_deg": self.dec_deg,
            "frame": "ICRS/J2000",
            "type": self.object_type,
            "common_names": list(self.common_names),
            "messier": self.messier,
            "source": self.source,
        }


def fold(text: str) -> str:
    """Compare names ignoring case, accents, spaces and punctuation."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]", "", plain.lower())


# -- OpenNGC ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _CommonNames:
    exact: dict[str, str]  # folded common name -> main name
    leading: dict[str, set[str]]  # folded leading words -> main names
    initials: dict[str, set[str]]  # folded initials of a name of 2+ words -> main names


@lru_cache(maxsize=1)
def _common_names() -> _CommonNames:
    """OpenNGC's common names, read once per process."""
    query = "SELECT name, commonnames FROM objects WHERE commonnames != ''"
    with sqlite3.connect(f"file:{pyongc.DBPATH}?mode=ro", uri=True) as db:
        rows = list(db.execute(query))
    exact: dict[str, str] = {}
    leading: dict[str, set[str]] = defaultdict(set)
    initials: dict[str, set[str]] = defaultdict(set)
    for main, names in rows:
        for one in str(names).split(","):
            words = [w for w in re.split(r"[\s\-]+", one) if fold(w)]
            if not words:
                continue
            exact.setdefault(fold(one), str(main))
            for n in range(1, len(words)):
                leading[fold(" ".join(words[:n]))].add(str(main))
            if len(words) >= 2:
                initials[fold("".join(w[0] for w in words))].add(str(main))
    return _CommonNames(exact, dict(leading), dict(initials))


def _openngc_object(text: str) -> ongc.Dso | None:
    try:
        return ongc.get(text)
    except (TypeError, ValueError, sqlite3.Error):
        # pyongc raises its own "not found"/"unknown identifier" for odd input: not found.
        return None


def _only(candidates: set[str] | None) -> str | None:
    return next(iter(candidates)) if candidates and len(candidates) == 1 else None


def openngc_resolve(text: str) -> ResolvedName | None:
    """A designation pyongc parses, or a common name of exactly one OpenNGC object."""
    dso = _openngc_object(text)
    if dso is None:
        names = _common_names()
        key = fold(text)
        main = (
            names.exact.get(key)
            or _only(names.leading.get(key))
            or (_only(names.initials.get(key)) if 2 <= len(key) <= 5 else None)
        )
        dso = _openngc_object(main) if main else None
    if dso is None:
        return None
    coords = dso.rad_coords
    if coords is None or not all(math.isfinite(float(c)) for c in coords):
        return None
    identifiers = dso.identifiers
    return ResolvedName(
        query=text,
        name=dso.name,
        ra_deg=math.degrees(float(coords[0])) % 360.0,
        dec_deg=math.degrees(float(coords[1])),
        object_type=dso.type,
        common_names=tuple(identifiers[3] or ()),
        messier=f"M{int(identifiers[0][1:])}" if identifiers[0] else "",  # "M042" -> "M42"
    )


def openngc_ambiguous(text: str) -> list[str]:
    """The OpenNGC objects a common name's leading words fit when there are several
    (``Orion``: NGC1976, IC0434), for a "which one?" answer."""
    return sorted(_common_names().leading.get(fold(text), set()))


# -- Named bright stars ------------------------------------------------------------------


@lru_cache(maxsize=1)
def _stars() -> dict[str, str]:
    """Folded star name -> PyEphem's name."""
    return {fold(name): name for name in ephem.stars.stars}


def star_resolve(text: str) -> ResolvedName | None:
    """A named bright star (``Vega``, ``Betelgeuse``), J2000 from PyEphem's catalogue."""
    name = _stars().get(fold(text))
    if name is None:
        return None
    star = ephem.stars.stars[name]
    return ResolvedName(
        query=text,
        name=name,
        ra_deg=math.degrees(float(star._ra)) % 360.0,
        dec_deg=math.degrees(float(star._dec)),
        object_type="star",
        source=BRIGHT_STARS,
    )


def offline_resolve(text: str) -> ResolvedName | None:
    """The first offline catalogue that knows the name, or None."""
    return openngc_resolve(text) or star_resolve(text)


# -- CDS Sesame ---------------------------------------------------------------------------


class ResolverUnavailable(Exception):
    """The on-line resolver did not answer (network, time-out, an answer we cannot read)."""


def sesame_url(base_url: str, name: str) -> str:
    """``<base>/-ox/SNV?<name>``: XML answer, Simbad then NED then VizieR."""
    return f"{base_url.rstrip('/')}/-ox/SNV?{urllib.parse.quote(name)}"


def sesame_parse(xml: bytes, query: str) -> ResolvedName | None:
    """The first resolver of a Sesame XML answer that gave a position, or None.

    The answer is ``<Sesame><Target><Resolver name=...><otype/><jradeg/><jdedeg/><oname/>``
    (CDS's documented ``-ox`` format); a resolver that found nothing has only ``<INFO>``.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ResolverUnavailable(f"Sesame's answer is not XML ({exc})") from None
    for resolver in root.iter("Resolver"):
        ra, dec = resolver.findtext("jradeg"), resolver.findtext("jdedeg")
        if not ra or not dec:
            continue
        try:
            ra_deg, dec_deg = float(ra), float(dec)
        except ValueError:
            continue
        if not (math.isfinite(ra_deg) and math.isfinite(dec_deg) and abs(dec_deg) <= 90):
            continue
        where = (resolver.get("name") or "").split("=", 1)[-1].split("(")[0].strip()
        return ResolvedName(
            query=query,
            name=(resolver.findtext("oname") or query).strip(),
            ra_deg=ra_deg % 360.0,
            dec_deg=dec_deg,
            object_type=(resolver.findtext("otype") or "").strip(),
            source=f"{SESAME}{f', {where}' if where else ''}",
        )
    return None


#: Largest Sesame answer read: a few kB are normal.
_SESAME_MAX_BYTES = 200_000


def sesame_fetch(name: str, *, base_url: str, timeout_s: float) -> ResolvedName | None:
    """Ask Sesame; None when it knows no position for the name.

    Raises
    ------
    ResolverUnavailable
        When Sesame cannot be reached in ``timeout_s`` or answers something else than XML.
    """
    request = urllib.request.Request(
        sesame_url(base_url, name), headers={"User-Agent": "dssportal name resolver"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            body = answer.read(_SESAME_MAX_BYTES + 1)
    except (OSError, ValueError) as exc:
        raise ResolverUnavailable(f"Sesame did not answer ({exc})") from None
    if len(body) > _SESAME_MAX_BYTES:
        raise ResolverUnavailable("Sesame's answer is too long")
    return sesame_parse(body, name)
