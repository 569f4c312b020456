"""Usernames that cannot pass for someone else's: one script per name, no lookalikes.

In the spirit of Unicode TS #39 ("highly restrictive"): the letters of a name come from one
script, except that Latin may be mixed with the Japanese scripts (Han, Hiragana, Katakana), as
Japanese names commonly are. A name entirely in Cyrillic or Greek letters that look like Latin
ones ("alice" written with a Cyrillic a is already refused as mixed) is compared with existing
names through :func:`latin_skeleton`. Names are NFKC-normalised before these checks, which
folds full-width and compatibility forms (full-width "alice" becomes "alice").
"""

from __future__ import annotations

import unicodedata

#: Scripts that may appear together in one name (with or without Latin).
_JAPANESE = frozenset({"CJK", "HIRAGANA", "KATAKANA"})

#: Cyrillic and Greek letters (after case folding) that look like a Latin letter.
_LATIN_LOOKALIKES = str.maketrans(
    {
        # Cyrillic
        "\u0430": "a", "\u0432": "b", "\u0435": "e", "\u04bb": "h", "\u043d": "h",
        "\u0456": "i", "\u0458": "j", "\u043a": "k", "\u04cf": "l", "\u043c": "m",
        "\u043e": "o", "\u0440": "p", "\u051b": "q", "\u0455": "s", "\u0442": "t",
        "\u0443": "y", "\u051d": "w", "\u0445": "x", "\u0441": "c", "\u0501": "d",
        "\u044c": "b", "\u043f": "n",
        # Greek
        "\u03b1": "a", "\u03b2": "b", "\u03b5": "e", "\u03b6": "z", "\u03b7": "n",
        "\u03b9": "i", "\u03ba": "k", "\u03bc": "u", "\u03bd": "v", "\u03bf": "o",
        "\u03c1": "p", "\u03c4": "t", "\u03c5": "u", "\u03c7": "x", "\u03f2": "c",
    }
)  # fmt: skip


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


def latin_skeleton(username: str) -> str:
    """``username`` case-folded with Cyrillic and Greek lookalikes replaced by Latin letters."""
    return username.casefold().translate(_LATIN_LOOKALIKES)
