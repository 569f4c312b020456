"""The request list and the deletion list: the text users send, parsed.

Pure Python (astropy only for B1950 positions); no Django. Every entry point (mail, web
form, ``validate_request``, API) calls :func:`parse_request_list` or
:func:`parse_deletion_list`; the syntax is the contract of ``REQUEST_FORMAT.md``.

Conventions
-----------
- Line numbers are 1-based and count every line of the text as a mail client shows it:
  ``\\r\\n``, a lone ``\\r`` and ``\\n`` each end a line; a leading byte-order mark is
  dropped. Other characters (form feed, U+2028 ...) do not end a line.
- Columns are separated by any run of whitespace (``str.split()``); a column never
  contains whitespace.
- Angles are in degrees, field sizes in arcmin. R.A. degrees are in ``[0, 360)``.
- Every problem in a line is reported (not only the first), joined with ``"; "``, so that
  a user can correct the line in one round trip. A line with the wrong number of columns
  gets only that message: its columns cannot be told apart.
- Nothing here raises on user text: every line that is not ignored yields exactly one of a
  :class:`FieldSpec` or an error message.

Decisions where the original description is silent
---------------------------------------------------
- PLATE-ID (column 12): 2-6 ASCII letters or digits (real DSS plate ids are 4, e.g.
  ``04IN``, ``0025``, ``A0Q5``), stored upper-cased. A token of one or two letters
  followed by exactly three digits (``S134``, ``XE123``, ``XJ316``, ``N123``) is the
  shape of a DSS REGION-ID (survey field) and is refused with a message saying so.
- The signature delimiter is a line that is exactly ``--`` or ``-- `` (only the line
  terminator is removed first). `` --``, ``--x`` or ``--\\t`` are ordinary lines, hence
  errors; the message says why they did not end the list.
- File stems (:mod:`extraction.text.naming`): characters outside ``A-Za-z0-9._+-`` become
  ``_``, and a leading ``.`` or ``-`` becomes ``_`` too, so that no output is a hidden file
  or looks like an option. Stems repeated, ignoring case, get ``_2``, ``_3`` ..., skipping
  any stem that another line of the request asks for.
- More than ``max_lines`` non-ignored lines: the extra lines are not read and each gets an
  error telling the user to split the list.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal, TypeVar

from extraction.core.surveys import (
    PlateMode,
    band_row,
    compression,
    compressions_text,
    expected_data_bytes,
    output_file_name,
    survey_tokens_text,
)
from extraction.text.naming import (
    PLATE_ID_RE,
    REGION_ID_RE,
    file_stem,
    file_stems_unique,
    is_staging_name,
)

__all__ = [
    "EXAMPLE_LINES",
    "FITS_BLOCK_BYTES",
    "FITS_HEADER_BLOCKS",
    "Compression",
    "DeletionEntry",
    "Equinox",
    "FieldSpec",
    "Mode",
    "ParsedLine",
    "ParsedList",
    "Survey",
    "example_lines_text",
    "expected_bytes",
    "format_field_line",
    "parse_deletion_list",
    "parse_request_list",
]

Equinox = Literal["J2000", "B1950"]
#: A request token of column 11, upper case: a key or alias of ``surveys.SURVEY_BANDS``.
Survey = str
#: Column 12: a plate mode of the survey table (a ``str`` enum: ``"e"``, ``"n"`` ...).
Mode = PlateMode
#: Column 13: a code of ``surveys.COMPRESSIONS``, upper case.
Compression = str

#: Size of a FITS block; headers and data units are padded to whole blocks.
FITS_BLOCK_BYTES: Final = 2880

#: Assumed header size of a cut-out, in FITS blocks: the DSS plate keywords, the plate
#: solution, the acknowledgement text and a celestial WCS take 6-8 blocks; 20 is generous
#: on purpose, so that the quota check before extraction errs on the safe side.
FITS_HEADER_BLOCKS: Final = 20

#: The three example lines of the original service description (``REQUEST_FORMAT.md``): the
#: home page, the request page and the receipt mail show them, and they must parse.
EXAMPLE_LINES: Final = (
    "field01 12 5 13 30 45 32 10. 10. B1950 DSS1 e G",
    "N7793 23 57 49.4 -32 35 24. 60. 60. J2000 DSS1 04IN U",
    "NGC253 0 47 34.3 -25 17 32. 45. 45. J2000 DSS2 c B",
)

_T = TypeVar("_T")

_EQUINOXES: Final[dict[str, Equinox]] = {"J2000": "J2000", "B1950": "B1950"}
#: The modes a request line names by their code; ``plate`` is named by a PLATE-ID instead.
_MODES: Final[dict[str, Mode]] = {m.value: m for m in PlateMode if m is not PlateMode.PLATE}

_MAX_IDENTIFIER_CHARS: Final = 64
#: Longest accepted R.A./Dec. seconds token: ``SS.`` and 17 decimals, beyond a double's
#: precision already; bounds what is stored as the position text (``Field.ra_text``).
_MAX_SECONDS_CHARS: Final = 20
_SIGNATURES: Final = frozenset({"--", "-- "})
_QUOTE_MAX_CHARS: Final = 80

_UINT_RE: Final = re.compile(r"[0-9]+")
_SIGNED_INT_RE: Final = re.compile(r"([+-]?)([0-9]+)")
_DECIMAL_RE: Final = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_EXPONENT_RE: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][+-]?[0-9]+")
_DECIMAL_COMMA_RE: Final = re.compile(r"[+-]?[0-9]*,[0-9]*")
_NON_ASCII_DASHES: Final = "\u2212\u2010\u2011\u2012\u2013\u2014\ufe63\uff0d"

_COLUMN_LABELS: Final[dict[int, str]] = {
    1: "identifier",
    2: "R.A. hours",
    3: "R.A. minutes",
    4: "R.A. seconds",
    5: "Dec. degrees",
    6: "Dec. minutes",
    7: "Dec. seconds",
    8: "width, arcmin",
    9: "height, arcmin",
    10: "equinox",
    11: "survey",
    12: "mode",
    13: "compression",
}

_COLUMNS_EXPECTED: Final = (
    "12 or 13 columns are expected (identifier, R.A. h m s, Dec. d m s, width, height, "
    "equinox, survey, mode, and optionally compression), separated by blanks"
)


# --------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One valid line of a request list.

    Attributes
    ----------
    identifier : str
        Column 1 as given (1-64 characters, no whitespace).
    stem : str
        Safe output file stem, unique within the request (see :attr:`file_name`).
    ra_text, dec_text : str
        The position as given, normalised to ``HH MM SS[.s]`` and ``±DD MM SS[.s]``
        (two-digit integer parts; the seconds keep the user's decimals).
    ra_given_deg, dec_given_deg : float
        The position in the given equinox, degrees; R.A. in ``[0, 360)``.
    equinox : {'J2000', 'B1950'}
        Column 10, upper case.
    ra_deg, dec_deg : float
        The position in FK5 J2000, degrees (R.A. in ``[0, 360)``). Equal to the given
        values for J2000; for B1950 the FK4 (equinox and epoch B1950) position converted
        with astropy.
    width_arcmin, height_arcmin : float
        Field size, arcmin; ``0 < size <= max_side_arcmin``.
    survey : str
        Column 11, upper case, as given: a token of ``surveys.SURVEY_BANDS`` (``DSS1``,
        ``DSS2`` = ``DSS2R``, ``DSS2B``, ``DSS2I``).
    mode : PlateMode
        Column 12: a selection mode, or ``PlateMode.PLATE`` when a PLATE-ID was given.
    plate_id : str or None
        The PLATE-ID, upper case, when ``mode == 'plate'``; otherwise None.
    compression : str
        Column 13, upper case, a code of ``surveys.COMPRESSIONS``; ``'U'`` when absent.
    """

    identifier: str
    stem: str
    ra_text: str
    dec_text: str
    ra_given_deg: float
    dec_given_deg: float
    equinox: Equinox
    ra_deg: float
    dec_deg: float
    width_arcmin: float
    height_arcmin: float
    survey: Survey
    mode: Mode
    plate_id: str | None
    compression: Compression

    @property
    def file_name(self) -> str:
        """Output file name: ``<stem>.fits`` plus ``.gz``, ``.bz2`` or ``.xz``."""
        return output_file_name(self.stem, self.compression)

    @property
    def survey_base(self) -> str:
        """The survey without its band (``Plate.survey``): ``'DSS1'``, ``'DSS2'`` ..."""
        row = band_row(self.survey)
        assert row is not None, "the parser accepts only tokens of the survey table"
        return row.survey.name

    @property
    def band(self) -> str | None:
        """The band whose plates serve the image (``DSS2`` and ``DSS2R`` -> ``'R'``), or
        None for every plate of the survey (DSS1)."""
        row = band_row(self.survey)
        return row.band if row is not None else None


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """The outcome of one non-ignored line: exactly one of ``field`` and ``error`` is set.

    Attributes
    ----------
    line_no : int
        1-based line number in the text.
    raw : str
        The line without its terminator.
    field : FieldSpec or None
        The field, when the line is valid.
    error : str or None
        What is wrong with the line (every problem, joined with ``"; "``), otherwise None.
    plate_ref : (survey, PLATE-ID) or None
        For a rejected line, the plate it names when those columns are valid, so that the
        catalogue check can add its own problem to the others.
    """

    line_no: int
    raw: str
    field: FieldSpec | None = None
    error: str | None = None
    plate_ref: tuple[str, str] | None = None

    @property
    def ok(self) -> bool:
        """Whether the line is a valid field."""
        return self.field is not None


