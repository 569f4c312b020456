"""`manage.py validate_request`: the contract other tools rely on (keys, exit codes).

The command checks plate ids against the catalogue, so most tests run it in-process on the
test database (``call_command``), with the plates a line names catalogued first.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from astropy.coordinates import FK4, FK5, SkyCoord
from django.core.management import call_command

from tests.factories import dss_header, register_plate

ROOT = Path(__file__).resolve().parent.parent
# The example lines exactly as the original description aligns them (spaces, not tabs).
EXAMPLE = "\n".join(
    [
        "field01 12      5       13      30      45      32      10.     10.     "
        "B1950   DSS1    e       G",
        "N7793   23      57      49.4    -32     35      24.     60.     60.     "
        "J2000   DSS1    04IN    U",
        "# a comment",
        "",
        "NGC253  0       47      34.3    -25     17      32.     45.     45.     "
        "J2000   DSS2    c       B",
        "",
    ]
)
KEYS = {
    "line",
    "ok",
    "error",
    "identifier",
    "ra_deg",
    "dec_deg",
    "width_arcmin",
    "height_arcmin",
    "equinox",
    "survey",
    "mode",
    "plate_id",
    "compression",
}


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def validate(*args: str, stdin: str | None = None) -> Result:
    """Run ``validate_request`` in-process on the test database."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO((stdin or "").encode()))
    code = 0
    try:
        call_command("validate_request", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.stdin = saved
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def catalogue(db: None) -> None:
    """Plate 04IN (DSS1, NGC 7793) and a DSS2 red plate 0444, catalogued offline."""
    register_plate(
        dss_header(359.456, -32.59, survey="DSS1", plate_id="04IN"), survey="DSS1", online=False
    )
    register_plate(
        dss_header(11.9, -25.3, survey="DSS2", plate_id="0444"),
        survey="DSS2",
        band="R",
        online=False,
    )


def validate_process(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``validate_request`` as a separate process (no database needed to fail early)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DSSPORTAL_")}
    environment.update(DJANGO_SETTINGS_MODULE="dssportal.settings_test")
    return subprocess.run(
        [sys.executable, "manage.py", "validate_request", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_json_lines_for_the_example_from_stdin(catalogue: None) -> None:
    result = validate("--json", "-", stdin=EXAMPLE)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["line"] for row in rows] == [1, 2, 5]
    assert all(set(row) == KEYS for row in rows)
    field01, n7793, ngc253 = rows
    j2000 = SkyCoord("12h05m13s", "+30d45m32s", frame=FK4(equinox="B1950", obstime="B1950"))
    j2000 = j2000.transform_to(FK5(equinox="J2000"))
    assert field01["ra_deg"] == pytest.approx(j2000.ra.deg, abs=1e-7)
    assert field01["dec_deg"] == pytest.approx(j2000.dec.deg, abs=1e-7)
    assert (field01["equinox"], field01["mode"], field01["compression"]) == ("B1950", "e", "G")
    assert (n7793["mode"], n7793["plate_id"], n7793["width_arcmin"]) == ("plate", "04IN", 60.0)
    assert n7793["ra_deg"] == pytest.approx((23 + 57 / 60 + 49.4 / 3600) * 15)
    assert (ngc253["survey"], ngc253["mode"], ngc253["plate_id"]) == ("DSS2", "c", None)
    assert ngc253["dec_deg"] == pytest.approx(-(25 + 17 / 60 + 32 / 3600))


def test_an_invalid_line_exits_1_and_says_why(catalogue: None, tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(EXAMPLE + "bad 12 75 00 +10 00 00 10 10 J2000 DSS1 e\n")
    result = validate("--json", str(listing))
    assert result.returncode == 1
    last = json.loads(result.stdout.splitlines()[-1])
    assert last["line"] == 6 and last["ok"] is False and last["identifier"] is None
    assert "column 3" in last["error"] and "75" in last["error"]
    human = validate(str(listing))
    assert human.returncode == 1
    assert "line 6: ERROR" in human.stdout and "3 valid field(s), 1 error(s)" in human.stdout


def test_a_utf16_list_reads_as_it_would_by_mail(catalogue: None, tmp_path: Path) -> None:
    listed = tmp_path / "list.txt"
    listed.write_bytes(EXAMPLE.encode("utf-16"))  # with its BOM, as Windows editors save it
    assert validate("--json", str(listed)).stdout == validate("--json", "-", stdin=EXAMPLE).stdout


def test_the_expected_size_is_what_the_receipt_counts_against_the_quota(
    catalogue: None, make_user
) -> None:
    """A plate list (mode n) takes staging space and counts in the quota: the report said
    0 bytes for it while the receipt counted it."""
    from extraction.services.requests import request_create_from_text
    from extraction.text.textformat import human_bytes

    listed = EXAMPLE + "plates 23 57 49.4 -32 35 24. 10. 10. J2000 DSS1 n\n"
    created = request_create_from_text(user=make_user(), text=listed, source="web")
    reserved = [field.expected_bytes for field in created.request.fields.order_by("line_no")]
    report = validate("-", stdin=listed).stdout
    assert "plate list  RA" in report and f"~{human_bytes(reserved[-1])}" in report
    assert reserved[-1] > 0
    assert f"expected size {human_bytes(sum(reserved))} uncompressed" in report


def test_a_line_with_several_problems_names_its_unknown_plate_too(catalogue: None) -> None:
    """Every problem of a line at once: the catalogue's check of the PLATE-ID ran only on
    lines valid otherwise, so the user learnt of an unknown plate a round trip later."""
    bad_ra = validate("--json", "-", stdin="a 24 42 44.3 +41 16 09 1 1 J2000 DSS1 ZZ99\n")
    error = json.loads(bad_ra.stdout)["error"]
    assert "column 2" in error and "column 12 (mode)" in error and "ZZ99" in error
    bad_compression = validate("--json", "-", stdin="b 00 42 44 +41 16 09 1 1 J2000 DSS2 04IN Z\n")
    error = json.loads(bad_compression.stdout)["error"]
    assert "column 13" in error and "column 12 (mode)" in error and "04IN" in error
    known = validate("--json", "-", stdin="c 24 42 44.3 +41 16 09 1 1 J2000 DSS1 04IN\n")
    assert "column 12" not in json.loads(known.stdout)["error"]  # 04IN is a DSS1 plate


def test_unreadable_input_exits_2(tmp_path: Path) -> None:
    result = validate_process(str(tmp_path / "missing.txt"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def test_plate_ids_are_checked_against_the_catalogue(catalogue: None) -> None:
    lines = (
        "a 23 57 49.4 -32 35 24. 10. 10. J2000 DSS1 04IN U\n"  # catalogued DSS1: ok
        "b 23 57 49.4 -32 35 24. 10. 10. J2000 DSS1 ZZ99 U\n"  # unknown
        "c 00 47 34.3 -25 17 32. 10. 10. J2000 DSS1 0444 U\n"  # a DSS2 plate
        "d 00 47 34.3 -25 17 32. 10. 10. J2000 DSS2B 0444 U\n"  # DSS2 red, not blue
        "e 00 47 34.3 -25 17 32. 10. 10. J2000 dss2 0444 U\n"  # DSS2 takes the plate's band
    )
    result = validate("--json", "-", stdin=lines)
    assert result.returncode == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(set(row) == KEYS for row in rows)
    assert [row["ok"] for row in rows] == [True, False, False, False, True]
    assert "ZZ99 is not in this archive's DSS1 catalogue" in rows[1]["error"]
    assert "0444 is a DSS2 plate, not DSS1" in rows[2]["error"]
    assert "asks for DSS2B" in rows[3]["error"]
