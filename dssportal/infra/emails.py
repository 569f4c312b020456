"""Every automatic mail of the portal: its text in ``templates/emails/``, sent by :func:`send`.

A mail named ``NAME`` is two plain-text templates, ``emails/NAME-subject.txt`` and
``emails/NAME-body-text.txt`` (as healthchecks keeps them): the code decides what to say
and passes the facts, the templates say it, so a change of wording touches templates only.

The templates are rendered with autoescape off (plain text: ``&`` stays ``&``), and, as
Jinja's ``trim_blocks`` does, a line that holds nothing but template tags or comments
leaves no line behind, so that ``{% if %}`` and ``{% for %}`` can stand on lines of their
own. Paragraphs are wrapped for a terminal mail client by ``{% fill %}`` (see
:mod:`dssportal.templatetags.mailformat`).

Whatever the context copied from a user's input, :func:`send` strips control and bidi
characters from subject and body once more (:func:`~extraction.text.safetext.quotable`),
so that no terminal escape, U+202E or NUL reaches a reader's mail client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.template import Context
from django.template.base import Origin
from django.template.loader import get_template
from django.template.loaders import filesystem

from extraction.text.safetext import quotable

__all__ = ["Loader", "Rendered", "render", "send"]

#: A line holding only template tags ({% %}) or comments ({# #}), and its newline.
_TAG_ONLY_LINE = re.compile(
    r"^[ \t]*(?:(?:\{%(?:[^%\n]|%(?!\}))*%\}|\{#(?:[^#\n]|#(?!\}))*#\})[ \t]*)+\n", re.MULTILINE
)


@dataclass(frozen=True)
class Rendered:
    """A mail's subject (one line) and body, ready to send."""

    subject: str
    body: str


class Loader(filesystem.Loader):
    """The filesystem loader, trimming tag-only lines from the templates under ``emails/``
    (listed in ``TEMPLATES`` before the app loader, so that ``{% include %}`` of a mail
    part is trimmed too)."""

    def get_contents(self, origin: Origin) -> str:
        contents = super().get_contents(origin)
        if str(origin.template_name).startswith("emails/"):
            return _TAG_ONLY_LINE.sub(lambda line: line.group(0).strip(), contents)
        return contents


def render(name: str, context: Mapping[str, Any]) -> Rendered:
    """Subject and body of the mail ``name`` with ``context`` (plain text, no escaping)."""
    values = {"settings": settings, **context}
    subject, body = (
        get_template(f"emails/{name}-{part}.txt").template.render(  # type: ignore[attr-defined]
            Context(values, autoescape=False)
        )
        for part in ("subject", "body-text")
    )
    return Rendered(
        subject=" ".join(quotable(subject).split()),
        body=quotable(body).rstrip() + "\n",
    )


def send(
    name: str,
    *,
    to: str,
    context: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
) -> Rendered:
    """Render the mail ``name`` and send it from ``DEFAULT_FROM_EMAIL`` to ``to``.

    ``headers`` are added as they are (the RFC 3834 ones of an automatic reply, threading).
    Returns what was sent.
    """
    rendered = render(name, context)
    EmailMessage(
        subject=rendered.subject,
        body=rendered.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers=dict(headers or {}),
    ).send()
    return rendered
