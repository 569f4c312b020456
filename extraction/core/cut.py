"""Cutting one field out of an open plate: coverage -> read the box -> build the cut-out.

Pure numpy/astropy; no Django. This is the one place the steps are chained: staged fields,
the synchronous cut-out, the IVOA SODA endpoint, mosaics and the benchmarks all call
:func:`cut_field` (or :func:`cut_from_store`, which opens the plate by its key in a plate
store), so they all produce the same file for the same field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from astropy.io import fits

from extraction.core.cutout import Cutout, cutout_build
from extraction.core.plates import Coverage
from extraction.core.platestore import BoxRead, OpenPlate, PlateChanged, PlateStore


class FieldNotCovered(Exception):
    """The plate does not cover any part of the field."""


@dataclass(frozen=True)
class CutField:
    """One field cut from one plate, not yet written anywhere.

    Attributes
    ----------
    cutout
        The cut-out ready to write (``fits_bytes``): int16 pixels and header cards.
    pixels
        The box as read, with ``valid`` telling which pixels came from the plate.
    coverage
        How the plate covers the field (box, fraction on the plate, margin...).
    """

    cutout: Cutout
    pixels: BoxRead
    coverage: Coverage

    @property
    def data(self) -> npt.NDArray[np.int16]:
        """The cut-out's int16 pixels, numpy order ``(ny, nx)``."""
        return self.cutout.data

    @property
    def clipped(self) -> bool:
        """Part of the field lies off the digitized plate (those pixels hold BLANK)."""
        return self.cutout.clipped

    def header(self) -> fits.Header:
        """The cut-out's header as an astropy Header (parsed from the cards it writes)."""
        return fits.Header.fromstring("".join(self.cutout.cards))


def cut_field(
    plate: OpenPlate,
    *,
    ra_deg: float,
    dec_deg: float,
    width_arcmin: float,
    height_arcmin: float,
    identifier: str,
    created: datetime | None = None,
) -> CutField:
    """Cut the field centred on ``ra_deg``, ``dec_deg`` (J2000 degrees) from ``plate``.

    Only the tiles the field's box touches are read. ``created`` stamps DATE (now when
    omitted).

    Raises
    ------
    FieldNotCovered
        When no part of the field lies on the plate's digitized area.
    """
    coverage = plate.geometry.coverage(ra_deg, dec_deg, width_arcmin, height_arcmin)
    box = coverage.box
    if box is None or not coverage.covered:
        raise FieldNotCovered("the plate does not cover the field")
    pixels = plate.reader.read_box(box.x0, box.x1, box.y0, box.y1)
    cutout = cutout_build(
        geometry=plate.geometry,
        plate_header=plate.reader.header,
        pixels=pixels,
        box=box,
        identifier=identifier,
        ra_deg=ra_deg,
        dec_deg=dec_deg,
        created=created,
    )
    return CutField(cutout, pixels, coverage)


def cut_from_store(
    store: PlateStore,
    key: str,
    *,
    ra_deg: float,
    dec_deg: float,
    width_arcmin: float,
    height_arcmin: float,
    identifier: str,
) -> CutField:
    """:func:`cut_field` on plate ``key`` of ``store``.

    A plate re-imported while it was being read (``PlateChanged``) is opened again and the
    field cut from the new version: the pixels always come from one version of the plate.
    """
    for attempt in range(3):
        try:
            return cut_field(
                store.open(key),
                ra_deg=ra_deg,
                dec_deg=dec_deg,
                width_arcmin=width_arcmin,
                height_arcmin=height_arcmin,
                identifier=identifier,
            )
        except PlateChanged:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
