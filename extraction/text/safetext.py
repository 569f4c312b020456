"""Text from outside made safe to store, to quote back, and to list within bounds.

Pure Python; no Django. Every entry point (mail, web form, API) receives text nobody
checked: it may hold NUL (PostgreSQL refuses it in ``text`` and ``jsonb``), lone surrogates
(a UTF-7 or ``unicode_escape`` decoding, or raw 8-bit headers read with
``surrogateescape``: no database or mail encoder accepts them), terminal escapes and
bidirectional overrides (an identifier that rewrites the reader's terminal, or shows
``exe.txt`` for ``txt.exe``), and any number of lines. The helpers here are the one place
where that is decided:

- :func:`storable`: text any database column accepts (NUL and lone surrogates become
  U+FFFD, so that something visibly stood there); :func:`storable_data` does the same
  through a JSON value.
- :func:`quotable`: text fit to copy into a reply or a page: control characters (C0 but
  tab and newline, DEL, C1), bidirectional controls, line/paragraph separators and NUL
  removed; lone surrogates replaced.
- :func:`listing`: at most ``limit`` items of a sequence, and how many were left out: the
  bound on rejected lines quoted in a receipt, shown on a page, or returned by the API.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

__all__ = [
    "Listing",
    "clip",
    "listing",
    "printable",
    "quotable",
    "storable",
    "storable_data",
]

T = TypeVar("T")

REPLACEMENT: Final = "\ufffd"
_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")
_SURROGATES: Final = re.compile("[\ud800-\udfff]")
#: C0 controls but tab and newline, DEL and C1, the Arabic letter mark, LRM/RLM, the bidi
#: embeddings/overrides and isolates, and the Unicode line and paragraph separators.
_UNQUOTABLE: Final = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]"
)


def storable(text: str) -> str:
    """``text`` as any database column stores it: NUL and lone surrogates -> U+FFFD.

    >>> storable("a\\x00b\\ud800")
    'a\\ufffdb\\ufffd'
    """
    return _UNSTORABLE.sub(REPLACEMENT, text)


def storable_data(value: object) -> object:
    """A JSON value (dicts, lists, strings, numbers) with every string :func:`storable`."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(k)): storable_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable_data(v) for v in value]
    return value


def quotable(text: str) -> str:
    """``text`` fit to copy into a reply: control and bidi characters removed.

    Tab and newline are kept (they are the layout of a body); everything that can move a
    terminal's cursor, change its colours, reorder the text shown (U+202E) or end a string
    early (NUL) is dropped; lone surrogates become U+FFFD.

    >>> quotable("red\\x1b[31m\\u202eexe.txt\\x00")
    'red[31mexe.txt'
    """
    return _UNQUOTABLE.sub("", _SURROGATES.sub(REPLACEMENT, text))


def printable(text: str, limit: int = 200) -> str:
    """A user's text fit to quote on one line: :func:`quotable`, blanks collapsed, cut to
    ``limit`` characters."""
    return clip(" ".join(quotable(text).split()), limit)


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "\u2026"


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """The first items of a sequence and how many there were in all.

    Attributes
    ----------
    shown : tuple
        At most the ``limit`` asked for, in order.
    total : int
        How many items there were (at least ``len(shown)``).
    """

    shown: tuple[T, ...]
    total: int

    @property
    def more(self) -> int:
        """How many items are not shown."""
        return self.total - len(self.shown)


def listing(items: Sequence[T], *, limit: int, total: int | None = None) -> Listing[T]:
    """At most ``limit`` of ``items``, with the count of the rest.

    ``total`` is the true count when ``items`` is itself already cut (a stored list that
    keeps only the first entries); it defaults to ``len(items)``.

    >>> listing([1, 2, 3], limit=2).more
    1
    """
    shown = tuple(items[: max(0, limit)])
    return Listing(shown=shown, total=max(len(items) if total is None else total, len(shown)))
