"""Names of things users see on disk: output file stems and staging directories.

Pure Python; no Django. The staging-directory name is part of the user contract (FTP paths,
deletion lists), so its pattern lives here, in one place.
"""

from __future__ import annotations

import re
import secrets
from datetime import date

#: ``dss-YYYYMMDD-`` followed by 13 base32 characters (65 random bits): unguessable, but short
#: enough to type into a deletion mail. Lower case only, so that case-folding mail clients and
#: FTP clients cannot turn one name into another.
STAGING_NAME_RE = re.compile(r"^dss-([0-9]{8})-([a-z2-7]{13})$")

_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


def staging_name_new(*, created: date) -> str:
    """Return a fresh staging-directory name for a directory created on ``created``."""
    suffix = "".join(secrets.choice(_BASE32) for _ in range(13))
    return f"dss-{created:%Y%m%d}-{suffix}"


def is_staging_name(name: str) -> bool:
    """Whether ``name`` matches the staging-directory pattern exactly (no paths, no globs)."""
    return STAGING_NAME_RE.fullmatch(name) is not None
