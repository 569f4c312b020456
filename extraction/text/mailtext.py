"""Reading mail as people send it: headers, routing, and the text of the list.

Pure Python (the standard library's ``email`` package, and a linear HTML scanner); no Django. The
mail gate (:mod:`extraction.mail.gate`) calls these helpers and decides what to do; this
module only answers "what does this message say, who sent it, to which address, and was it
written by a person".

Decisions
---------
- **Which text is the list.** The message body is the first text/plain part that is not an
  attachment (in ``multipart/alternative`` the text/plain alternative; a text/html body,
  converted to text, only when there is no text/plain one). Inline text/plain parts of a
  ``multipart/mixed`` message are joined in order. Forwarded messages
  (``message/rfc822``) are never read. Text attachments (text/plain, or a ``.txt``,
  ``.lst``, ``.list`` or ``.dat`` file of any type, never HTML) are offered as alternatives;
  which one is used is decided by :func:`choose_text` from what each holds.
- **Charsets.** The declared charset first, then its common supersets (Shift_JIS ->
  CP932, EUC-JP -> EUC-JIS-2004, ISO-2022-JP -> its extensions, ISO-8859-1 -> CP1252 as
  WHATWG does), then UTF-8, then the declared charset with replacement characters. No
  charset, ``us-ascii`` holding 8-bit bytes, an unknown label, or a codec that is no
  MIME charset (``zlib``, ``base64``, ``rot13``, ``idna``, ``punycode``, ``undefined``,
  ``unicode_escape`` ...): UTF-8, then Latin-1 (which cannot fail). A byte-order mark
  selects UTF-16 or UTF-8. Decoded text never holds a lone surrogate (UTF-7 can make
  one): it becomes U+FFFD, in bodies, headers and file names alike.
- **Bounded work.** Python's parser and header decoders cost more than linear time on
  some shapes: more than :data:`MAX_MIME_PARTS` multipart/message parts or a MIME
  parameter header longer than :data:`MAX_MIME_HEADER_BYTES` is refused before parsing
  (:func:`structure_problem`); at most :data:`MAX_HEADER_VALUES` values of
  :data:`MAX_HEADER_CHARS` characters of a header are read. HTML bodies are read by a
  one-pass scanner of our own: Python's ``html.parser`` takes quadratic time on runs of
  ``<a`` or ``</`` (and raises on ``<![``).
- **format=flowed** (RFC 3676) is undone before anything else reads the lines: a line
  ending in a space continues on the next line of the same quote depth (the space removed
  too when ``DelSp=yes``), space-stuffing is removed, and ``-- `` stays a signature line.
  Without this a long request line wrapped by Thunderbird would arrive as two bad lines.
- **Quoted text.** Lines whose first non-blank character is ``>`` are a reply's quotation
  of an earlier message, not a request: they are blanked (not removed), so that the line
  numbers of the receipt still match the message as the sender sees it. The attribution
  line just above a quotation ("On ... X wrote:") is blanked with it, and everything from an
  Outlook ``-----Original Message-----`` separator on is dropped.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.header import decode_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from html import unescape
from typing import Final, Literal

from extraction.text.safetext import quotable, storable

__all__ = [
    "MailBody",
    "TextPart",
    "automation_reason",
    "blank_quoted_lines",
    "choose_text",
    "decode_text",
    "header_text",
    "html_to_text",
    "kind_from_headers",
    "mail_body",
    "message_id_of",
    "parse_headers_only",
    "references_of",
    "sender_address",
    "sent_date",
    "structure_problem",
    "synthetic_message_id",
    "unflow",
]

Kind = Literal["request", "delete", "ambiguous", "unroutable"]

#: Headers an MTA writes with the envelope recipient of this copy: the most reliable guide
#: to which of our addresses the message was delivered to.
ENVELOPE_HEADERS: Final = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")
#: Headers the sender wrote; used when no envelope header names one of our addresses.
ADDRESS_HEADERS: Final = ("To", "Cc")

_CHARSET_ALIASES: Final[dict[str, str]] = {
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-euc-jp": "euc_jp",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "",  # declared ASCII that holds 8-bit bytes: guess as if undeclared
    "ascii": "",
    "unknown-8bit": "",
    "x-unknown": "",
}
_SUPERSETS: Final[dict[str, tuple[str, ...]]] = {
    "cp932": ("shift_jis_2004",),
    "euc_jp": ("euc_jis_2004", "cp932"),
    "iso2022_jp": ("iso2022_jp_ext", "iso2022_jp_2", "iso2022_jp_3"),
    "cp1252": ("latin-1",),
}
#: Codecs Python knows that are no MIME charset of a text: the message's bytes are read
#: as undeclared rather than fed to them (they raise, or invent text from escapes).
_NOT_MIME_CHARSETS: Final = frozenset(
    {"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape"}
)
#: The most multipart and message parts read in one message, and the deepest nesting:
#: beyond them the message's structure is refused before Python's parser recurses into it.
MAX_MIME_PARTS: Final = 100
MAX_MIME_DEPTH: Final = 16
MAX_HEADER_VALUES: Final = 50
MAX_HEADER_CHARS: Final = 16_000
MAX_MIME_HEADER_BYTES: Final = 4000
#: An address header with more "(" than this holds no address: Python's address parser
#: recurses once per nested comment and raised RecursionError on 16 kB of "(".
MAX_ADDRESS_COMMENTS: Final = 50
_MIME_HEADER_RE: Final = re.compile(
    rb"^content-(?:type|disposition):[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*",
    re.IGNORECASE | re.MULTILINE,
)
_CONTAINER_TYPE_RE: Final = re.compile(
    rb"^content-type:\s*(?:multipart|message)/", re.IGNORECASE | re.MULTILINE
)
_LIST_FILE_SUFFIXES: Final = (".txt", ".lst", ".list", ".dat")
_SURROGATE_RE: Final = re.compile("[\ud800-\udfff]")
_ORIGINAL_MESSAGE_RE: Final = re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$", re.I)
_ATTRIBUTION_END: Final = (":", "\uff1a")  # ASCII and full-width colon


# --------------------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------------------


def structure_problem(raw: bytes) -> str | None:
    """Why the MIME structure of ``raw`` is not read, or None when it may be parsed.

    Python's parser recurses once per nested part and spends seconds before it gives up
    on thousands of them; a message holding more than :data:`MAX_MIME_PARTS` multipart or
    message parts is refused from a count of their Content-Type headers, which costs one
    scan of the bytes. (Deeper nesting in fewer parts is cut at :data:`MAX_MIME_DEPTH`.)
    """
    containers = len(_CONTAINER_TYPE_RE.findall(raw))
    if containers > MAX_MIME_PARTS:
        return f"it has {containers} nested or multipart parts; at most {MAX_MIME_PARTS} are read"
    # Parameters (boundary, charset, filename) are parsed in quadratic time: 1 MB of
    # "; a=b" in one Content-Type took 90 s.
    longest = max((len(m) for m in _MIME_HEADER_RE.findall(raw)), default=0)
    if longest > MAX_MIME_HEADER_BYTES:
        return (
            f"a Content-Type or Content-Disposition header has {longest} bytes; at most "
            f"{MAX_MIME_HEADER_BYTES} are read"
        )
    return None


def parse_headers_only(raw: bytes) -> Message:
    """The header block of ``raw`` as a message with no body: cheap for huge messages."""
    end = _header_end(raw)
    return BytesHeaderParser(policy=compat32).parsebytes(raw[:end])


def _header_end(raw: bytes) -> int:
    positions = [p for p in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if p >= 0]
    return min(positions) + 2 if positions else len(raw)


def header_text(message: Message, name: str) -> str:
    """A header decoded for display (RFC 2047 words and raw 8-bit bytes both handled)."""
    values = _header_values(message, name)
    if not values:
        return ""
    try:
        pieces = decode_header(values[0])
        text = "".join(
            piece if isinstance(piece, str) else decode_text(piece, charset)
            for piece, charset in pieces
        )
    except Exception:  # malformed encoded words: show the header as it came
        text = values[0]
    return " ".join(quotable(text).split())


def header_values(message: Message, name: str) -> list[str]:
    """Every value of header ``name``, read as :func:`_header_values` reads them."""
    return _header_values(message, name)


def _header_values(message: Message, name: str) -> list[str]:
    """The values of header ``name``; raw 8-bit bytes (kept by the parser as surrogate
    escapes) read as UTF-8, else Latin-1, so that no value holds a lone surrogate.

    At most :data:`MAX_HEADER_VALUES` values of :data:`MAX_HEADER_CHARS` characters are
    read: decoding RFC 2047 words and address lists costs more than linear time, and a
    megabyte of ``=?utf-8?q?a?=`` in a Subject took 90 s.
    """
    wanted = name.lower()
    # raw_items, not get_all: compat32 hands a value holding raw 8-bit bytes (RFC 6532
    # UTF-8) back as an "unknown-8bit" Header whose text has lost them to U+FFFD.
    values = [value for key, value in message.raw_items() if key.lower() == wanted]
    return [_unescape_8bit(str(value)[:MAX_HEADER_CHARS]) for value in values[:MAX_HEADER_VALUES]]


def _unescape_8bit(value: str) -> str:
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte
        return storable(value)
    return decode_text(raw, None)


def _addresses(message: Message, names: Iterable[str]) -> list[str]:
    """Bare addresses (never display names) from the headers ``names``, in order."""
    values = [
        value
        for name in names
        for value in _header_values(message, name)
        if value.count("(") <= MAX_ADDRESS_COMMENTS
    ]
    return [address.strip() for _, address in getaddresses(values) if "@" in address]


def sender_address(message: Message) -> str | None:
    """The one address of From, lower-cased; None when From holds none or several.

    The display name is never looked at: ``"alice@example.org" <mallory@evil.example>``
    is mallory's message.
    """
    addresses = _addresses(message, ["From"])
    if len(addresses) != 1:
        return None
    address = addresses[0].lower()
    local, _, domain = address.rpartition("@")
    if not local or not domain or not address.isprintable() or any(c.isspace() for c in address):
        return None
    return address


def base_address(address: str) -> str:
    """``Local+detail@Domain`` -> ``local@domain``: sub-addressing and case folded away."""
    local, _, domain = address.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def kind_from_headers(
    message: Message, *, request_address: str, delete_address: str
) -> tuple[Kind, str]:
    """Which of the service's addresses this copy of the message was sent to, and why.

    Envelope headers (Delivered-To, X-Original-To, Envelope-To, X-Envelope-To) decide when
    they name exactly one of the two addresses: the MTA wrote them for this copy. Otherwise
    To and Cc decide. Naming both is ``ambiguous``; naming neither is ``unroutable``.
    """
    ours: dict[str, Kind] = {
        base_address(request_address): "request",
        base_address(delete_address): "delete",
    }
    for names in (ENVELOPE_HEADERS, ADDRESS_HEADERS):
        found = {ours[b] for b in map(base_address, _addresses(message, names)) if b in ours}
        if len(found) == 1:
            kind = found.pop()
            return kind, f"sent to the {kind} address (by {'/'.join(names)})"
        if len(found) == 2:
            return "ambiguous", "addressed to both the request and the deletion address"
    return "unroutable", "addressed to neither the request nor the deletion address"


def message_id_of(message: Message) -> str | None:
    """The Message-ID as written (whitespace removed), or None when absent or empty."""
    values = _header_values(message, "Message-ID")
    value = "".join(values[0].split()) if values else ""
    return value or None


def references_of(message: Message) -> list[str]:
    """The message ids of References (in order), for threading a reply."""
    text = " ".join(_header_values(message, "References"))
    return re.findall(r"<[!-;=?-~]+>", text)  # printable ASCII but the angle brackets


def sent_date(message: Message) -> datetime | None:
    """The Date header as an aware UTC datetime, or None when absent or unreadable."""
    values = _header_values(message, "Date")
    if not values:
        return None
    try:
        when = parsedate_to_datetime(values[0])
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):  # year 99999, hour 10**14 ...
        return None


def synthetic_message_id(*, sender: str, body: str | bytes, day: date) -> str:
    """A stand-in Message-ID for mail that has none: the same sender, body and UTC day give
    the same id, so that a message delivered twice still makes one request."""
    digest = hashlib.sha256()
    digest.update(sender.lower().encode("utf-8") + b"\0" + day.isoformat().encode() + b"\0")
    digest.update(body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body)
    return f"<{digest.hexdigest()[:40]}@synthetic.dssportal.invalid>"


#: Local parts of addresses that only machines write from: bounces, list managers, robots.
_MACHINE_LOCAL_PARTS: Final = frozenset(
    {
        "mailer-daemon", "postmaster", "mailerdaemon", "listserv", "majordomo", "mailman",
        "bounce", "bounces", "noreply", "no-reply", "do-not-reply", "donotreply", "daemon",
    }
)  # fmt: skip
_MACHINE_LOCAL_AFFIXES: Final = (("owner-",), ("-request", "-owner", "-bounces", "-bounce"))
#: Headers that some responders set instead of (or besides) Auto-Submitted.
_AUTOREPLY_HEADERS: Final = (
    "X-Autoreply", "X-Autorespond", "X-Autogenerated", "X-AutoReply-From", "X-Mail-Autoreply",
    "X-Auto-Response", "X-FC-MachineGenerated",
)  # fmt: skip
#: How unmarked responders start their subjects (vacation notices, bounces), lower case.
_AUTOREPLY_SUBJECTS: Final = (
    "auto:", "automatic reply", "autoreply", "auto-reply", "auto reply", "auto response",
    "out of office", "out of the office", "ooo:", "away:", "vacation", "on vacation",
    "abwesenheitsnotiz", "automatische antwort", "réponse automatique", "absence",
    "risposta automatica", "respuesta automática", "automatisch antwoord",
    "undeliverable", "undelivered mail", "delivery status notification", "mail delivery",
    "returned mail", "failure notice", "delivery failure", "non remis", "unzustellbar",
    "自動応答", "自動返信", "不在",
)  # fmt: skip


def automation_reason(message: Message, *, own_addresses: Iterable[str] = ()) -> str | None:
    """Why ``message`` was not written by a person, or None for ordinary mail.

    Such a message is never acted on and never answered (RFC 3834, and the heuristics
    every vacation responder uses): ``Auto-Submitted`` other than ``no``; ``Precedence``
    bulk, junk, list or auto_reply; ``List-Id``/``List-Post``; an empty Return-Path or
    From; a delivery or disposition report; ``X-Autoreply`` and its cousins; senders that
    only machines write from (MAILER-DAEMON, postmaster, ``*-request``, ``owner-*``,
    no-reply ...); the service's ``own_addresses`` (a loop); and subjects that unmarked
    responders write ("Out of Office", "Automatic reply", "Undeliverable" ...). A
    vacation notice quoting a receipt must never make its example lines a request, and a
    script that wants its requests served need only not call itself a robot.
    """
    return_paths = _header_values(message, "Return-Path")
    if return_paths and return_paths[0].strip() in ("<>", ""):
        return "empty return path (a delivery status notification)"
    if message.get_content_type() == "multipart/report":
        return "a delivery or disposition report"
    auto = " ".join(_header_values(message, "Auto-Submitted")).strip().lower()
    if auto and auto.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {auto[:40]}"
    precedence = " ".join(_header_values(message, "Precedence")).strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in _AUTOREPLY_HEADERS:
        if message.get(name) is not None:
            return f"an automatic reply ({name})"
    if message.get("List-Id") or message.get("List-Post"):
        return "a mailing-list message (List-Id)"
    return _machine_sender(message, own_addresses) or _autoreply_subject(message)


def _machine_sender(message: Message, own_addresses: Iterable[str]) -> str | None:
    froms = _header_values(message, "From")
    if froms and froms[0].strip() in ("", "<>"):
        return "a null sender (From: <>)"
    senders = _addresses(message, ["From"])
    own = {base_address(parseaddr(a)[1] or a) for a in own_addresses}
    for address in senders:
        base = base_address(address)
        if base in own:
            return f"sent from the service's own address {base} (a mail loop)"
        local = base.rpartition("@")[0]
        starts, ends = _MACHINE_LOCAL_AFFIXES
        if local in _MACHINE_LOCAL_PARTS or local.startswith(starts) or local.endswith(ends):
            return f"sent by a mail robot ({quotable(local)[:64]}@...)"
    return None


def _autoreply_subject(message: Message) -> str | None:
    subject = header_text(message, "Subject").lower()
    for prefix in _AUTOREPLY_SUBJECTS:
        if subject.startswith(prefix):
            return f"the subject of an automatic reply ({prefix!r})"
    return None


# --------------------------------------------------------------------------------------
# Text of the body
# --------------------------------------------------------------------------------------


def decode_text(payload: bytes, charset: str | None) -> str:
    """Bytes of a text part as text, following the charset rules of the module notes.

    Never raises, and the text holds no lone surrogate (a UTF-7 ``+2AA-`` decodes to one;
    it becomes U+FFFD), whatever the bytes and the charset label say.
    """
    if payload.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _without_surrogates(payload.decode("utf-16", errors="replace"))
    if payload.startswith(b"\xef\xbb\xbf"):
        return payload[3:].decode("utf-8", errors="replace")
    declared = _codec_name(str(charset or "").strip().strip('"').lower())
    if not declared:
        return _decode_first(payload, ("utf-8",), fallback="latin-1")
    candidates = (declared, *_SUPERSETS.get(declared, ()), "utf-8")
    return _decode_first(payload, candidates, fallback=declared)


def _codec_name(label: str) -> str:
    """Python's codec for a MIME charset label; '' for none, unknown or 'guess'."""
    if not label:
        return ""
    label = _CHARSET_ALIASES.get(label, label)
    if not label:
        return ""
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):  # unknown, or a label holding NUL
        return ""
    name = info.name
    if not info._is_text_encoding or name in _NOT_MIME_CHARSETS:  # zlib, base64, idna ...
        return ""
    return _CHARSET_ALIASES.get(name, name) if name != "ascii" else ""


