"""Template tags of the plain-text mails in ``templates/emails/``.

``{% fill %}...{% endfill %}`` wraps a paragraph for a terminal mail client;
``printable``, ``g``, ``utc``, ``day`` and ``human_bytes`` (the pages' filter, so that
mails and pages write sizes alike) format what a mail quotes.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from typing import Any

from django import template
from django.template.base import FilterExpression, NodeList, Parser, Token
from django.utils import timezone

from extraction.text.safetext import printable as _printable
from extraction.text.textformat import human_bytes

register = template.Library()
register.filter("human_bytes", human_bytes)

#: Columns of a mail line, as a terminal mail client shows them.
WIDTH = 72


def fill_text(
    text: str, *, width: int = WIDTH, indent: int = 0, subsequent: int | None = None
) -> str:
    """``text`` as one paragraph (line ends and the blanks around them become one blank),
    wrapped to ``width`` columns; long words (addresses, names) are never cut."""
    # Not re.sub(r"\s*\n\s*"): on a long run of blanks without a line end that retries
    # the run from each of its characters (quadratic time).
    paragraph = " ".join(filter(None, (line.strip() for line in text.strip().split("\n"))))
    return textwrap.fill(
        paragraph,
        width=width,
        initial_indent=" " * indent,
        subsequent_indent=" " * (indent if subsequent is None else subsequent),
        break_long_words=False,
        break_on_hyphens=False,
    )


class FillNode(template.Node):
    def __init__(self, nodelist: NodeList, options: dict[str, FilterExpression]) -> None:
        self.nodelist = nodelist
        self.options = options

    def render(self, context: template.Context) -> str:
        options = {key: int(value.resolve(context)) for key, value in self.options.items()}
        text = self.nodelist.render(context)
        if not text.strip():
            return ""
        # A block whose {% endfill %} stands on a line of its own keeps its line end.
        return fill_text(text, **options) + ("\n" if text.endswith("\n") else "")


@register.tag
def fill(parser: Parser, token: Token) -> FillNode:
    """``{% fill indent=2 subsequent=6 width=76 %} a paragraph {% endfill %}``: the
    paragraph with its blanks collapsed, wrapped (72 columns unless told)."""
    options = {}
    for bit in token.split_contents()[1:]:
        key, _, value = bit.partition("=")
        if key not in ("width", "indent", "subsequent") or not value:
            raise template.TemplateSyntaxError(f"fill: unknown option {bit!r}")
        options[key] = parser.compile_filter(value)
    nodelist = parser.parse(("endfill",))
    parser.delete_first_token()
    return FillNode(nodelist, options)


@register.filter
def printable(text: Any, limit: int = 200) -> str:
    """A user's text fit to quote: control and bidi characters removed, blanks collapsed,
    cut short."""
    return _printable(str(text), int(limit))


@register.filter
def g(number: float) -> str:
    """A number as ``:g`` writes it: ``10``, ``7.5``."""
    return f"{float(number):g}"


@register.filter
def utc(moment: datetime | None) -> str:
    """``2026-11-24 09:30 UTC``."""
    return "" if moment is None else f"{timezone.localtime(moment, UTC):%Y-%m-%d %H:%M} UTC"


@register.filter
def day(moment: datetime | None) -> str:
    """``2026-11-24`` (UTC)."""
    return "" if moment is None else f"{timezone.localtime(moment, UTC):%Y-%m-%d}"
