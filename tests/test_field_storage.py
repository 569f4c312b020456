"""Every value the parser accepts fits what the database stores (issue 12, item 8).

Run on PostgreSQL too (``DATABASE_URL``): there a value longer than a ``varchar(n)`` column
is an error, where SQLite stores it silently.
"""

from __future__ import annotations

import pytest
from django.db import models

from extraction.models import Field
from extraction.services.requests import request_create_from_text
from extraction.text.requestlist import parse_request_list

#: Lines at the limits of every column the parser accepts.
EXTREME_LINES = [
    "I" * 64 + " 23 59 59.99999999999999999 -90 00 00.00000000000000000 60 60 J2000 DSS2I e X",
    "\u00e9\u00e8\u00ea" * 21
    + "x 00000023 00059 00000000000000059.99 +0000090 00 0 .1 .1 b1950 dss2b n g",
    "a.b+c-d_e 0 0 0. -00 59 59.99999999999999999 0.001 0.001 J2000 DSS1 n",
    "dup 1 2 3 +4 5 6 7 8 J2000 DSS2R c U",
    "dup 1 2 3 +4 5 6 7 8 J2000 DSS2R c U",
]


def char_limits() -> dict[str, int]:
    return {
        f.name: f.max_length
        for f in Field._meta.get_fields()
        if isinstance(f, models.CharField) and f.max_length
    }


def test_the_extreme_lines_are_accepted_and_fit_every_column() -> None:
    parsed = parse_request_list("\n".join(EXTREME_LINES))
    assert not parsed.errors, [line.error for line in parsed.errors]
    limits = char_limits()
    for spec in parsed.fields:
        values = {
            "identifier": spec.identifier,
            "stem": spec.stem,
            "equinox": spec.equinox,
            "ra_text": spec.ra_text,
            "dec_text": spec.dec_text,
            "survey": spec.survey,
            "mode": spec.mode,
            "plate_id_asked": spec.plate_id or "",
            "compression": spec.compression,
        }
        for name, value in values.items():
            assert len(value) <= limits[name], (name, value)


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        ("x 12 0 1." + "0" * 45 + " +10 0 0 10 10 J2000 DSS1 e", "column 4", "at most 20"),
        ("x 12 0 0 +10 0 0." + "0" * 40 + " 10 10 J2000 DSS1 e", "column 7", "at most 20"),
        ("x\x00y 12 0 0 +10 0 0 10 10 J2000 DSS1 e", "column 1", "control or invalid"),
        ("x\ud800 12 0 0 +10 0 0 10 10 J2000 DSS1 e", "column 1", "control or invalid"),
    ],
)
def test_values_a_column_cannot_hold_are_refused_with_a_clear_message(
    line: str, column: str, message: str
) -> None:
    (bad,) = parse_request_list(line).errors
    assert column in str(bad.error) and message in str(bad.error)


@pytest.mark.django_db
def test_the_extreme_lines_are_stored_and_the_long_ones_rejected(make_user) -> None:
    text = "\n".join([*EXTREME_LINES, "long 12 0 1." + "0" * 45 + " +10 0 0 10 10 J2000 DSS1 e"])
    outcome = request_create_from_text(user=make_user(), text=text, source="web")
    assert outcome.request.n_fields == len(EXTREME_LINES)
    (rejected,) = outcome.rejected
    assert rejected["line"] == len(EXTREME_LINES) + 1
    stored = list(outcome.request.fields.order_by("line_no"))
    assert stored[0].ra_text == "23 59 59.99999999999999999"
    assert stored[1].identifier.startswith("\u00e9\u00e8\u00ea")
    assert [f.stem for f in stored[3:]] == ["dup", "dup_2"]