def _decode_first(payload: bytes, candidates: Iterable[str], *, fallback: str) -> str:
    for codec in candidates:
        try:
            return _without_surrogates(payload.decode(codec))
        except (UnicodeError, LookupError, ValueError):
            continue
    try:
        return _without_surrogates(payload.decode(fallback, errors="replace"))
    except (UnicodeError, LookupError, ValueError):
        return payload.decode("latin-1")


def _without_surrogates(text: str) -> str:
    return _SURROGATE_RE.sub("\ufffd", text)


def unflow(text: str, *, delsp: bool = False) -> str:
    """Undo RFC 3676 format=flowed: join soft-broken lines, keep quote depth as ``> ``.

    A line ending in a space is continued by the next line of the same quote depth; with
    ``delsp`` that space was inserted by the sender and is removed. One leading space
    (space-stuffing) is removed. ``-- `` (the signature separator) is never flowed. A
    flowed line followed by a line of another depth ends where it is (RFC 3676, 4.5).
    """
    out: list[str] = []
    pending: str | None = None
    pending_depth = 0
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        flowed = content.endswith(" ") and content != "-- "
        if flowed and delsp:
            content = content[:-1]
        if pending is not None and depth != pending_depth:
            out.append(_quote_prefix(pending_depth) + pending)
            pending = None
        pending = content if pending is None else pending + content
        pending_depth = depth
        if not flowed:
            out.append(_quote_prefix(depth) + pending)
            pending = None
    if pending is not None:
        out.append(_quote_prefix(pending_depth) + pending)
    return "\n".join(out)


