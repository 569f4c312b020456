"""The request-list and deletion-list language (``extraction.text.requestlist``).

Pure pytest: no Django. B1950 answers come from independent astropy calls made here.
"""

from __future__ import annotations

import math
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from extraction.text.requestlist import (
    FITS_BLOCK_BYTES,
    FITS_HEADER_BLOCKS,
    DeletionEntry,
    Equinox,
    FieldSpec,
    Mode,
    ParsedLine,
    ParsedList,
    example_lines_text,
    expected_bytes,
    format_field_line,
    parse_deletion_list,
    parse_request_list,
)

ROOT = Path(__file__).resolve().parents[1]

EXAMPLE = (
    "field01 12      5       13      30      45      32      10.     10.     B1950   DSS1"
    "    e       G\n"
    "N7793   23      57      49.4    -32     35      24.     60.     60.     J2000   DSS1"
    "    04IN    U\n"
    "NGC253  0       47      34.3    -25     17      32.     45.     45.     J2000   DSS2"
    "    c       B\n"
)

#: A valid 13-column line, column by column (index 0 is column 1).
BASE = ["f1", "12", "05", "13", "+30", "45", "32", "10.", "10.", "J2000", "DSS1", "e", "G"]

ONE_MAS_DEG = 1e-3 / 3600.0

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def line_with(**columns: str) -> str:
    """``BASE`` with some columns replaced: ``line_with(c6="75")``."""
    tokens = list(BASE)
    for key, value in columns.items():
        tokens[int(key[1:]) - 1] = value
    return " ".join(tokens)


def parse_one(text: str, **kwargs: Any) -> ParsedLine:
    parsed = parse_request_list(text, **kwargs)
    assert len(parsed.lines) == 1, parsed
    return parsed.lines[0]


def field_of(text: str, **kwargs: Any) -> FieldSpec:
    result = parse_one(text, **kwargs)
    assert result.error is None, result.error
    assert result.field is not None
    return result.field


def error_of(text: str, **kwargs: Any) -> str:
    result = parse_one(text, **kwargs)
    assert result.field is None, result.field
    assert result.error
    return result.error


def fk4_to_fk5(ra_deg: float, dec_deg: float) -> tuple[float, float]:
    """Independent reference: one position, FK4 B1950 (epoch B1950) -> FK5 J2000."""
    import astropy.units as u
    from astropy.coordinates import FK4, FK5, SkyCoord

    c = SkyCoord(
        ra_deg * u.deg, dec_deg * u.deg, frame=FK4(equinox="B1950", obstime="B1950")
    ).transform_to(FK5(equinox="J2000"))
    return float(c.ra.deg), float(c.dec.deg)