@dataclass(frozen=True, slots=True)
class ParsedList:
    """A parsed request list.

    Attributes
    ----------
    lines : tuple of ParsedLine
        One entry per non-ignored line, in text order.
    signature_line_no : int or None
        1-based number of the ``--`` line that ended the list, if any.
    """

    lines: tuple[ParsedLine, ...]
    signature_line_no: int | None = None

    @property
    def fields(self) -> list[FieldSpec]:
        """The valid fields, in text order."""
        return [line.field for line in self.lines if line.field is not None]

    @property
    def errors(self) -> list[ParsedLine]:
        """The rejected lines, in text order."""
        return [line for line in self.lines if line.field is None]

    def __iter__(self) -> Iterator[ParsedLine]:
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)


@dataclass(frozen=True, slots=True)
class DeletionEntry:
    """One non-ignored line of a deletion list.

    Attributes
    ----------
    line_no : int
        1-based line number in the text.
    raw : str
        The line without its terminator.
    name : str
        The line stripped of surrounding whitespace.
    ok : bool
        Whether ``name`` is a well-formed staging-directory name. Ownership is checked
        later, by the service.
    reason : str or None
        Why the line is ignored, when ``ok`` is false.
    cut : bool
        The first line beyond the list's cap: reading stopped here.
    """

    line_no: int
    raw: str
    name: str
    ok: bool
    reason: str | None = None
    cut: bool = False