def _quote_prefix(depth: int) -> str:
    return ">" * depth + " " if depth else ""


def blank_quoted_lines(text: str) -> tuple[str, int]:
    """Blank quoted lines (``>``) and their attribution line; drop an Outlook original.

    Returns the text, with the same number of lines up to any ``Original Message``
    separator, and how many non-empty lines were blanked or dropped.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    removed = 0
    for index, line in enumerate(lines):
        if _ORIGINAL_MESSAGE_RE.match(line):
            removed += sum(1 for rest in lines[index:] if rest.strip())
            lines = lines[:index]
            break
    quoted = [line.lstrip().startswith(">") for line in lines]
    for index, is_quoted in enumerate(quoted):
        if not is_quoted:
            continue
        if index == 0 or not quoted[index - 1]:
            _blank_attribution(lines, quoted, index)
        if lines[index].strip():
            removed += 1
        lines[index] = ""
    return "\n".join(lines), removed


def _blank_attribution(lines: list[str], quoted: list[bool], first_quoted: int) -> None:
    """Blank the "... wrote:" line just above a quotation (at most one blank line between)."""
    for above in (first_quoted - 1, first_quoted - 2):
        if above < 0 or quoted[above]:
            return
        stripped = lines[above].strip()
        if stripped.endswith(_ATTRIBUTION_END) and len(stripped.split()) > 1:
            lines[above] = ""
            quoted[above] = True  # counts as removed text, never as a request line
            return
        if stripped:
            return


class _HtmlToText:
    """Text of an HTML body: one line per block, cells separated by tabs, quotes dropped."""

    # fmt: off
    _BLOCKS: Final = frozenset({
        "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt",
        "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
        "nav", "ol", "p", "pre", "section", "table", "tbody", "thead", "tfoot", "tr", "ul",
    })
    # fmt: on
    _SKIP: Final = frozenset({"head", "script", "style", "title", "template", "blockquote"})
    _QUOTE_CLASSES: Final = ("gmail_quote", "moz-cite-prefix", "yahoo_quoted")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.current: list[str] = []
        self.current_has_text = False  # kept, not recomputed: a row of 10^5 cells is linear
        self.pre_depth = 0
        self.skip_tag: str | None = None
        self.skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip_tag is not None:
            self.skip_depth += tag == self.skip_tag
            return
        classes = " ".join(value or "" for name, value in attrs if name == "class")
        if tag in self._SKIP or any(c in classes for c in self._QUOTE_CLASSES):
            self.skip_tag, self.skip_depth = tag, 1
            return
        if tag == "br":
            self._newline(force=True)
        elif tag in ("td", "th"):
            if self.current_has_text:
                self.current.append("\t")
        elif tag in self._BLOCKS:
            self._newline()
        if tag == "pre":
            self.pre_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and self.skip_tag is None:
            self._newline(force=True)
        elif tag != "br":
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth -= 1
                if self.skip_depth <= 0:
                    self.skip_tag = None
                    self._newline()
            return
        if tag == "pre":
            self.pre_depth = max(0, self.pre_depth - 1)
        if tag in self._BLOCKS:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.skip_tag is not None:
            return
        data = data.replace("\xa0", " ")
        if self.pre_depth:
            first, *rest = data.replace("\r\n", "\n").split("\n")
            self._append(first)
            for piece in rest:
                self._newline(force=True)
                self._append(piece)
            return
        self._append(_BLANKS_RE.sub(" ", data))

    def _append(self, piece: str) -> None:
        self.current.append(piece)
        self.current_has_text = self.current_has_text or bool(piece.strip())

    def _newline(self, *, force: bool = False) -> None:
        line = "".join(self.current).rstrip()
        if line.strip() or force:
            self.lines.append(line.strip(" ") if not self.pre_depth else line)
        self.current = []
        self.current_has_text = False

    def text(self) -> str:
        self._newline()
        return "\n".join(self.lines)


#: Elements whose content is text up to their end tag, never markup.
_RAW_TEXT_TAGS: Final = frozenset({"script", "style", "title", "textarea", "xmp"})
_BLANKS_RE: Final = re.compile(r"\s+")
_TAG_NAME_RE: Final = re.compile(r"[a-zA-Z][^\t\n\r\f />]*+")
#: The rest of a tag up to its ">": quoted values may hold ">". Possessive, so one try is
#: one forward scan; a tag without its ">" runs to the end of the text (and is dropped).
_TAG_REST_RE: Final = re.compile(r"""(?:[^>"'=]++|=\s*+(?:"[^"]*+"|'[^']*+')|[="'])*+>""")
_ATTRIBUTE_RE: Final = re.compile(r"""([^\s/>="']++)(?:\s*+=\s*+("[^"]*+"|'[^']*+'|[^\s>]++))?""")


def _scan_html(html: str, sink: _HtmlToText) -> None:
    """Feed ``sink`` the tags and text of ``html`` in one forward pass (time linear in
    its length whatever it holds). Comments, declarations and processing instructions are
    skipped; whatever is unterminated at the end is dropped, as a browser does."""
    lowered = html.lower()  # for finding raw-text end tags
    pos, end = 0, len(html)
    while pos < end:
        lt = html.find("<", pos)
        if lt < 0:
            sink.handle_data(unescape(html[pos:]))
            return
        if lt > pos:
            sink.handle_data(unescape(html[pos:lt]))
        pos = _scan_markup(html, lowered, lt, sink)


def _scan_markup(html: str, lowered: str, lt: int, sink: _HtmlToText) -> int:
    """Read the markup at ``html[lt] == "<"``; the position after it."""
    if html.startswith("<!--", lt):
        close = html.find("-->", lt + 4)
        return len(html) if close < 0 else close + 3
    closing = html.startswith("</", lt)
    name = _TAG_NAME_RE.match(html, lt + 2 if closing else lt + 1)
    if name is None:
        if html.startswith(("<!", "<?", "</"), lt):  # declaration or bogus comment
            close = html.find(">", lt + 1)
            return len(html) if close < 0 else close + 1
        sink.handle_data("<")
        return lt + 1
    rest = _TAG_REST_RE.match(html, name.end())
    if rest is None:
        return len(html)
    tag = name.group().lower()
    if closing:
        sink.handle_endtag(tag)
        return rest.end()
    inside = html[name.end() : rest.end() - 1]
    attrs = [
        (key.lower(), unescape(value.strip("\"'")) if value else None)
        for key, value in _ATTRIBUTE_RE.findall(inside)
    ]
    if inside.rstrip().endswith("/"):
        sink.handle_startendtag(tag, attrs)
    else:
        sink.handle_starttag(tag, attrs)
    if tag not in _RAW_TEXT_TAGS:
        return rest.end()
    close = lowered.find("</" + tag, rest.end())
    text_end = len(html) if close < 0 else close
    sink.handle_data(html[rest.end() : text_end])
    return text_end


def html_to_text(html: str) -> str:
    """Plain text of an HTML mail body.

    Tags are removed, entities decoded; ``<br>`` and the end of each ``<p>``, ``<div>``,
    ``<tr>``, ``<li>`` ... end a line; table cells are separated by a tab (a list pasted as
    a table still has its columns); ``<pre>`` keeps its lines; ``<blockquote>`` and the
    quotation blocks of Gmail, Thunderbird and Yahoo are dropped (quoted replies), as are
    ``<head>``, ``<style>`` and ``<script>``.
    """
    parser = _HtmlToText()
    _scan_html(html, parser)
    return parser.text()


@dataclass(frozen=True, slots=True)
class TextPart:
    """One text of a message: the body, or a text attachment.

    Attributes
    ----------
    text : str
        Decoded text, format=flowed undone, quoted lines blanked.
    label : str
        How the receipt names it: ``"the message body"`` or ``"the attached file 'x.txt'"``.
    quoted_lines : int
        Non-empty quoted lines that were blanked or dropped.
    copied_lines : int
        Non-empty lines blanked as a copy of a message of the service itself.
    """

    text: str
    label: str
    quoted_lines: int = 0
    copied_lines: int = 0


@dataclass(frozen=True, slots=True)
class MailBody:
    """The body of a message and its text attachments, in message order."""

    body: TextPart
    attachments: tuple[TextPart, ...] = ()


def mail_body(message: Message, *, own_openings: Sequence[str] = ()) -> MailBody:
    """The texts of ``message`` (see the module notes for which parts count).

    A text holding, unquoted, a line that starts with one of ``own_openings`` (the first
    words of the service's own messages) is blanked from that line on: it is a copy of a
    receipt (a top-posted reply, or a vacation notice quoting it whole) and its example
    lines must never become a request.
    """
    bodies: list[str] = []
    attachments: list[TextPart] = []
    _walk(message, bodies, attachments, depth=0)
    body = _text_part("\n".join(bodies), "the message body", own_openings)
    texts = (_text_part(part.text, part.label, own_openings) for part in attachments)
    return MailBody(body, tuple(texts))


def _text_part(text: str, label: str, own_openings: Sequence[str]) -> TextPart:
    text, quoted = blank_quoted_lines(text)
    text, copied = blank_copied_text(text, own_openings)
    return TextPart(text, label, quoted, copied)


def blank_copied_text(text: str, openings: Sequence[str]) -> tuple[str, int]:
    """Blank every line from the first one starting with one of ``openings`` to the end.

    Returns the text (with as many lines) and how many non-empty lines were blanked.
    """
    if not openings:
        return text, 0
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.lstrip().startswith(tuple(openings)):
            copied = sum(1 for rest in lines[index:] if rest.strip())
            return "\n".join(lines[:index] + [""] * (len(lines) - index)), copied
    return text, 0


def _walk(part: Message, bodies: list[str], attachments: list[TextPart], *, depth: int) -> None:
    content_type = part.get_content_type()
    if part.is_multipart():
        if depth >= MAX_MIME_DEPTH:  # structure_problem refuses such messages before this
            return
        children = [c for c in part.get_payload() if isinstance(c, Message)]
        if content_type == "multipart/alternative" and children:
            plain = [c for c in children if c.get_content_type() == "text/plain"]
            children = [plain[0] if plain else children[-1]]
        for child in children:
            _walk(child, bodies, attachments, depth=depth + 1)
        return
    if content_type == "message/rfc822":
        return
    filename = _filename(part)
    if filename or part.get_content_disposition() == "attachment":
        if content_type == "text/plain" or filename.lower().endswith(_LIST_FILE_SUFFIXES):
            label = f"the attached file '{filename}'" if filename else "an attached text"
            attachments.append(TextPart(_part_text(part), label))
        return
    if content_type == "text/plain":
        bodies.append(_part_text(part))
    elif content_type == "text/html":
        bodies.append(html_to_text(_part_text(part)))


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:  # a malformed RFC 2231 parameter: treat as unnamed
        return ""
    name = _unescape_8bit(name[:1000])
    if "=?" in name:
        with contextlib.suppress(Exception):  # malformed encoded words: the name as it came
            name = "".join(
                piece if isinstance(piece, str) else decode_text(piece, charset)
                for piece, charset in decode_header(name)
            )
    name = " ".join(quotable(name).split())[:100]
    return name.replace("/", "_").replace("\\", "_")


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        payload = b""
    text = decode_text(payload, part.get_content_charset())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if str(part.get_param("format", "")).lower() == "flowed":
        text = unflow(text, delsp=str(part.get_param("delsp", "")).lower() == "yes")
    return text


def choose_text(
    mail: MailBody, counts: Callable[[str], tuple[int, int]]
) -> tuple[TextPart, tuple[TextPart, ...]]:
    """The text that holds the list, and the texts left unread.

    ``counts(text)`` returns ``(valid, read)``: how many entries of ``text`` are valid and
    how many lines were read at all (not blank, not comments). The rule, in order:

    1. the body, when it holds at least one valid entry;
    2. else the first attachment that does;
    3. else the body, when it has any line that was read (its errors are what to report);
    4. else the first attachment that has one;
    5. else the (empty) body.

    People paste the list into the body, or attach the file they keep it in and write a
    greeting in the body; either way the list is what gets read, and a body with an
    honest mistake is reported rather than silently replaced by an attachment.
    """
    if not mail.attachments:
        return mail.body, ()
    texts = (mail.body, *mail.attachments)
    tallies = [counts(part.text) for part in texts]
    chosen = next((p for p, (valid, _) in zip(texts, tallies, strict=True) if valid), None)
    if chosen is None:
        chosen = next((p for p, (_, read) in zip(texts, tallies, strict=True) if read), None)
    chosen = chosen or mail.body
    return chosen, tuple(p for p in texts if p is not chosen)
