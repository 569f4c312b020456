"""The text files of the DSS media: ``<region>.hhh`` plate headers and ``*.lis`` plate lists.

A ``.hhh`` header is a FITS header of 80-character cards that is not padded to 2880 bytes
and ends with ``END``; some copies have a newline after each card. A plate list
(``lo_comp.lis`` for DSS1, ``hi_comp.lis`` / ``hi_comn.lis`` / ``hi_coms.lis`` for RealSky)
holds fixed 80-byte records, again with or without newlines: region, plate id, plate centre
(RA h m s, Dec sign d m s), epoch, survey and disc number or volume label, separated by
blanks. Lines that are not such a record (titles, column heads, ``#`` comments) are skipped.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning

CARD = 80


class MediaTextError(ValueError):
    """A header or plate list that cannot be read; the message names the file."""


def _records(raw: bytes) -> list[str]:
    """80-character records of a text file with or without line ends."""
    text = raw.decode("ascii", errors="replace")
    if "\n" in text or "\r" in text:
        return [line.rstrip("\r") for line in text.split("\n")]
    return [text[i : i + CARD] for i in range(0, len(text), CARD)]


def read_hhh(path: Path) -> fits.Header:
    """The plate header in a ``.hhh`` file.

    Raises
    ------
    MediaTextError
        The file cannot be read, has no ``END`` card, or holds no card at all.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MediaTextError(f"{path}: cannot read the plate header ({exc.strerror})") from None
    cards: list[fits.Card] = []
    ended = False
    with warnings.catch_warnings():
        # Real headers carry non-standard cards (SKEW's unquoted list): fixed quietly below.
        warnings.simplefilter("ignore", VerifyWarning)
        for record in _records(raw):
            image = record.ljust(CARD)[:CARD]
            if image.rstrip() == "END":
                ended = True
                break
            if not image.strip():
                continue
            card = fits.Card.fromstring(image)
            card.verify("silentfix")
            cards.append(card)
    if not ended:
        raise MediaTextError(f"{path}: not a plate header (no END card)")
    if not cards:
        raise MediaTextError(f"{path}: the plate header holds no card")
    return fits.Header(cards)


@dataclass(frozen=True)
class ListedPlate:
    """One record of a plate list.

    Attributes
    ----------
    region
        Region id as written (``XE355``, ``S134``).
    plate_id
        Plate id (``0025``).
    ra_deg, dec_deg
        Plate centre, J2000 degrees.
    epoch
        Decimal year of the exposure.
    survey
        The list's survey column as written (``POSS-E``, ``SERC-J``...).
    volume
        Disc number or volume label holding the plate's blocks.
    """

    region: str
    plate_id: str
    ra_deg: float
    dec_deg: float
    epoch: float
    survey: str
    volume: str


_NUMBER = r"\d+(?:\.\d*)?"
_RECORD = re.compile(
    rf"""^\s*(?P<region>[A-Za-z]{{0,2}}\d{{1,4}})\s+(?P<plate>[A-Za-z0-9]{{1,8}})\s+
    (?P<rah>\d{{1,2}})\s+(?P<ram>\d{{1,2}})\s+(?P<ras>{_NUMBER})\s+
    (?P<sign>[+-])\s*(?P<decd>\d{{1,2}})\s+(?P<decm>\d{{1,2}})\s+(?P<decs>{_NUMBER})\s+
    (?P<epoch>\d{{4}}(?:\.\d*)?)\s+(?P<survey>\S+)\s+(?P<volume>\S+)""",
    re.VERBOSE,
)


def parse_plate_list(raw: bytes) -> list[ListedPlate]:
    """The plate records of a plate list; other lines (titles, comments) are skipped."""
    plates = []
    for record in _records(raw):
        match = _RECORD.match(record)
        if match is None or record.lstrip().startswith("#"):
            continue
        ra_h = int(match["rah"]) + int(match["ram"]) / 60 + float(match["ras"]) / 3600
        dec = int(match["decd"]) + int(match["decm"]) / 60 + float(match["decs"]) / 3600
        if ra_h >= 24 or dec > 90:
            continue
        plates.append(
            ListedPlate(
                region=match["region"],
                plate_id=match["plate"],
                ra_deg=15.0 * ra_h,
                dec_deg=-dec if match["sign"] == "-" else dec,
                epoch=float(match["epoch"]),
                survey=match["survey"],
                volume=match["volume"],
            )
        )
    return plates


def read_plate_list(path: Path) -> list[ListedPlate]:
    """The plate records of a plate-list file.

    Raises
    ------
    MediaTextError
        The file cannot be read or holds no plate record.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MediaTextError(f"{path}: cannot read the plate list ({exc.strerror})") from None
    plates = parse_plate_list(raw)
    if not plates:
        raise MediaTextError(f"{path}: no plate record (region, plate id, centre...) found")
    return plates