# --------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------


def parse_request_list(
    text: str, *, max_side_arcmin: float = 60.0, max_lines: int = 2000
) -> ParsedList:
    """Parse the text of a request list.

    Parameters
    ----------
    text : str
        The message body or form text; any line endings, any junk.
    max_side_arcmin : float, optional
        Largest accepted width and height, arcmin.
    max_lines : int, optional
        Largest number of non-ignored lines that are read; each further line gets an
        error asking the user to split the list.

    Returns
    -------
    ParsedList
        One :class:`ParsedLine` per non-ignored line. Blank lines and lines whose first
        non-blank character is ``#`` are ignored; a line that is exactly ``--`` or
        ``-- `` ends the list.

    Notes
    -----
    B1950 positions are converted to FK5 J2000 in a single vectorised astropy call for
    the whole list; astropy is imported only when the list holds a B1950 line.
    """
    entries: list[tuple[int, str, _Pending | str]] = []
    signature_line_no: int | None = None
    too_many = (
        f"the request has more than {max_lines} fields; this line and the ones after it "
        f"were not read: split the list into several messages of at most {max_lines} lines"
    )
    for line_no, raw in enumerate(_split_lines(text), start=1):
        if raw in _SIGNATURES:
            signature_line_no = line_no
            break
        tokens = raw.split()
        if not tokens or tokens[0][0] == "#":
            continue
        if len(entries) >= max_lines:
            entries.append((line_no, raw, too_many))
            continue
        entries.append((line_no, raw, _parse_tokens(tokens, max_side_arcmin, raw)))

    pendings = [p for _, _, p in entries if not isinstance(p, str)]
    b1950 = [p for p in pendings if p.equinox == "B1950"]
    if b1950:
        ras, decs = _fk4_b1950_to_fk5_j2000(
            [p.ra_given_deg for p in b1950], [p.dec_given_deg for p in b1950]
        )
        for p, ra, dec in zip(b1950, ras, decs, strict=True):
            p.ra_deg, p.dec_deg = ra, dec
    _assign_stems(pendings)

    lines = tuple(
        ParsedLine(line_no, raw, error=p, plate_ref=None if p is too_many else _plate_named(raw))
        if isinstance(p, str)
        else ParsedLine(line_no, raw, field=p.to_field())
        for line_no, raw, p in entries
    )
    return ParsedList(lines, signature_line_no)


