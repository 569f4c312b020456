"""The surveys as photographed: plates, programmes, observatories and survey grids.

``PlateSpec`` is one plate as the catalogue lists it. A ``_Programme`` is one photographic
programme (an emulsion and filter on one telescope over some years: POSS-I E, SERC J,
POSS-II F/J/N, SERC-AAO R, SERC-EJ, SERC I), a ``_Site`` its observatory and plate-number
series, a ``_Grid`` the fields of a survey (rings of constant dec), and ``_LAYOUT`` says
which programme takes which rings of which grid in DSS1 and DSS2. Where the plates of a grid
go on the sky and what they are called is ``catalogue``; their headers are ``headers``.

Units: plate scale arcsec/mm, scanner pixels microns, plate sizes pixels per side, decs
J2000 degrees, survey years decimal years (UT).
"""

from __future__ import annotations

from dataclasses import dataclass

from extraction.core import surveys
from extraction.core.surveys import SCHMIDT_PLATE_SCALE_ARCSEC_PER_MM as PLATE_SCALE_ARCSEC_PER_MM
from extraction.synthetic.common import _ARCSEC_PER_RAD

#: The surveys the synthetic sky lays out (the survey table of the core may hold more).
SURVEYS = ("DSS1", "DSS2")
BANDS = ("R", "B", "I")

#: Focal length implied by the plate scale, mm (~3069 mm for 67.2 arcsec/mm).
_FOCAL_LENGTH_MM = _ARCSEC_PER_RAD / PLATE_SCALE_ARCSEC_PER_MM


@dataclass(frozen=True)
class PlateSpec:
    """One (synthetic) photographic plate of a survey, as the catalogue lists it.

    Attributes
    ----------
    survey
        ``"DSS1"`` or ``"DSS2"``.
    plate_id
        GSSS plate id, 4 characters ``[0-9][0-9A-Z]{3}`` (e.g. ``04IN``, ``0025``): a base-36
        serial number as on the real DSS, unique over all synthetic plates, never of the
        form of a region id.
    region
        GSSS region (survey field): a letter prefix and 3 digits. ``S123`` is SERC field 123
        (the same field in DSS1 and DSS2), ``XE123`` POSS-I field 123 (E plate), ``XJ``/``XF``/
        ``XN`` POSS-II fields (J/F/N plates).
    label
        Observatory plate label (``PLTLABEL``), emulsion letter and plate number, e.g.
        ``J 2098``; plate numbers increase with date per telescope.
    band
        Broad band: ``"R"``, ``"B"`` or ``"I"`` (POSS-I E counts as R, SERC J as B).
    emulsion, filter
        Kodak emulsion (``103aE``, ``IIIaJ``, ``IIIaF``, ``IV-N``) and filter (``GG395``,
        ``RG610``...).
    telescope
        ``TELESCOP`` value.
    epoch
        Decimal year of the exposure (UT), within the real survey years.
    date_obs
        UT date of the exposure, ISO ``YYYY-MM-DD``, consistent with ``epoch``.
    exposure_min
        Exposure time, minutes.
    ra_deg, dec_deg
        Plate centre, J2000 degrees; it falls on the central pixel of the full plate.
    naxis
        Pixels per side of the full digitized plate.
    pixel_um
        Scanner pixel size, microns.
    scale_arcsec_per_mm
        Plate scale, arcsec per mm.
    synthetic
        Always ``True``: these are not scans of real plates.
    """

    survey: str
    plate_id: str
    region: str
    label: str
    band: str
    emulsion: str
    filter: str
    telescope: str
    epoch: float
    date_obs: str
    exposure_min: float
    ra_deg: float
    dec_deg: float
    naxis: int
    pixel_um: float
    scale_arcsec_per_mm: float = PLATE_SCALE_ARCSEC_PER_MM
    synthetic: bool = True

    @property
    def pixel_scale_arcsec(self) -> float:
        """Pixel size on the sky at the plate centre, arcsec."""
        return self.pixel_um / 1000.0 * self.scale_arcsec_per_mm

    @property
    def size_mm(self) -> float:
        """Side of the digitized area, mm."""
        return self.naxis * self.pixel_um / 1000.0

    @property
    def half_size_deg(self) -> float:
        """Angular distance from the plate centre to the middle of an edge, degrees."""
        return self.size_mm / 2.0 * self.scale_arcsec_per_mm / 3600.0


@dataclass(frozen=True)
class _Programme:
    """One photographic survey programme on one grid: the facts of the core's survey table
    (``facts``) and what the synthetic sky invents around them."""

    #: Seeds the synthetic observations and plate numbering: changing it renumbers plates.
    name: str
    facts: surveys.Programme
    site: str
    region_prefix: str
    label_letter: str
    years: tuple[float, float]
    exposures_min: tuple[float, ...]
    #: GSSS bandpass code. 0 (IIIaJ + GG395) is what real SERC J headers carry; the other
    #: codes are this module's own and need not match the GSSS table.
    bandpass: int

    @property
    def survey(self) -> str:
        return self.facts.survey

    @property
    def band(self) -> str:
        return self.facts.band

    @property
    def emulsion(self) -> str:
        return self.facts.emulsion

    @property
    def filter(self) -> str:
        return self.facts.filter

    @property
    def telescope(self) -> str:
        return self.facts.telescope


