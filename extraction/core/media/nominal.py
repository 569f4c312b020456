"""A nominal DSS plate solution for a plate known only from its plate-list record.

Plate lists give a plate's region, id, centre and epoch but no plate solution. To put such a
plate in the catalogue (offline) before its header or pixels arrive, it gets the solution of
an ideal plate centred on the listed position: the nominal scale, no rotation, no
distortion terms. It places the plate's outline on the sky within a few arcminutes, which is
what the plate finder and mode ``n`` need; the real header replaces it on import.
"""

from __future__ import annotations

from astropy.io import fits

from extraction.core.media.texts import ListedPlate
from extraction.core.surveys import SURVEYS

NOMINAL_NOTE = "nominal plate solution from the plate list; not the plate's own"


def nominal_header(listed: ListedPlate, *, survey: str) -> fits.Header:
    """A DSS header for ``listed`` with an ideal plate solution (see the module docstring).

    ``survey`` (``"DSS1"`` or ``"DSS2"``) gives the pixel size, plate size and plate scale
    (the survey table's).
    """
    facts = SURVEYS[survey]
    pixel_um = facts.pixel_size_um
    half_um = facts.plate_size_px / 2.0 * pixel_um
    scale = facts.plate_scale_arcsec_per_mm
    ra_h = (listed.ra_deg / 15.0) % 24.0
    dec = abs(listed.dec_deg)
    header = fits.Header()
    header["PLATEID"] = listed.plate_id
    header["REGION"] = listed.region.upper()
    header["EPOCH"] = listed.epoch
    header["EQUINOX"] = 2000.0
    header["PLTRAH"] = int(ra_h)
    header["PLTRAM"] = int(ra_h * 60) % 60
    header["PLTRAS"] = round((ra_h * 3600) % 60, 4)
    header["PLTDECSN"] = "-" if listed.dec_deg < 0 else "+"
    header["PLTDECD"] = int(dec)
    header["PLTDECM"] = int(dec * 60) % 60
    header["PLTDECS"] = round((dec * 3600) % 60, 3)
    header["PLTSCALE"] = scale
    header["XPIXELSZ"] = pixel_um
    header["YPIXELSZ"] = pixel_um
    for i in range(1, 7):
        header[f"PPO{i}"] = half_um if i in (3, 6) else 0.0
    for axis in ("X", "Y"):
        for i in range(1, 21):
            header[f"AMD{axis}{i}"] = scale if i == 1 else 0.0
    header["COMMENT"] = NOMINAL_NOTE
    return header


#: Emulsion letter ending a plate list's survey column (``POSS-E``, ``SERC-J``) -> band.
_EMULSION_LETTER_BANDS = {"E": "R", "F": "R", "R": "R", "J": "B", "O": "B", "N": "I"}


def listed_band(listed: ListedPlate) -> str:
    """Band ``R``, ``B`` or ``I`` from the list's survey column (``POSS-E`` -> R); ``""``."""
    letter = listed.survey.strip().upper()[-1:]
    return _EMULSION_LETTER_BANDS.get(letter, "") if "-" in listed.survey else ""