def format_field_line(field: FieldSpec) -> str:
    """Write ``field`` back as a 13-column request line that parses to the same field.

    The identifier is written as given (not the de-duplicated stem); sizes are written as
    plain decimals, never in exponent notation.
    """
    mode = field.plate_id if field.mode == PlateMode.PLATE and field.plate_id else field.mode
    return " ".join(
        (
            field.identifier,
            field.ra_text,
            field.dec_text,
            _format_decimal(field.width_arcmin),
            _format_decimal(field.height_arcmin),
            field.equinox,
            field.survey,
            mode,
            field.compression,
        )
    )


def expected_bytes(field: FieldSpec) -> int:
    """Expected size of the uncompressed output file of ``field``, bytes.

    16-bit pixels at 1.7 arcsec/px (DSS1) or 1.0 arcsec/px (DSS2), the data padded to
    whole FITS blocks, plus :data:`FITS_HEADER_BLOCKS` blocks of header. Compression is
    not credited, so that the quota check stays conservative. A 10' x 10' field has
    250 560 bytes of data in DSS1 and 720 000 in DSS2 (the "260 kB and 720 kB" of the
    original service), 57 600 bytes of header on top.
    """
    data = expected_data_bytes(field.survey_base, field.width_arcmin, field.height_arcmin)
    data_blocks = -(-data // FITS_BLOCK_BYTES)
    return (data_blocks + FITS_HEADER_BLOCKS) * FITS_BLOCK_BYTES


def parse_deletion_list(text: str, *, max_lines: int = 2000) -> list[DeletionEntry]:
    """Parse the text of a deletion list: one staging-directory name per line.

    Parameters
    ----------
    text : str
        The message body; any line endings, any junk.

    Returns
    -------
    list of DeletionEntry
        One entry per non-ignored line (blank and ``#`` lines are ignored; a line that is
        exactly ``--`` or ``-- `` ends the list). ``ok`` says whether the name has the
        staging-name shape; whether the directory belongs to the sender is for the
        service to decide. After ``max_lines`` names, one entry (not ok) says where
        reading stopped, and nothing more is read: the cap of request lists, so that one
        message of 35,000 names cannot hold up the mail gate.
    """
    entries: list[DeletionEntry] = []
    for line_no, raw in enumerate(_split_lines(text), start=1):
        if raw in _SIGNATURES:
            break
        name = raw.strip()
        if not name or name[0] == "#":
            continue
        if len(entries) >= max_lines:
            beyond = (
                f"the list has more than {max_lines} names; this line and the ones after it "
                f"were not read: send at most {max_lines} names in one message"
            )
            entries.append(DeletionEntry(line_no, raw, name, False, beyond, cut=True))
            break
        reason = _deletion_problem(name)
        entries.append(DeletionEntry(line_no, raw, name, reason is None, reason))
    return entries


# --------------------------------------------------------------------------------------
# Lines
# --------------------------------------------------------------------------------------


def _split_lines(text: str) -> list[str]:
    """Split ``text`` at ``\\r\\n``, ``\\r`` and ``\\n`` (only), after a leading BOM."""
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def _deletion_problem(name: str) -> str | None:
    if "*" in name or "?" in name:
        return "wildcards are not accepted: give each staging-directory name in full"
    if "/" in name or "\\" in name or ".." in name:
        return "paths are not accepted: give the staging-directory name alone"
    count = len(name.split())
    if count > 1:
        if count in (12, 13):  # what a field of a request list has
            return (
                f"{count} names on one line: this looks like a field of a request list; "
                "send request lists to the request address, and here one staging-directory "
                "name per line"
            )
        return f"{count} names on one line; give one staging-directory name per line"
    if not is_staging_name(name):
        hint = " and are lower case" if is_staging_name(name.lower()) else ""
        return f"not a staging-directory name (they look like dss-20261124-abcdefghijklm{hint})"
    return None


# --------------------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------------------


class _Pending:
    """A valid line before the request-wide steps (B1950 conversion, stems)."""

    __slots__ = (
        "compression",
        "dec_deg",
        "dec_given_deg",
        "dec_text",
        "equinox",
        "height_arcmin",
        "identifier",
        "mode",
        "plate_id",
        "ra_deg",
        "ra_given_deg",
        "ra_text",
        "stem",
        "survey",
        "width_arcmin",
    )

    def __init__(
        self,
        identifier: str,
        ra_text: str,
        dec_text: str,
        ra_given_deg: float,
        dec_given_deg: float,
        equinox: Equinox,
        width_arcmin: float,
        height_arcmin: float,
        survey: Survey,
        mode: Mode,
        plate_id: str | None,
        compression: Compression,
    ) -> None:
        self.identifier = identifier
        self.stem = file_stem(identifier)
        self.ra_text = ra_text
        self.dec_text = dec_text
        self.ra_given_deg = ra_given_deg
        self.dec_given_deg = dec_given_deg
        self.equinox = equinox
        self.ra_deg = ra_given_deg
        self.dec_deg = dec_given_deg
        self.width_arcmin = width_arcmin
        self.height_arcmin = height_arcmin
        self.survey = survey
        self.mode = mode
        self.plate_id = plate_id
        self.compression = compression

    def to_field(self) -> FieldSpec:
        return FieldSpec(
            self.identifier,
            self.stem,
            self.ra_text,
            self.dec_text,
            self.ra_given_deg,
            self.dec_given_deg,
            self.equinox,
            self.ra_deg,
            self.dec_deg,
            self.width_arcmin,
            self.height_arcmin,
            self.survey,
            self.mode,
            self.plate_id,
            self.compression,
        )


def _plate_named(raw: str) -> tuple[str, str] | None:
    """The (survey, PLATE-ID) a rejected line names, when those two columns are valid."""
    tokens = raw.split()
    if len(tokens) not in (12, 13):
        return None
    ignored: list[str] = []
    survey = _survey(tokens[10], ignored)
    mode, plate_id = _mode(tokens[11], ignored)
    if survey is None or mode != PlateMode.PLATE or plate_id is None:
        return None
    return survey, plate_id


def _parse_tokens(tokens: list[str], max_side_arcmin: float, raw: str) -> _Pending | str:
    """Parse the columns of one line; return the field or the error message."""
    n = len(tokens)
    if n != 12 and n != 13:
        return _column_count_problem(tokens, raw)
    errors: list[str] = []

    identifier = tokens[0]
    if len(identifier) > _MAX_IDENTIFIER_CHARS:
        errors.append(
            f"column 1 (identifier): {_quote(identifier)} is {len(identifier)} characters "
            f"long; at most {_MAX_IDENTIFIER_CHARS} are allowed"
        )
    elif not _storable_text(identifier):
        errors.append(
            f"column 1 (identifier): {_quote(identifier)} holds a control or invalid "
            "character; use letters, digits and punctuation"
        )

    rah = _whole(tokens[1], 2, 23, errors)
    ram = _whole(tokens[2], 3, 59, errors)
    ras = _seconds(tokens[3], 4, errors)
    ra_deg = 0.0
    if rah is not None and ram is not None and ras is not None:
        ra_deg = (rah + ram / 60.0 + ras[0] / 3600.0) * 15.0
        if ra_deg >= 360.0:  # 23 59 59.99999999999999999 rounds up to 24h
            ra_deg -= 360.0

    dec_sign, decd = _degrees(tokens[4], errors)
    decm = _whole(tokens[5], 6, 59, errors)
    decs = _seconds(tokens[6], 7, errors)
    dec_deg = 0.0
    if decd is not None and decm is not None and decs is not None:
        dec_abs = decd + decm / 60.0 + decs[0] / 3600.0
        if dec_abs > 90.0 or (decd == 90 and (decm > 0 or decs[1].strip("0.") != "")):
            errors.append(
                f"columns 5-7 (Dec.): {_quote(' '.join(tokens[4:7]))} is beyond the pole; "
                f"abs(Dec.) must be at most 90 degrees"
            )
        dec_deg = (-dec_abs if dec_sign == "-" else dec_abs) + 0.0  # never -0.0

    width = _side(tokens[7], 8, max_side_arcmin, errors)
    height = _side(tokens[8], 9, max_side_arcmin, errors)
    equinox = _choice(tokens[9], 10, _EQUINOXES, "use J2000 or B1950", errors)
    survey = _survey(tokens[10], errors)
    mode, plate_id = _mode(tokens[11], errors)
    compression_code: Compression | None = "U"
    if n == 13:
        compression_code = _compression(tokens[12], errors)

    if (
        errors
        or rah is None
        or ram is None
        or ras is None
        or decd is None
        or decm is None
        or decs is None
        or width is None
        or height is None
        or equinox is None
        or survey is None
        or mode is None
        or compression_code is None
    ):
        return "; ".join(errors) or "this line could not be read"  # the latter cannot happen
    return _Pending(
        identifier,
        f"{rah:02d} {ram:02d} {ras[1]}",
        f"{dec_sign or '+'}{decd:02d} {decm:02d} {decs[1]}",
        ra_deg,
        dec_deg,
        equinox,
        width,
        height,
        survey,
        mode,
        plate_id,
        compression_code,
    )


def _column_count_problem(tokens: list[str], raw: str) -> str:
    n = len(tokens)
    message = f"{n} column{'s' if n != 1 else ''} found; {_COLUMNS_EXPECTED}"
    if raw.strip() in _SIGNATURES:
        message += (
            "; only a line that is exactly '--' or '-- ' (nothing before, nothing else "
            "after) ends the list"
        )
    elif n > 13 and any(token.startswith("#") for token in tokens[12:]):
        message += "; a comment must be on a line of its own, starting with '#'"
    return message


def _where(column: int) -> str:
    return f"column {column} ({_COLUMN_LABELS[column]})"


def _quote(token: str) -> str:
    """Quote a user token for a message: control characters escaped, long ones cut."""
    if not token.isprintable():
        token = "".join(c if c.isprintable() else repr(c)[1:-1] for c in token)
    if len(token) > _QUOTE_MAX_CHARS:
        token = token[: _QUOTE_MAX_CHARS - 1] + "\u2026"
    return f"'{token}'"


def _storable_text(text: str) -> bool:
    """Printable and valid Unicode: what a database text column stores and a reply shows."""
    if not text.isprintable():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from a broken mail encoding
        return False
    return True


def _number_problem(token: str) -> str:
    """Say why ``token`` is not a plain unsigned decimal number."""
    low = token.lower()
    if "nan" in low or "inf" in low:
        return "is not a finite number"
    if _EXPONENT_RE.fullmatch(token):
        return "is in exponent notation, which is not accepted; write a plain decimal"
    if _DECIMAL_COMMA_RE.fullmatch(token) and any(c.isdigit() for c in token):
        return "has a decimal comma; write a decimal point"
    if token[0] in "+-" and _DECIMAL_RE.fullmatch(token[1:]):
        return "has a sign, which is not allowed here"
    if token[0] in _NON_ASCII_DASHES:
        return "starts with a dash, which is not allowed here"
    return "is not a number"


_WHOLE_ALLOWED: Final[dict[int, str]] = {
    2: "R.A. hours are a whole number 0-23",
    3: "R.A. minutes are a whole number 0-59",
    5: "Dec. degrees are a whole number 0-90 with an optional sign",
    6: "Dec. minutes are a whole number 0-59 (the sign goes on the degrees, column 5)",
}


def _whole(token: str, column: int, high: int, errors: list[str]) -> int | None:
    """An unsigned whole number ``0 <= value <= high``, or None (error appended)."""
    if _UINT_RE.fullmatch(token):
        digits = token.lstrip("0") or "0"
        if len(digits) <= 6 and int(digits) <= high:
            return int(digits)
        errors.append(f"{_where(column)}: {_quote(token)} is not in 0-{high}")
        return None
    problem = "is not a whole number" if _DECIMAL_RE.fullmatch(token) else _number_problem(token)
    errors.append(f"{_where(column)}: {_quote(token)} {problem}; {_WHOLE_ALLOWED[column]}")
    return None


def _degrees(token: str, errors: list[str]) -> tuple[str, int | None]:
    """Column 5: the sign (``''``, ``'+'`` or ``'-'``) and the whole degrees 0-90."""
    match = _SIGNED_INT_RE.fullmatch(token)
    if match is None:
        if token[0] in _NON_ASCII_DASHES and _UINT_RE.fullmatch(token[1:]):
            problem = "starts with a typographic dash; write the minus sign as a plain '-'"
        elif _SIGNED_INT_RE.fullmatch(token.replace(".", "", 1)):
            problem = "is not a whole number"
        else:
            problem = _number_problem(token.lstrip("+-") or token)
        errors.append(f"{_where(5)}: {_quote(token)} {problem}; {_WHOLE_ALLOWED[5]}")
        return "", None
    sign, digits = match.groups()
    digits = digits.lstrip("0") or "0"
    if len(digits) > 3 or int(digits) > 90:
        errors.append(f"{_where(5)}: {_quote(token)} is not in -90 to +90")
        return sign, None
    return sign, int(digits)


def _seconds(token: str, column: int, errors: list[str]) -> tuple[float, str] | None:
    """Columns 4, 7: ``0 <= s < 60`` as (value, text with a two-digit integer part)."""
    what = "R.A." if column == 4 else "Dec."
    if len(token) > _MAX_SECONDS_CHARS and _DECIMAL_RE.fullmatch(token):
        errors.append(
            f"{_where(column)}: {_quote(token)} is {len(token)} characters long; at most "
            f"{_MAX_SECONDS_CHARS} are accepted (a few decimals are plenty: 0.001 s is "
            "15 milliarcseconds)"
        )
        return None
    if _DECIMAL_RE.fullmatch(token):
        whole, point, fraction = token.partition(".")
        whole = whole.lstrip("0")
        if len(whole) <= 2 and int(whole or "0") < 60:
            return float(token), f"{whole:0>2}{point}{fraction}"
        errors.append(f"{_where(column)}: {_quote(token)} is not in 0 <= s < 60")
        return None
    problem = _number_problem(token)
    if column == 7 and problem.startswith("has a sign"):
        problem = "has a sign; the sign of the declination goes on the degrees (column 5)"
    errors.append(
        f"{_where(column)}: {_quote(token)} {problem}; {what} seconds are a decimal number "
        f"0 <= s < 60"
    )
    return None


def _side(token: str, column: int, max_side: float, errors: list[str]) -> float | None:
    """Columns 8, 9: a field side, arcmin, ``0 < value <= max_side``."""
    allowed = f"give a decimal number of arcmin greater than 0 and at most {max_side:g}"
    if _DECIMAL_RE.fullmatch(token):
        value = float(token)
        if value <= 0.0:
            errors.append(f"{_where(column)}: {_quote(token)} is not greater than 0; {allowed}")
            return None
        if value > max_side:
            errors.append(
                f"{_where(column)}: {_quote(token)} is larger than the maximum of "
                f"{max_side:g} arcmin; ask for a smaller field or split it"
            )
            return None
        return value
    errors.append(f"{_where(column)}: {_quote(token)} {_number_problem(token)}; {allowed}")
    return None


def _choice(
    token: str, column: int, choices: dict[str, _T], allowed: str, errors: list[str]
) -> _T | None:
    """A keyword column, case-insensitive (ASCII only)."""
    value = choices.get(token.upper()) if token.isascii() else None
    if value is None:
        errors.append(f"{_where(column)}: {_quote(token)} is not accepted here; {allowed}")
    return value


def _compression(token: str, errors: list[str]) -> Compression | None:
    """Column 13: a code of the compression table (case-insensitive)."""
    found = compression(token)
    if found is None:
        errors.append(
            f"{_where(13)}: {_quote(token)} is not accepted here; use {compressions_text()}"
        )
        return None
    return found.code


def _survey(token: str, errors: list[str]) -> Survey | None:
    """Column 11: a token of the survey table (case-insensitive), kept as given."""
    if band_row(token) is None:
        errors.append(
            f"{_where(11)}: {_quote(token)} is not accepted here; use "
            f"{survey_tokens_text()} (DSS2 is the red survey, DSS2B and DSS2I the blue "
            "and infrared ones)"
        )
        return None
    return token.upper()


def _mode(token: str, errors: list[str]) -> tuple[Mode | None, str | None]:
    """Column 12: ``e``, ``c``, ``n``, ``m`` (either case) or a PLATE-ID."""
    if token.isascii():
        mode = _MODES.get(token.lower())
        if mode is not None:
            return mode, None
        upper = token.upper()
        if REGION_ID_RE.fullmatch(upper):
            errors.append(
                f"{_where(12)}: {_quote(token)} looks like a REGION-ID (a survey field "
                "name); give the PLATE-ID of the plate instead (e.g. 04IN or 0025), "
                "or e, c, m or n"
            )
            return None, None
        if PLATE_ID_RE.fullmatch(upper):
            return PlateMode.PLATE, upper
    hint = ""
    if compression(token) is not None:
        hint = " (the compression goes in column 13, after the mode)"
    errors.append(
        f"{_where(12)}: {_quote(token)} is neither a mode nor a PLATE-ID; use e (edge), "
        f"c (centre), n (list the plates), m (mosaic) or a PLATE-ID of 2-6 letters and "
        f"digits such as 04IN{hint}"
    )
    return None, None


# --------------------------------------------------------------------------------------
# Request-wide steps
# --------------------------------------------------------------------------------------


def _assign_stems(pendings: Sequence[_Pending]) -> None:
    """Make stems unique within the request, ignoring case (see :mod:`.naming`)."""
    for p, stem in zip(pendings, file_stems_unique([p.stem for p in pendings]), strict=True):
        p.stem = stem


def _fk4_b1950_to_fk5_j2000(
    ra_deg: list[float], dec_deg: list[float]
) -> tuple[list[float], list[float]]:
    """FK4 (equinox B1950, epoch B1950) -> FK5 (equinox J2000), degrees, one astropy call.

    The epoch (``obstime``) B1950 means the positions are taken as they were in 1950: no
    proper motion is known, so none is applied. The E-terms of aberration are removed
    by astropy as part of the FK4 -> FK5 transformation.
    """
    # Imported here: astropy.coordinates takes about a second to import, and most lists
    # are J2000 only.
    import astropy.units as u  # type: ignore[import-untyped,unused-ignore]
    import numpy as np
    from astropy.coordinates import FK4, FK5, SkyCoord  # type: ignore[import-untyped,unused-ignore]

    coords = SkyCoord(
        ra=np.asarray(ra_deg, dtype=float) * u.deg,
        dec=np.asarray(dec_deg, dtype=float) * u.deg,
        frame=FK4(equinox="B1950", obstime="B1950"),
    ).transform_to(FK5(equinox="J2000"))
    ras: list[float] = coords.ra.deg.tolist()  # a Longitude: already in [0, 360)
    decs: list[float] = coords.dec.deg.tolist()
    return ras, decs


def example_lines_text() -> str:
    """:data:`EXAMPLE_LINES` with their columns aligned, one per line."""
    rows = [line.split() for line in EXAMPLE_LINES]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join(
        " ".join(token.ljust(width) for token, width in zip(row, widths, strict=True)).rstrip()
        + "\n"
        for row in rows
    )


def _format_decimal(value: float) -> str:
    """Shortest round-tripping plain decimal (no exponent) for a finite float."""
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text
