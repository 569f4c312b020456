"""`manage.py validate_request`: the contract other tools rely on (keys, exit codes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from astropy.coordinates import FK4, FK5, SkyCoord

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


def validate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DSSPORTAL_")}
    environment.update(DJANGO_SETTINGS_MODULE="dssportal.settings_test")
    return subprocess.run(
        [sys.executable, "manage.py", "validate_request", *args],
        cwd=ROOT,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_json_lines_for_the_example_from_stdin() -> None:
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


def test_an_invalid_line_exits_1_and_says_why(tmp_path: Path) -> None:
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


def test_unreadable_input_exits_2(tmp_path: Path) -> None:
    result = validate(str(tmp_path / "missing.txt"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr
