"""Names of things users see on disk: output file stems and staging directories.

Output files are ``<stem><suffix>`` with suffixes ``.fits``, ``.fits.gz``, ``.fits.bz2``,
``.fits.xz`` (images) and ``.plates.txt`` (mode n). Stems never start with ``-`` or ``.``
and are unique within a request ignoring case; since every suffix is fixed by the field's
kind and no image suffix ends another, distinct stems give distinct names within a
staging directory, on case-sensitive and case-insensitive clients alike.

Pure Python; no Django. The staging-directory name is part of the user contract (FTP paths,
deletion lists), so its pattern lives here, in one place.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import date

#: ``dss-YYYYMMDD-`` followed by 13 base32 characters (65 random bits): unguessable, but short
#: enough to type into a deletion mail. Lower case only, so that case-folding mail clients and
#: FTP clients cannot turn one name into another.
STAGING_NAME_RE = re.compile(r"^dss-([0-9]{8})-([a-z2-7]{13})$")

_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"

#: What a PLATE-ID may look like (upper case): 2-6 letters or digits (``04IN``, ``0025``) ...
PLATE_ID_RE = re.compile(r"[A-Z0-9]{2,6}")
#: ... but not the shape of a REGION-ID (survey field: one or two letters, three digits), which
#: a request list reads as a region. The same rule at import and in lists, so that every
#: plate in the catalogue can be named.
REGION_ID_RE = re.compile(r"[A-Z]{1,2}[0-9]{3}")


def plate_id_problem(plate_id: str) -> str | None:
    """Why a request list could not name this plate id, or None when it can."""
    upper = plate_id.upper()
    if not upper.isascii() or not PLATE_ID_RE.fullmatch(upper):
        return "a PLATE-ID is 2-6 letters and digits (e.g. 04IN or 0025)"
    if REGION_ID_RE.fullmatch(upper):
        return (
            "it has the shape of a REGION-ID (one or two letters and three digits), which "
            "request lists read as a survey field, so no list could name this plate"
        )
    return None


def staging_name_new(*, created: date) -> str:
    """Return a fresh staging-directory name for a directory created on ``created``."""
    suffix = "".join(secrets.choice(_BASE32) for _ in range(13))
    return f"dss-{created:%Y%m%d}-{suffix}"


def is_staging_name(name: str) -> bool:
    """Whether ``name`` matches the staging-directory pattern exactly (no paths, no globs)."""
    return STAGING_NAME_RE.fullmatch(name) is not None


# -- Output file names ---------------------------------------------------------------------

_STEM_BAD_CHAR_RE = re.compile(r"[^A-Za-z0-9._+-]")


def file_stem(identifier: str) -> str:
    """The file stem of one identifier, before it is made unique within its request.

    Characters outside ``A-Za-z0-9._+-`` become ``_``; a leading ``-`` or ``.`` becomes ``_``,
    so that no output is a hidden file or reads as a command-line option (``-rf.fits.gz``).
    """
    stem = _STEM_BAD_CHAR_RE.sub("_", identifier) or "_"
    if stem[0] in "-.":
        stem = "_" + stem[1:]
    return stem


def file_stems_unique(stems: Sequence[str]) -> list[str]:
    """Make stems unique within one directory, ignoring case (``A`` and ``a`` would collide
    on a case-insensitive client): a repeated stem gets ``_2``, ``_3`` ..., never a stem that
    another entry asks for (``a``, ``A``, ``a_2`` -> ``a``, ``A_3``, ``a_2``)."""
    wanted = {s.lower() for s in stems}
    used: set[str] = set()
    next_suffix: dict[str, int] = {}
    unique = []
    for stem in stems:
        key = stem.lower()
        if key in used:
            k = next_suffix.get(key, 2)
            while f"{key}_{k}" in wanted or f"{key}_{k}" in used:
                k += 1
            next_suffix[key] = k + 1
            stem = f"{stem}_{k}"
            key = stem.lower()
        used.add(key)
        unique.append(stem)
    return unique
