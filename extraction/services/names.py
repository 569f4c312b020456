"""Offline object-name resolution through OpenNGC (``pyongc``): NGC, IC, Messier, common names.

No network is ever used: ``pyongc`` ships OpenNGC as a read-only SQLite database. Catalogue
designations (``NGC 253``, ``ngc253``, ``IC 434``, ``M 31``, and the other catalogues pyongc
recognises: Caldwell, Melotte, UGC, PGC, ESO ...) go through ``pyongc``'s own parser; a name
that is no designation is looked up among OpenNGC's common names (``Andromeda Galaxy``,
``Orion Nebula``, ``Pleiades``), case- and space-insensitively.
"""

from __future__ import annotations

import math
import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import pyongc
from pyongc import ongc

#: Longest name we try to resolve; OpenNGC's longest common name is far shorter.
MAX_NAME_CHARS = 80


class NameNotFound(ValueError):
    """A name OpenNGC does not know, with the sentence the user reads."""


@dataclass(frozen=True)
class ResolvedName:
    """An object found in OpenNGC, position J2000 in degrees."""

    query: str
    name: str  # OpenNGC's main designation, e.g. NGC0224 for M 31
    ra_deg: float
    dec_deg: float
    object_type: str
    common_names: tuple[str, ...]
    messier: str  # "M31" or ""

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
            "source": "OpenNGC (pyongc, offline)",
        }


def _fold(text: str) -> str:
    """Compare names ignoring case, accents, spaces and punctuation."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]", "", plain.lower())


@lru_cache(maxsize=1)
def _common_names() -> dict[str, str]:
    """Folded common name -> OpenNGC main name (read once per process)."""
    query = "SELECT name, commonnames FROM objects WHERE commonnames != ''"
    with sqlite3.connect(f"file:{pyongc.DBPATH}?mode=ro", uri=True) as db:
        rows = list(db.execute(query))
    table: dict[str, str] = {}
    for name, common in rows:
        for one in str(common).split(","):
            if _fold(one):
                table.setdefault(_fold(one), str(name))
    return table


def _quotable(text: str) -> str:
    """The name as it can be quoted back: no control characters or lone surrogates."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _lookup(name: str) -> ongc.Dso | None:
    try:
        return ongc.get(name)
    except (TypeError, ValueError, sqlite3.Error):
        # pyongc raises only its own "not found"/"unknown identifier" for odd input, which
        # get() turns into None; anything else is still "not found" for the user.
        return None


def name_resolve(*, name: str) -> ResolvedName:
    """The J2000 position of a named object from OpenNGC.

    Raises
    ------
    NameNotFound
        For an empty or overlong name, a name OpenNGC does not know, or an object that has
        no position in OpenNGC.
    """
    text = " ".join(name.split())
    if not text:
        raise NameNotFound("give an object name, e.g. NGC 253, M 31 or Orion Nebula.")
    if len(text) > MAX_NAME_CHARS or "\x00" in text:
        raise NameNotFound(f"an object name has at most {MAX_NAME_CHARS} characters.")
    dso = _lookup(text)
    if dso is None:
        main = _common_names().get(_fold(text))
        dso = _lookup(main) if main else None
    if dso is None:
        raise NameNotFound(
            f"{_quotable(text)!r} is not in OpenNGC (NGC, IC, Messier and common names such as "
            "'Orion Nebula'); give the position instead."
        )
    coords = dso.rad_coords
    if coords is None or not all(math.isfinite(float(c)) for c in coords):
        raise NameNotFound(f"{_quotable(text)!r} ({dso.name}) has no position in OpenNGC.")
    identifiers = dso.identifiers
    messier = f"M{int(identifiers[0][1:])}" if identifiers[0] else ""  # "M042" -> "M42"
    common = tuple(identifiers[3] or ())
    return ResolvedName(
        query=text,
        name=dso.name,
        ra_deg=math.degrees(float(coords[0])) % 360.0,
        dec_deg=math.degrees(float(coords[1])),
        object_type=dso.type,
        common_names=common,
        messier=messier,
    )
