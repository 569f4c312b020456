"""Usernames that cannot pass for someone else's: one script per name, no lookalikes.

In the spirit of Unicode TS #39 ("highly restrictive"): the letters of a name come from one
script, except that Latin may be mixed with the Japanese scripts (Han, Hiragana, Katakana), as
Japanese names commonly are. A name entirely in Cyrillic or Greek letters that look like Latin
ones ("alice" written with a Cyrillic a is already refused as mixed) is compared with existing
names through :func:`latin_skeleton`. Names are NFKC-normalised before these checks, which
folds full-width and compatibility forms (full-width "alice" becomes "alice").

Which letters look alike is Unicode's confusables data (``confusables.txt`` of TS #39), as
the ``confusable_homoglyphs`` package ships it (a JSON file inside the package, read from
disk: nothing is fetched at run time), not a table of our own.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Any

from confusable_homoglyphs import confusables

#: Scripts that may appear together in one name (with or without Latin).
_JAPANESE = frozenset({"CJK", "HIRAGANA", "KATAKANA"})


def letter_script(char: str) -> str:
    """The script of a letter as the first word of its Unicode name (LATIN, CYRILLIC, ...)."""
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0] if name else "UNKNOWN"


def username_look_problem(username: str) -> str | None:
    """Why ``username`` could be mistaken for another name, or None when it cannot."""
    if unicodedata.normalize("NFKC", username) != username:
        return "write it without compatibility characters (full-width letters, ligatures)."
    scripts = {letter_script(c) for c in username if c.isalpha()}
    if "UNKNOWN" in scripts:
        return "it contains characters that have no name in Unicode."
    if len(scripts) > 1 and not (scripts - {"LATIN"}) <= _JAPANESE:
        mixed = " and ".join(sorted(s.title() for s in scripts))
        return f"it mixes {mixed} letters; use the letters of one script."
    return None


@functools.cache
def latin_lookalike(char: str) -> str:
    """The ASCII letter or digit (lower case) that ``char`` can be confused with, by
    Unicode's confusables data; ``char`` itself when it looks like none.

    Unicode maps a lower-case letter to the glyph it is drawn like, which is sometimes a
    small capital (Cyrillic small ve, U+0432, is a small capital B); its capital maps to the
    ASCII capital (U+0412 is B). Usernames compare ignoring case, so either form counts.
    """
    if char.isascii():
        return char.lower()
    for form in dict.fromkeys((char, char.upper(), char.lower())):
        found: list[dict[str, Any]] | bool = len(form) == 1 and confusables.is_confusable(form)
        for glyph in found[0]["homoglyphs"] if isinstance(found, list) else ():
            text: str = glyph["c"]
            if len(text) == 1 and text.isascii() and text.isalnum():
                return text.lower()
    return char


def latin_skeleton(username: str) -> str:
    """``username`` case-folded, each letter that looks like an ASCII letter or digit
    replaced by it (Unicode confusables data)."""
    return "".join(latin_lookalike(c) for c in username.casefold())