@dataclass(frozen=True)
class _Site:
    latitude: str
    longitude: str
    longitude_east_deg: float
    #: Plate-number series of the telescope: (first epoch, plates per year).
    series_start: float
    plates_per_year: float


_SITES: dict[str, _Site] = {
    "palomar-1": _Site("+33:21:21.60", "-116:51:46.80", -116.863, 1949.5, 170.0),
    "palomar-2": _Site("+33:21:21.60", "-116:51:46.80", -116.863, 1985.0, 420.0),
    "sso": _Site("-31:16:24.00", "+149:03:42.00", 149.0617, 1973.4, 720.0),
}


POSS_I_E = _Programme(
    "POSS-I E", surveys.POSS_I_E, "palomar-1", "XE", "E",
    (1949.85, 1958.45), (45.0, 50.0, 40.0), 8,
)  # fmt: skip
SERC_J = _Programme(
    "SERC J", surveys.SERC_J, "sso", "S", "J",
    (1975.0, 1987.9), (60.0, 65.0, 70.0), 0,
)  # fmt: skip
POSS_II_F = _Programme(
    "POSS-II F", surveys.POSS_II_F, "palomar-2", "XF", "F",
    (1985.6, 2000.4), (60.0, 70.0, 80.0), 35,
)  # fmt: skip
POSS_II_J = _Programme(
    "POSS-II J", surveys.POSS_II_J, "palomar-2", "XJ", "J",
    (1985.6, 2000.4), (60.0, 65.0, 70.0), 18,
)  # fmt: skip
POSS_II_N = _Programme(
    "POSS-II N", surveys.POSS_II_N, "palomar-2", "XN", "N",
    (1985.6, 2000.4), (85.0, 90.0, 80.0), 36,
)  # fmt: skip
SERC_R = _Programme(
    "SERC-AAO R", surveys.SERC_R, "sso", "S", "R",
    (1990.0, 1999.9), (60.0, 75.0, 90.0), 4,
)  # fmt: skip
SERC_EJ = _Programme(
    "SERC-EJ", surveys.SERC_EJ, "sso", "S", "J",
    (1979.0, 1994.5), (60.0, 65.0, 70.0), 0,
)  # fmt: skip
SERC_I = _Programme(
    "SERC I", surveys.SERC_I, "sso", "S", "I",
    (1980.0, 2001.9), (90.0, 80.0, 100.0), 9,
)  # fmt: skip


@dataclass(frozen=True)
class _Grid:
    """Survey fields: rings of constant dec, numbered from ``ring_decs[0]`` on.

    ``zone_limits`` bound the dec zones of the first and last rings (a pole, or the
    north/south switch-over); between rings the zone boundary is the midpoint.
    """

    name: str
    ring_decs: tuple[float, ...]
    zone_limits: tuple[float, float]
    #: Half-size of the smallest digitized area used on this grid, degrees.
    half_size_deg: float


def _half_size_deg(survey: str) -> float:
    return surveys.SURVEYS[survey].plate_half_size_deg


#: Switch-over decs between the northern and southern programmes (midway between rings).
DSS1_SWITCH_DEC = -32.5
DSS2_SWITCH_DEC = -2.5

_POSS_I_GRID = _Grid(
    "POSS-I", tuple(float(d) for d in range(90, -31, -6)), (90.0, DSS1_SWITCH_DEC),
    _half_size_deg("DSS1"),
)  # fmt: skip
_POSS_II_GRID = _Grid(
    "POSS-II", tuple(float(d) for d in range(90, -1, -5)), (90.0, DSS2_SWITCH_DEC),
    _half_size_deg("DSS2"),
)  # fmt: skip
# SERC fields are numbered from the south pole, as on the real survey. The grid is shared by
# SERC J (DSS1, rings <= -35 only) and the DSS2 SERC plates, so that ``S123`` is one field.
_SERC_GRID = _Grid(
    "SERC", tuple(float(d) for d in range(-90, -4, 5)), (-90.0, DSS2_SWITCH_DEC),
    _half_size_deg("DSS2"),
)  # fmt: skip

#: (programme, grid, lowest ring dec used, highest ring dec used), per survey.
_LAYOUT: dict[str, tuple[tuple[_Programme, _Grid, float, float], ...]] = {
    "DSS1": (
        (POSS_I_E, _POSS_I_GRID, -30.0, 90.0),
        (SERC_J, _SERC_GRID, -90.0, -35.0),
    ),
    "DSS2": (
        (POSS_II_F, _POSS_II_GRID, 0.0, 90.0),
        (SERC_R, _SERC_GRID, -90.0, -5.0),
        (POSS_II_J, _POSS_II_GRID, 0.0, 90.0),
        (SERC_EJ, _SERC_GRID, -90.0, -5.0),
        (POSS_II_N, _POSS_II_GRID, 0.0, 90.0),
        (SERC_I, _SERC_GRID, -90.0, -5.0),
    ),
}


def _programme_of(spec: PlateSpec) -> _Programme:
    """The programme of a plate: its band, SERC (region ``S...``) or Palomar."""
    for prog, _grid, _low, _high in _LAYOUT[spec.survey]:
        southern = prog.region_prefix == "S"
        if prog.band == spec.band and spec.region.startswith("S") == southern:
            return prog
    raise ValueError(f"plate {spec.plate_id}: no programme for {spec.survey} {spec.region}")
