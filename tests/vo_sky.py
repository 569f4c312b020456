"""A small sky for the IVOA tests: a few DSS plates around (150, +20), online and not."""

from __future__ import annotations

from dataclasses import dataclass

from astropy.io import fits

from extraction.models import Plate
from tests.factories import dss_header, register_plate

CENTRE = (150.0, 20.0)


@dataclass(frozen=True)
class Sky:
    red: Plate  # DSS2 red, online, 1500 x 1500 px (25') about CENTRE
    blue: Plate  # DSS2 blue, online, 900 x 900 px, a little north-east
    dss1: Plate  # DSS1 red, catalogued whole plate, offline
    far: list[Plate]  # DSS2 red, offline, elsewhere (for MAXREC and RANGE)


def _described(header: fits.Header, **cards: object) -> fits.Header:
    for key, value in cards.items():
        header[key.replace("_", "-")] = value
    return header


def build_sky() -> Sky:
    size = 23040
    red = register_plate(
        _described(
            dss_header(
                *CENTRE,
                survey="DSS2",
                plate_id="R1",
                corner=(size // 2 - 750,) * 2,
                naxis=(1500, 1500),
            ),
            REGION="XP123",
            EMULSION="IIIaF",
            FILTER="RG610",
            TELESCOP="Oschin 48-inch Schmidt",
            EPOCH=1990.25,
            EXPOSURE=60.0,
            DATE_OBS="1990-04-02",
        ),
        survey="DSS2",
        band="R",
        seed=1,
    )
    blue = register_plate(
        _described(
            dss_header(
                150.1,
                20.05,
                survey="DSS2",
                plate_id="B1",
                corner=(size // 2 - 450,) * 2,
                naxis=(900, 900),
            ),
            REGION="XJ123",
            EMULSION="IIIaJ",
            FILTER="GG385",
            TELESCOP="Oschin 48-inch Schmidt",
            EPOCH=1985.5,
            EXPOSURE=70.0,
        ),
        survey="DSS2",
        band="B",
        seed=2,
    )
    dss1 = register_plate(
        _described(
            dss_header(151.0, 21.0, survey="DSS1", plate_id="E1", naxis=(14000, 14000)),
            REGION="P210",
            EMULSION="103aE",
            FILTER="red plexiglas",
            TELESCOP="Palomar 48-inch Schmidt",
            EPOCH=1953.2,
            EXPOSURE=45.0,
        ),
        survey="DSS1",
        band="R",
        online=False,
    )
    far = [
        register_plate(
            _described(
                dss_header(ra, -30.0, survey="DSS2", plate_id=f"F{i}", naxis=(23040, 23040)),
                EMULSION="IIIaF",
                FILTER="OG590",
                TELESCOP="UK 48-inch Schmidt",
                EPOCH=1995.0,
            ),
            survey="DSS2",
            band="R",
            online=False,
        )
        for i, ra in enumerate((200.0, 206.0, 212.0))
    ]
    return Sky(red, blue, dss1, far)
