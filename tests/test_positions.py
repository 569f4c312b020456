"""Positions typed into the web form -> request-list columns, checked against astropy."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import FK4, FK5, Angle, SkyCoord
from numpy.testing import assert_allclose

from extraction.core.cutout import sexagesimal_dec, sexagesimal_ra
from extraction.core.positions import PositionError, list_position, parse_position
from extraction.text.requestlist import parse_request_list


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        ("12 05 13.2", "-25 17 32", (181.305, -25.292222)),
        ("12:05:13.2", "-25:17:32", (181.305, -25.292222)),
        ("12h05m13.2s", "-25d17m32s", (181.305, -25.292222)),
        ("181.305", "-25.292222", (181.305, -25.292222)),
        ("0 0 0", "-00 30 00", (0.0, -0.5)),
        ("359.9999", "+90", (359.9999, 90.0)),
    ],
)
def test_sexagesimal_and_decimal_read_the_same(lon, lat, expected) -> None:
    assert_allclose(parse_position(lon, lat, "J2000"), expected, atol=1e-6)


@pytest.mark.parametrize(
    ("lon", "lat", "words"),
    [
        ("", "10", "R.A. is empty"),
        ("12 05", "91", r"between -90 and \+90"),
        ("banana", "10", "is not an angle"),
        # Plain sentences, not astropy's, which says it is "treating as" the value it rejects.
        ("25 00 00", "10", r"^R\.A\. '25 00 00': the hours must be 0 to 23, not 25\.$"),
        ("24 00 00", "10", r"^R\.A\. '24 00 00': the hours must be 0 to 23, not 24\.$"),
        ("12 60 00", "10", r"the minutes must be 0 to 59, not 60\.$"),
        ("23 59 60", "10", r"the seconds must be at least 0 and below 60, not 60\.$"),
        ("12 00 00", "-10 61 00", r"^Dec\. '-10 61 00': the minutes must be 0 to 59, not 61\.$"),
    ],
)
def test_bad_positions_are_named(lon, lat, words) -> None:
    with pytest.raises(PositionError, match=words) as refused:
        parse_position(lon, lat, "J2000")
    assert "Treating" not in str(refused.value) and "range [" not in str(refused.value)


def test_galactic_becomes_the_j2000_of_astropy_in_the_list_line() -> None:
    position = list_position(*parse_position("0", "0", "galactic"), "galactic")
    reference = SkyCoord(l=0 * u.deg, b=0 * u.deg, frame="galactic").transform_to(
        FK5(equinox="J2000")
    )
    assert position.equinox == "J2000"
    line = f"gc {position.ra_text} {position.dec_text} 5 5 J2000 DSS2 e U"
    field = parse_request_list(line).fields[0]
    # The galactic centre: 17h45m37.2s -28d56m10s (FK5); the sexagesimal text keeps 1 mas.
    sep = SkyCoord(field.ra_deg * u.deg, field.dec_deg * u.deg, frame=FK5).separation(reference)
    assert sep.arcsec < 0.02
    assert position.ra_text.startswith("17 45 37") and position.dec_text.startswith("-28 56")


def test_b1950_keeps_its_equinox_and_knows_its_j2000() -> None:
    position = list_position(*parse_position("12 5 13", "30 45 32", "B1950"), "B1950")
    assert position.equinox == "B1950" and position.ra_text.startswith("12 05 13")
    reference = SkyCoord(
        position.ra_deg * u.deg,
        position.dec_deg * u.deg,
        frame=FK4(equinox="B1950", obstime="B1950"),
    ).transform_to(FK5(equinox="J2000"))
    assert_allclose(
        (position.ra_j2000_deg, position.dec_j2000_deg),
        (reference.ra.deg, reference.dec.deg),
        atol=1e-9,
    )


def test_the_one_sexagesimal_formatter_wraps_a_full_day_and_reads_back() -> None:
    """R.A./Dec. text everywhere (cut-out headers, plate pages, the admin, plate lists) is
    astropy's ``Angle.to_string``, rounded first so that R.A. never reads 24 h."""
    assert sexagesimal_ra(359.99999999) == "00 00 00.000"
    assert sexagesimal_ra(-15.0) == "23 00 00.000"
    assert sexagesimal_dec(-0.0) == "+00 00 00.00"
    assert sexagesimal_dec(-1e-4) == "-00 00 00.36"
    assert sexagesimal_dec(90.0) == "+90 00 00.00"
    rng = np.random.default_rng(5)
    for ra, dec in zip(rng.uniform(0, 360, 200), rng.uniform(-90, 90, 200), strict=True):
        back_ra = Angle(sexagesimal_ra(ra), unit=u.hourangle).deg
        back_dec = Angle(sexagesimal_dec(dec), unit=u.deg).deg
        assert abs((back_ra - ra + 180) % 360 - 180) <= 0.0005 * 15 / 3600 + 1e-12
        assert abs(back_dec - dec) <= 0.005 / 3600 + 1e-12