def separation_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Angular separation (Vincenty), degrees."""
    ra1, dec1, ra2, dec2 = map(math.radians, (ra1, dec1, ra2, dec2))
    dra = ra2 - ra1
    num = math.hypot(
        math.cos(dec2) * math.sin(dra),
        math.cos(dec1) * math.sin(dec2) - math.sin(dec1) * math.cos(dec2) * math.cos(dra),
    )
    den = math.sin(dec1) * math.sin(dec2) + math.cos(dec1) * math.cos(dec2) * math.cos(dra)
    return math.degrees(math.atan2(num, den))


# --------------------------------------------------------------------------------------
# The three example lines of the description
# --------------------------------------------------------------------------------------


def test_the_example_lines_the_pages_and_mails_show_are_those_of_the_description() -> None:
    shown = parse_request_list(example_lines_text())
    described = parse_request_list(EXAMPLE)
    assert not shown.errors and shown.fields == described.fields


def test_example_lines_parse_exactly() -> None:
    parsed = parse_request_list(EXAMPLE)
    assert not parsed.errors
    field01, n7793, ngc253 = parsed.fields

    assert field01.identifier == "field01"
    assert (field01.ra_text, field01.dec_text) == ("12 05 13", "+30 45 32")
    assert field01.ra_given_deg == pytest.approx((12 + 5 / 60 + 13 / 3600) * 15, abs=1e-12)
    assert field01.dec_given_deg == pytest.approx(30 + 45 / 60 + 32 / 3600, abs=1e-12)
    assert field01.equinox == "B1950"
    ra, dec = fk4_to_fk5(field01.ra_given_deg, field01.dec_given_deg)
    assert separation_deg(field01.ra_deg, field01.dec_deg, ra, dec) < ONE_MAS_DEG
    assert (field01.width_arcmin, field01.height_arcmin) == (10.0, 10.0)
    assert (field01.survey, field01.mode, field01.plate_id) == ("DSS1", "e", None)
    assert field01.compression == "G"
    assert field01.file_name == "field01.fits.gz"

    assert n7793.identifier == "N7793"
    assert (n7793.ra_text, n7793.dec_text) == ("23 57 49.4", "-32 35 24.")
    assert n7793.ra_deg == n7793.ra_given_deg
    assert n7793.ra_deg == pytest.approx((23 + 57 / 60 + 49.4 / 3600) * 15, abs=1e-12)
    assert n7793.dec_deg == pytest.approx(-(32 + 35 / 60 + 24 / 3600), abs=1e-12)
    assert n7793.equinox == "J2000"
    assert (n7793.width_arcmin, n7793.height_arcmin) == (60.0, 60.0)
    assert (n7793.survey, n7793.mode, n7793.plate_id) == ("DSS1", "plate", "04IN")
    assert n7793.compression == "U"
    assert n7793.file_name == "N7793.fits"

    assert ngc253.ra_deg == pytest.approx((0 + 47 / 60 + 34.3 / 3600) * 15, abs=1e-12)
    assert ngc253.dec_deg == pytest.approx(-(25 + 17 / 60 + 32 / 3600), abs=1e-12)
    assert (ngc253.width_arcmin, ngc253.height_arcmin) == (45.0, 45.0)
    assert (ngc253.survey, ngc253.mode, ngc253.plate_id) == ("DSS2", "c", None)
    assert ngc253.compression == "B"
    assert ngc253.file_name == "NGC253.fits.bz2"

    assert [line.line_no for line in parsed] == [1, 2, 3]
    assert parsed.lines[1].raw == EXAMPLE.splitlines()[1]


# --------------------------------------------------------------------------------------
# Columns: accepted values
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "ra_deg", "dec_deg"),
    [
        ({"c2": "0", "c3": "0", "c4": "0"}, 0.0, None),
        ({"c2": "5", "c3": "5", "c4": "5"}, (5 + 5 / 60 + 5 / 3600) * 15, None),
        ({"c2": "05", "c3": "05", "c4": "05"}, (5 + 5 / 60 + 5 / 3600) * 15, None),
        ({"c2": "12", "c3": "5", "c4": "13."}, (12 + 5 / 60 + 13 / 3600) * 15, None),
        ({"c2": "23", "c3": "59", "c4": "59.99"}, (23 + 59 / 60 + 59.99 / 3600) * 15, None),
        ({"c2": "1", "c3": "0", "c4": ".5"}, (1 + 0.5 / 3600) * 15, None),
        ({"c5": "-00", "c6": "30", "c7": "00"}, None, -0.5),
        ({"c5": "-00", "c6": "00", "c7": "30"}, None, -30 / 3600),
        ({"c5": "-0", "c6": "0", "c7": "30."}, None, -30 / 3600),
        ({"c5": "+00", "c6": "30", "c7": "00"}, None, 0.5),
        ({"c5": "00", "c6": "30", "c7": "00"}, None, 0.5),
        ({"c5": "+90", "c6": "00", "c7": "00"}, None, 90.0),
        ({"c5": "-90", "c6": "0", "c7": "0.000"}, None, -90.0),
        ({"c5": "-89", "c6": "59", "c7": "59.99"}, None, -(89 + 59 / 60 + 59.99 / 3600)),
        ({"c5": "-00", "c6": "00", "c7": "00"}, None, 0.0),
    ],
)
def test_positions_accepted(
    columns: dict[str, str], ra_deg: float | None, dec_deg: float | None
) -> None:
    field = field_of(line_with(**columns))
    if ra_deg is not None:
        assert field.ra_deg == pytest.approx(ra_deg, abs=1e-12)
        assert field.ra_given_deg == field.ra_deg
    if dec_deg is not None:
        assert field.dec_deg == pytest.approx(dec_deg, abs=1e-12)
        assert field.dec_given_deg == field.dec_deg


def test_negative_zero_declination_keeps_its_sign_in_text_but_is_never_minus_zero() -> None:
    field = field_of(line_with(c5="-00", c6="00", c7="00"))
    assert field.dec_text == "-00 00 00"
    assert math.copysign(1.0, field.dec_deg) == 1.0
    assert field_of(line_with(c5="00", c6="30", c7="00")).dec_text == "+00 30 00"


def test_seconds_that_round_to_sixty_wrap_ra_into_range() -> None:
    field = field_of(line_with(c2="23", c3="59", c4="59.99999999999999999"))
    assert 0.0 <= field.ra_deg < 360.0


@pytest.mark.parametrize("token", ["10", "10.", "10.0", ".5", "0.001", "60", "60.", "060.000"])
def test_sizes_accepted(token: str) -> None:
    field = field_of(line_with(c8=token, c9=token))
    assert field.width_arcmin == field.height_arcmin == float(token)


def test_max_side_is_configurable() -> None:
    assert field_of(line_with(c8="90", c9="90"), max_side_arcmin=120).width_arcmin == 90.0
    error = error_of(line_with(c8="30", c9="10"), max_side_arcmin=20)
    assert "column 8" in error and "'30'" in error and "20 arcmin" in error


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ({"c10": "j2000"}, {"equinox": "J2000"}),
        ({"c10": "b1950"}, {"equinox": "B1950"}),
        ({"c11": "dss1"}, {"survey": "DSS1"}),
        ({"c11": "dss2"}, {"survey": "DSS2"}),
        ({"c11": "DSS2R"}, {"survey": "DSS2R"}),
        ({"c11": "dss2b"}, {"survey": "DSS2B"}),
        ({"c11": "Dss2I"}, {"survey": "DSS2I"}),
        ({"c12": "E"}, {"mode": "e", "plate_id": None}),
        ({"c12": "C"}, {"mode": "c", "plate_id": None}),
        ({"c12": "n"}, {"mode": "n", "plate_id": None}),
        ({"c12": "m"}, {"mode": "m", "plate_id": None}),
        ({"c12": "M"}, {"mode": "m", "plate_id": None}),
        ({"c12": "04in"}, {"mode": "plate", "plate_id": "04IN"}),
        ({"c12": "0025"}, {"mode": "plate", "plate_id": "0025"}),
        ({"c12": "A0Q5"}, {"mode": "plate", "plate_id": "A0Q5"}),
        ({"c12": "XJ12"}, {"mode": "plate", "plate_id": "XJ12"}),
        ({"c12": "ABC123"}, {"mode": "plate", "plate_id": "ABC123"}),
        ({"c13": "g"}, {"compression": "G"}),
        ({"c13": "b"}, {"compression": "B"}),
        ({"c13": "x"}, {"compression": "X"}),
        ({"c13": "u"}, {"compression": "U"}),
    ],
)
def test_keywords_are_case_insensitive(columns: dict[str, str], expected: dict[str, Any]) -> None:
    field = field_of(line_with(**columns))
    for name, value in expected.items():
        assert getattr(field, name) == value


def test_survey_base_and_band() -> None:
    bands = {"DSS1": None, "DSS2": "R", "DSS2R": "R", "DSS2B": "B", "DSS2I": "I"}
    for survey, band in bands.items():
        field = field_of(line_with(c11=survey))
        assert field.band == band
        assert field.survey_base == ("DSS1" if survey == "DSS1" else "DSS2")


def test_twelve_columns_default_to_no_compression() -> None:
    field = field_of(" ".join(BASE[:12]))
    assert field.compression == "U"
    assert field.file_name == "f1.fits"


@pytest.mark.parametrize(
    ("compression", "name"), [("G", "f1.fits.gz"), ("B", "f1.fits.bz2"), ("X", "f1.fits.xz")]
)
def test_file_names(compression: str, name: str) -> None:
    assert field_of(line_with(c13=compression)).file_name == name


@pytest.mark.parametrize("count", [1, 2, 11, 14, 20])
def test_wrong_column_counts_are_refused_with_the_count(count: int) -> None:
    tokens = (BASE * 2)[:count]
    error = error_of(" ".join(tokens))
    assert error.startswith(f"{count} column")
    assert "12 or 13 columns are expected" in error


def test_trailing_comment_gets_a_hint() -> None:
    error = error_of(" ".join(BASE) + " # my favourite galaxy")
    assert "comment must be on a line of its own" in error


def test_any_whitespace_separates_columns() -> None:
    text = "\t f1\t\t12 \t 05  13\t+30 45\u00a032 10. 10. J2000 DSS1 e G \t "
    assert field_of(text).ra_text == "12 05 13"


# --------------------------------------------------------------------------------------
# Columns: refused values and their messages
# --------------------------------------------------------------------------------------

COLUMN_ERRORS = [
    (2, "24", "is not in 0-23"),
    (2, "99999999999", "is not in 0-23"),
    (2, "-1", "has a sign"),
    (2, "+1", "has a sign"),
    (2, "1.5", "is not a whole number"),
    (2, "1e1", "exponent notation"),
    (2, "nan", "not a finite number"),
    (2, "twelve", "is not a number"),
    (2, "\uff11\uff12", "is not a number"),
    (3, "60", "is not in 0-59"),
    (3, "-0", "has a sign"),
    (3, "5.", "is not a whole number"),
    (4, "60", "is not in 0 <= s < 60"),
    (4, "60.0", "is not in 0 <= s < 60"),
    (4, "123.4", "is not in 0 <= s < 60"),
    (4, "-1", "has a sign"),
    (4, "1.5e1", "exponent notation"),
    (4, "inf", "not a finite number"),
    (4, "13,5", "decimal comma"),
    (4, "1.2.3", "is not a number"),
    (4, ".", "is not a number"),
    (5, "91", "is not in -90 to +90"),
    (5, "-91", "is not in -90 to +90"),
    (5, "+100", "is not in -90 to +90"),
    (5, "30.5", "is not a whole number"),
    (5, "\u221232", "typographic dash"),
    (5, "\u201332", "typographic dash"),
    (5, "+-5", "is not a number"),
    (5, "-", "is not a number"),
    (6, "75", "is not in 0-59"),
    (6, "-5", "the sign goes on the degrees"),
    (6, "5.5", "is not a whole number"),
    (7, "60", "is not in 0 <= s < 60"),
    (7, "-5", "the sign of the declination goes on the degrees (column 5)"),
    (7, "NaN", "not a finite number"),
    (8, "0", "is not greater than 0"),
    (8, "0.000", "is not greater than 0"),
    (8, "60.001", "larger than the maximum of 60 arcmin"),
    (8, "-5", "has a sign"),
    (8, "+5", "has a sign"),
    (8, "1e1", "exponent notation"),
    (8, "1E+01", "exponent notation"),
    (8, "Infinity", "not a finite number"),
    (8, "10'", "is not a number"),
    (9, "61", "larger than the maximum of 60 arcmin"),
    (9, "-inf", "not a finite number"),
    (9, "10,0", "decimal comma"),
    (10, "J2001", "use J2000 or B1950"),
    (10, "2000", "use J2000 or B1950"),
    (10, "FK5", "use J2000 or B1950"),
    (11, "DSS3", "use DSS1, DSS2, DSS2R, DSS2B or DSS2I"),
    (11, "dss2\u0131", "use DSS1, DSS2"),  # dotless i: upper-cases to DSS2I, still refused
    (11, "POSS", "use DSS1, DSS2"),
    (12, "S134", "REGION-ID"),
    (12, "T025", "or e, c, m or n"),  # every mode named
    (12, "s134", "REGION-ID"),
    (12, "XE123", "REGION-ID"),
    (12, "XJ316", "REGION-ID"),
    (12, "N123", "REGION-ID"),
    (12, "x", "neither a mode nor a PLATE-ID"),
    (12, "G", "compression goes in column 13"),
    (12, "TOOLONG1", "neither a mode nor a PLATE-ID"),
    (12, "04-IN", "neither a mode nor a PLATE-ID"),
    (12, "\u212a\u212a", "neither a mode nor a PLATE-ID"),  # Kelvin signs
    (13, "Z", "use G (gzip), B (bzip2), X (xz) or U (none)"),
    (13, "gz", "use G (gzip)"),
]


@pytest.mark.parametrize(("column", "token", "fragment"), COLUMN_ERRORS)
def test_column_errors_name_the_column_quote_the_value_and_say_why(
    column: int, token: str, fragment: str
) -> None:
    error = error_of(line_with(**{f"c{column}": token}))
    assert error.startswith(f"column {column} ("), error
    assert f"'{token}'" in error, error
    assert fragment in error, error
    assert ";" not in error.split(": ", 1)[0]


def test_example_error_message_style() -> None:
    error = error_of(line_with(c6="75"))
    assert error == "column 6 (Dec. minutes): '75' is not in 0-59"


@pytest.mark.parametrize(
    ("d", "m", "s"), [("+90", "00", "01"), ("-90", "01", "00"), ("90", "0", "0.001")]
)
def test_declination_beyond_the_pole_is_refused(d: str, m: str, s: str) -> None:
    error = error_of(line_with(c5=d, c6=m, c7=s))
    assert error.startswith("columns 5-7 (Dec.)")
    assert f"'{d} {m} {s}'" in error
    assert "at most 90 degrees" in error


def test_every_problem_of_a_line_is_reported_in_column_order() -> None:
    error = error_of(line_with(c2="24", c6="75", c11="DSS3", c13="Z"))
    parts = error.split("; ")
    columns = [int(m.group(1)) for m in re.finditer(r"(?:^|; )column (\d+)", error)]
    assert columns == [2, 6, 11, 13]
    assert parts[0] == "column 2 (R.A. hours): '24' is not in 0-23"


def test_identifier_of_64_characters_is_accepted_65_refused() -> None:
    assert field_of(line_with(c1="x" * 64)).identifier == "x" * 64
    error = error_of(line_with(c1="y" * 65))
    assert error.startswith("column 1 (identifier)")
    assert "'" + "y" * 65 + "'" in error
    assert "65 characters" in error and "at most 64" in error


def test_messages_escape_control_characters_and_cut_long_tokens() -> None:
    error = error_of(line_with(c11="DSS\x001"))
    assert "\x00" not in error and "'DSS\\x001'" in error
    error = error_of(line_with(c11="D" * 5000))
    assert len(error) < 300


# --------------------------------------------------------------------------------------
# Lines that are not fields
# --------------------------------------------------------------------------------------


def test_blank_and_comment_lines_are_ignored_and_numbering_counts_them() -> None:
    text = f"# my list\n\n   \t\n  # indented comment\n{' '.join(BASE)}\n#\n"
    parsed = parse_request_list(text)
    assert [line.line_no for line in parsed] == [5]
    assert parsed.signature_line_no is None


@pytest.mark.parametrize("signature", ["--", "-- "])
def test_signature_ends_the_list(signature: str) -> None:
    text = f"{' '.join(BASE)}\n{signature}\nJohn Smith\nnot a field at all\n"
    parsed = parse_request_list(text)
    assert len(parsed) == 1 and parsed.lines[0].ok
    assert parsed.signature_line_no == 2


def test_signature_with_crlf_ends_the_list() -> None:
    parsed = parse_request_list(" ".join(BASE) + "\r\n-- \r\nJohn\r\n")
    assert parsed.signature_line_no == 2 and len(parsed) == 1


@pytest.mark.parametrize("line", [" --", "--x", "--  ", "--\t", " -- ", "---"])
def test_near_signatures_do_not_end_the_list(line: str) -> None:
    parsed = parse_request_list(f"{line}\n{' '.join(BASE)}\n")
    assert parsed.signature_line_no is None
    first, second = parsed.lines
    assert first.error is not None and first.raw == line
    assert second.ok
    if line.strip() in ("--", "-- "):
        assert "exactly '--' or '-- '" in first.error


def test_line_endings_bom_and_numbering() -> None:
    good = " ".join(BASE)
    text = f"\ufeff{good}\r\n\r\n{good}\rjunk\n{good}"
    parsed = parse_request_list(text)
    assert [(line.line_no, line.ok) for line in parsed] == [
        (1, True),
        (3, True),
        (4, False),
        (5, True),
    ]
    assert parsed.lines[0].raw == good  # BOM dropped
    assert parsed.lines[2].raw == "junk"


def test_form_feed_and_unicode_separators_do_not_end_lines() -> None:
    parsed = parse_request_list(f"{' '.join(BASE)}\u2028{' '.join(BASE)}\n")
    assert len(parsed) == 1 and not parsed.lines[0].ok


def test_lines_beyond_max_lines_get_an_error_each() -> None:
    good = " ".join(BASE)
    text = "# header\n" + "\n".join([good] * 5) + "\nbad line\n"
    parsed = parse_request_list(text, max_lines=3)
    assert [line.ok for line in parsed] == [True, True, True, False, False, False]
    for line in parsed.lines[3:]:
        assert line.error is not None
        assert "more than 3 fields" in line.error and "split" in line.error


def test_default_max_lines_is_2000() -> None:
    good = " ".join(BASE)
    parsed = parse_request_list("\n".join([good] * 2001))
    assert len(parsed.fields) == 2000
    (last,) = parsed.errors
    assert last.line_no == 2001
    assert last.error is not None
    assert "request has more than 2000 fields" in last.error
    assert "split it into several messages" in last.error or "several messages" in last.error


# --------------------------------------------------------------------------------------
# Stems
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifiers", "stems"),
    [
        (["a", "a", "a"], ["a", "a_2", "a_3"]),
        (["a", "a", "a_2"], ["a", "a_3", "a_2"]),
        (["a_2", "a", "a"], ["a_2", "a", "a_3"]),
        (["a*", "a?", "a_"], ["a_", "a__2", "a__3"]),
        (["a*", "a?", "a__2"], ["a_", "a__3", "a__2"]),
        (["NGC253", "ngc253"], ["NGC253", "ngc253_2"]),
        (
            ["M31/core", "x:y", "r\u00e9gion", "a+b-c.d_e"],
            ["M31_core", "x_y", "r_gion", "a+b-c.d_e"],
        ),
        ([".hidden", "..", "-x"], ["_hidden", "_.", "_x"]),
    ],
)
def test_stems_are_safe_and_unique(identifiers: list[str], stems: list[str]) -> None:
    text = "\n".join(line_with(c1=identifier) for identifier in identifiers)
    parsed = parse_request_list(text)
    assert [field.identifier for field in parsed.fields] == identifiers
    assert [field.stem for field in parsed.fields] == stems


def test_many_repeats_stay_unique() -> None:
    text = "\n".join(line_with(c1=identifier) for identifier in ["a"] * 300 + ["a_5", "a_2"])
    stems = [field.stem for field in parse_request_list(text).fields]
    assert len(set(stems)) == len(stems)
    assert stems[-2:] == ["a_5", "a_2"]
    assert all(re.fullmatch(r"[A-Za-z0-9._+-]+", stem) for stem in stems)


def test_rejected_lines_do_not_take_stems() -> None:
    text = f"{line_with(c1='a', c2='99')}\n{line_with(c1='a')}"
    assert [field.stem for field in parse_request_list(text).fields] == ["a"]


# --------------------------------------------------------------------------------------
# B1950 -> J2000
# --------------------------------------------------------------------------------------


def _sexagesimal(ra_deg: float, dec_deg: float) -> tuple[list[str], float, float]:
    """Columns 2-7 for a position (RA seconds to 3 decimals, Dec seconds to 2) and the
    exact degrees those columns mean."""
    ra_ms = round(ra_deg / 15 * 3600 * 1000)
    ra_ms = min(ra_ms, 24 * 3600 * 1000 - 1)
    h, rest = divmod(ra_ms, 3600 * 1000)
    m, s_ms = divmod(rest, 60 * 1000)
    dec_cs = round(abs(dec_deg) * 3600 * 100)
    d, rest = divmod(dec_cs, 3600 * 100)
    dm, ds_cs = divmod(rest, 60 * 100)
    sign = "-" if dec_deg < 0 else "+"
    columns = [
        str(h),
        str(m),
        f"{s_ms / 1000:.3f}",
        f"{sign}{d:02d}",
        str(dm),
        f"{ds_cs / 100:.2f}",
    ]
    ra_exact = (h + m / 60 + s_ms / 1000 / 3600) * 15
    dec_exact = (d + dm / 60 + ds_cs / 100 / 3600) * (-1 if sign == "-" else 1)
    return columns, ra_exact, dec_exact


def test_b1950_conversion_matches_astropy_all_over_the_sky() -> None:
    rng = random.Random(1950)
    positions = [
        (0.0, 0.0),
        (0.0, 89.99),
        (180.0, -89.99),
        (45.0, 90.0),
        (300.0, -90.0),
        (0.0, -30.0),
        ((23 + 59 / 60 + 59.99 / 3600) * 15, 10.0),
        ((23 + 59 / 60 + 59.999 / 3600) * 15, -89.5),
        (359.99999, 0.0),
        (266.4, -28.94),  # Galactic centre
        (192.85, 27.13),  # North Galactic pole
    ]
    positions += [
        (rng.uniform(0, 360), math.degrees(math.asin(rng.uniform(-1, 1)))) for _ in range(60)
    ]
    lines, given = [], []
    for i, (ra, dec) in enumerate(positions):
        columns, ra_exact, dec_exact = _sexagesimal(ra, dec)
        lines.append(" ".join([f"p{i}", *columns, "1", "1", "B1950", "DSS2", "c"]))
        given.append((ra_exact, dec_exact))
    parsed = parse_request_list("\n".join(lines))
    assert not parsed.errors
    for field, (ra_exact, dec_exact) in zip(parsed.fields, given, strict=True):
        assert field.equinox == "B1950"
        assert field.ra_given_deg == pytest.approx(ra_exact, abs=1e-11)
        assert field.dec_given_deg == pytest.approx(dec_exact, abs=1e-11)
        ra_ref, dec_ref = fk4_to_fk5(ra_exact, dec_exact)
        assert separation_deg(field.ra_deg, field.dec_deg, ra_ref, dec_ref) < ONE_MAS_DEG
        assert 0.0 <= field.ra_deg < 360.0
        assert -90.0 <= field.dec_deg <= 90.0
        if abs(dec_ref) < 89.0:  # away from the poles RA itself is well defined
            dra = (field.ra_deg - ra_ref + 180.0) % 360.0 - 180.0
            assert_allclose(dra * math.cos(math.radians(dec_ref)), 0.0, atol=ONE_MAS_DEG)
            assert_allclose(field.dec_deg, dec_ref, atol=ONE_MAS_DEG, rtol=0)


def test_mixed_equinoxes_keep_their_order_and_j2000_is_untouched() -> None:
    text = "\n".join(
        [
            line_with(c1="a", c10="J2000"),
            line_with(c1="b", c10="B1950"),
            "junk",
            line_with(c1="c", c10="J2000"),
        ]
    )
    a, b, c = parse_request_list(text).fields
    assert (a.ra_deg, a.dec_deg) == (a.ra_given_deg, a.dec_given_deg)
    assert (c.ra_deg, c.dec_deg) == (c.ra_given_deg, c.dec_given_deg)
    assert separation_deg(b.ra_deg, b.dec_deg, *fk4_to_fk5(b.ra_given_deg, b.dec_given_deg)) < (
        ONE_MAS_DEG
    )
    assert separation_deg(b.ra_deg, b.dec_deg, b.ra_given_deg, b.dec_given_deg) > 0.1


def test_j2000_lists_do_not_import_astropy() -> None:
    code = (
        "import sys\n"
        "from extraction.text.requestlist import parse_request_list\n"
        f"parsed = parse_request_list({' '.join(BASE)!r})\n"
        "assert parsed.fields, parsed\n"
        "print('astropy.coordinates' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------------------
# Sizes
# --------------------------------------------------------------------------------------


def test_expected_bytes_match_the_original_figures() -> None:
    header = FITS_HEADER_BLOCKS * FITS_BLOCK_BYTES
    dss1 = expected_bytes(field_of(line_with(c11="DSS1")))
    dss2 = expected_bytes(field_of(line_with(c11="DSS2")))
    assert dss1 % FITS_BLOCK_BYTES == 0 and dss2 % FITS_BLOCK_BYTES == 0
    # 10' x 10': 353 x 353 and 600 x 600 pixels of 2 bytes, padded to FITS blocks.
    assert dss1 - header == math.ceil(2 * 353 * 353 / FITS_BLOCK_BYTES) * FITS_BLOCK_BYTES
    assert dss2 - header == 720_000
    assert dss1 - header == pytest.approx(260_000, rel=0.05)
    for survey in ("DSS2R", "DSS2B", "DSS2I"):
        assert expected_bytes(field_of(line_with(c11=survey))) == dss2
    # Compression is not credited.
    assert expected_bytes(field_of(line_with(c11="DSS2", c13="X"))) == dss2


def test_expected_bytes_of_tiny_and_largest_fields() -> None:
    header = FITS_HEADER_BLOCKS * FITS_BLOCK_BYTES
    tiny = field_of(line_with(c8="0.0001", c9="0.0001"))
    assert expected_bytes(tiny) == header + FITS_BLOCK_BYTES
    assert expected_bytes(field_of(line_with(c8="0.1", c9="0.1", c11="DSS2"))) == (
        header + FITS_BLOCK_BYTES  # 6 x 6 pixels, not 7 x 7 from 0.1 * 60 = 6.000000000000001
    )
    big = field_of(line_with(c8="60", c9="60", c11="DSS2"))
    assert expected_bytes(big) == header + 2 * 3600 * 3600


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

_REFERENCE_LINE_SPLIT = re.compile(r"\r\n|\r|\n")
_LINE_BREAKS = st.sampled_from(["\n", "\r\n", "\r"])


def _reference_lines(text: str) -> list[tuple[int, str]]:
    """Non-ignored lines before the signature, computed independently of the parser."""
    result = []
    lines = _REFERENCE_LINE_SPLIT.split(text.removeprefix("\ufeff"))
    for number, raw in enumerate(lines, start=1):
        if raw in ("--", "-- "):
            break
        if raw.strip() and not raw.strip().startswith("#"):
            result.append((number, raw))
    return result


def _check_invariants(text: str, parsed: ParsedList) -> None:
    assert [(line.line_no, line.raw) for line in parsed] == _reference_lines(text)
    for line in parsed:
        assert (line.field is None) != (line.error is None)
        if line.error is not None:
            assert isinstance(line.error, str) and line.error
        else:
            assert line.field is not None
            assert re.fullmatch(r"[A-Za-z0-9._+-]+", line.field.stem)
    stems = [field.stem for field in parsed.fields]
    assert len(stems) == len(set(stems))


_TOKENS = st.one_of(
    st.sampled_from([*BASE, "-", "+", "#", "--", "B1950", "S134", "1e5", "nan", "-00", "-- "]),
    st.text(min_size=1, max_size=8),
    st.from_regex(r"[+-]?[0-9]{0,6}\.?[0-9]{0,4}", fullmatch=True),
)
_JUNK_LINES = st.one_of(
    st.text(max_size=200),
    st.lists(_TOKENS, min_size=0, max_size=16).map(" ".join),
    st.lists(_TOKENS, min_size=12, max_size=13).map("\t".join),
    st.sampled_from(["--", "-- ", " --", "#", "\ufeff", "\x00", "\u2028", "\x85"]),
)


@FAST
@given(st.lists(st.tuples(_JUNK_LINES, _LINE_BREAKS), max_size=30), st.booleans())
def test_arbitrary_text_never_raises(lines: list[tuple[str, str]], bom: bool) -> None:
    text = ("\ufeff" if bom else "") + "".join(line + end for line, end in lines)
    parsed = parse_request_list(text, max_lines=20)
    _check_invariants(text, parsed)
    for entry in parse_deletion_list(text):
        assert entry.ok == (entry.reason is None)


@FAST
@given(st.text(max_size=2000))
def test_arbitrary_unicode_never_raises(text: str) -> None:
    _check_invariants(text, parse_request_list(text))
    parse_deletion_list(text)


@pytest.mark.parametrize("column", range(1, 14))
def test_very_long_tokens_never_raise(column: int) -> None:
    for junk in ("9" * 5000, "9" * 5000 + "." + "9" * 5000, "x" * 100_000, "-" + "0" * 5000):
        text = line_with(**{f"c{column}": junk})
        (line,) = parse_request_list(text).lines
        assert (line.field is None) != (line.error is None)
        if line.error is not None:
            assert len(line.error) < 2000


@st.composite
def field_specs(draw: st.DrawFn) -> FieldSpec:
    """A valid FieldSpec, built here from its parts (not by the parser)."""
    identifier = draw(
        st.text(st.characters(exclude_categories=("Z", "C")), min_size=1, max_size=64).filter(
            lambda s: not s.startswith("#")
        )
    )
    fraction = st.one_of(st.just(""), st.just("."), st.from_regex(r"\.[0-9]{1,4}", fullmatch=True))
    h, m = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    s_text = f"{draw(st.integers(0, 59)):02d}{draw(fraction)}"
    sign = draw(st.sampled_from("+-"))
    d = draw(st.integers(0, 90))
    if d == 90:
        dm, ds_text = 0, "00"
    else:
        dm, ds_text = draw(st.integers(0, 59)), f"{draw(st.integers(0, 59)):02d}{draw(fraction)}"
    ra_given = (h + m / 60 + float(s_text) / 3600) * 15
    dec_given = (d + dm / 60 + float(ds_text) / 3600) * (-1 if sign == "-" else 1) + 0.0
    equinox = cast(Equinox, draw(st.sampled_from(["J2000", "B1950"])))
    ra, dec = fk4_to_fk5(ra_given, dec_given) if equinox == "B1950" else (ra_given, dec_given)
    size = st.floats(min_value=1e-7, max_value=60.0, exclude_min=True, allow_nan=False)
    mode = cast(Mode, draw(st.sampled_from(["e", "c", "n", "plate"])))
    plate_id = None
    if mode == "plate":
        plate_id = draw(
            st.from_regex(r"[A-Z0-9]{2,6}", fullmatch=True).filter(
                lambda s: not re.fullmatch(r"[A-Z]{1,2}[0-9]{3}", s)
            )
        )
    stem = re.sub(r"[^A-Za-z0-9._+-]", "_", identifier)
    stem = "_" + stem[1:] if stem.startswith((".", "-")) else stem  # no hidden file, no option
    return FieldSpec(
        identifier=identifier,
        stem=stem,
        ra_text=f"{h:02d} {m:02d} {s_text}",
        dec_text=f"{sign}{d:02d} {dm:02d} {ds_text}",
        ra_given_deg=ra_given,
        dec_given_deg=dec_given,
        equinox=equinox,
        ra_deg=ra,
        dec_deg=dec,
        width_arcmin=draw(size),
        height_arcmin=draw(size),
        survey=draw(st.sampled_from(["DSS1", "DSS2", "DSS2R", "DSS2B", "DSS2I"])),
        mode=mode,
        plate_id=plate_id,
        compression=draw(st.sampled_from("GBXU")),
    )


@FAST
@given(field_specs())
def test_format_then_parse_round_trips(spec: FieldSpec) -> None:
    line = format_field_line(spec)
    assert "e" not in line.split()[7] and "e" not in line.split()[8]  # no exponents
    back = field_of(line)
    for name in (
        "identifier",
        "stem",
        "ra_text",
        "dec_text",
        "equinox",
        "survey",
        "mode",
        "plate_id",
        "compression",
        "width_arcmin",
        "height_arcmin",
    ):
        assert getattr(back, name) == getattr(spec, name), name
    assert_allclose(
        [back.ra_given_deg, back.dec_given_deg], [spec.ra_given_deg, spec.dec_given_deg], atol=1e-9
    )
    assert separation_deg(back.ra_deg, back.dec_deg, spec.ra_deg, spec.dec_deg) < ONE_MAS_DEG
    assert field_of(format_field_line(back)) == back


def test_format_field_line_of_the_examples() -> None:
    lines = [format_field_line(field) for field in parse_request_list(EXAMPLE).fields]
    assert lines == [
        "field01 12 05 13 +30 45 32 10.0 10.0 B1950 DSS1 e G",
        "N7793 23 57 49.4 -32 35 24. 60.0 60.0 J2000 DSS1 04IN U",
        "NGC253 00 47 34.3 -25 17 32. 45.0 45.0 J2000 DSS2 c B",
    ]
    assert format_field_line(field_of(line_with(c8="0.00001"))).split()[7] == "0.00001"


def test_fields_are_frozen_and_hashable() -> None:
    field = field_of(" ".join(BASE))
    with pytest.raises(AttributeError):
        field.stem = "other"  # type: ignore[misc]
    assert len({field, field_of(" ".join(BASE))}) == 1
    assert np.isfinite([field.ra_deg, field.dec_deg]).all()


# --------------------------------------------------------------------------------------
# Deletion list
# --------------------------------------------------------------------------------------

GOOD = "dss-20261124-abcdefghijklm"


def _only(text: str) -> DeletionEntry:
    (entry,) = parse_deletion_list(text)
    return entry


def test_deletion_valid_names() -> None:
    text = f"# please delete\n\n{GOOD}\r\n  dss-20261201-a2b3c4d5e6f7g  \n"
    entries = parse_deletion_list(text)
    assert [(e.line_no, e.name, e.ok, e.reason) for e in entries] == [
        (3, GOOD, True, None),
        (4, "dss-20261201-a2b3c4d5e6f7g", True, None),
    ]
    assert entries[1].raw == "  dss-20261201-a2b3c4d5e6f7g  "


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("dss-20261124-*", "wildcards are not accepted"),
        ("dss-2026112?-abcdefghijklm", "wildcards are not accepted"),
        ("*", "wildcards are not accepted"),
        ("../dss-20261124-abcdefghijklm", "paths are not accepted"),
        ("..", "paths are not accepted"),
        ("/", "paths are not accepted"),
        (f"/srv/staging/{GOOD}", "paths are not accepted"),
        (f"{GOOD}/", "paths are not accepted"),
        ("a\\b", "paths are not accepted"),
        (f"{GOOD} {GOOD}", "2 names on one line"),
        ("please delete these", "3 names on one line"),
        ("m31 00 42 44.3 +41 16 09 5 5 J2000 DSS1 e U", "send request lists to the request"),
        ("results", "not a staging-directory name (they look like dss-20261124-abcdefghijklm"),
        ("dss-20261124-abc", "not a staging-directory name"),
        ("dss-20261124-abcdefghijkl1", "not a staging-directory name"),
        ("DSS-20261124-ABCDEFGHIJKLM", "are lower case"),
        ("dss-20261124-abcdefghijklm\u200b", "not a staging-directory name"),
    ],
)
def test_deletion_refusals(line: str, reason: str) -> None:
    entry = _only(line)
    assert not entry.ok
    assert entry.reason is not None and reason in entry.reason
    assert entry.name == line.strip()


@pytest.mark.parametrize("signature", ["--", "-- "])
def test_deletion_signature_ends_the_list(signature: str) -> None:
    entries = parse_deletion_list(f"{GOOD}\n{signature}\ndss-20261124-zzzzzzzzzzzzz\n")
    assert [e.name for e in entries] == [GOOD]


def test_deletion_near_signature_is_an_entry() -> None:
    (entry,) = parse_deletion_list(" --\n")
    assert not entry.ok and entry.name == "--"


def test_huge_tokens_are_handled_in_linear_time() -> None:
    columns = ["9" * 200_000 + "." + "9" * 200_000 + "x"] * 13
    start = time.process_time()  # CPU time: other processes on a busy machine do not count
    (line,) = parse_request_list(" ".join(columns)).lines
    assert line.error is not None
    assert time.process_time() - start < 2.0  # quadratic regexes would take minutes
