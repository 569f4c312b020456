"""Plate selection for a field: which plate serves it, and why (modes e, c, PLATE-ID, n).

The maths lives in ``extraction.core.plates``; this module feeds it the catalogue from the
database: a cached angular index per survey/band, then exact geometry on the few plates left.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace

from django.db.models import Count, Max, QuerySet

from extraction.core.cutout import sexagesimal_dec, sexagesimal_ra
from extraction.core.plates import (
    Coverage,
    PlateIndex,
    Selection,
    search_radius_deg,
    select_centre,
    select_edge,
    select_touching,
)
from extraction.core.surveys import SURVEYS, PlateMode, SurveyBand, band_name, band_row
from extraction.models import Plate
from extraction.services.plates import (
    partly_scanned,
    plate_geometry,
    plate_named,
    whole_plate_geometry,
)
from extraction.text.requestlist import ParsedLine, ParsedList


class FieldSkip(Exception):
    """A field that cannot be served, with the reason the user reads."""


@dataclass(frozen=True)
class FieldTarget:
    """What selection needs of a field (a ``Field`` row or a parsed line)."""

    survey: str  # DSS1, DSS2, DSS2R, DSS2B, DSS2I
    mode: str  # a PlateMode value: e, c, n, plate
    plate_id: str
    ra_deg: float
    dec_deg: float
    width_arcmin: float
    height_arcmin: float


@dataclass(frozen=True)
class PlateChoice:
    plate: Plate
    coverage: Coverage
    clipped: bool
    reason: str


def survey_and_band(token: str) -> tuple[str, str | None]:
    """The survey and the band whose plates serve images of a request token.

    ``DSS2`` and ``DSS2R`` -> (``DSS2``, ``R``); ``DSS2B`` -> (``DSS2``, ``B``); ``DSS1`` ->
    (``DSS1``, None): every plate of the survey.
    """
    row = _row(token)
    return (row.survey.name, row.band)


def _row(token: str) -> SurveyBand:
    row = band_row(token)
    if row is None:  # the parser accepts only the table's tokens
        raise ValueError(f"unknown survey token {token!r}")
    return row


# -- Cached catalogue index ---------------------------------------------------------------

_lock = threading.Lock()
_indexes: dict[tuple[str, str | None], tuple[object, PlateIndex, list[int]]] = {}


def _plates(survey: str, band: str | None) -> QuerySet[Plate]:
    plates = Plate.objects.filter(survey=survey)
    return plates.filter(band=band) if band else plates


@dataclass
class _CatalogueMemo:
    """What one task has read of the catalogue: indexes by (survey, band), plates by pk."""

    indexes: dict[tuple[str, str | None], tuple[PlateIndex, list[int]]] = field(
        default_factory=dict
    )
    plates: dict[int, Plate] = field(default_factory=dict)
    #: Plates named by id, by (survey, upper-case id); None: not in the catalogue.
    named: dict[tuple[str, str], Plate | None] = field(default_factory=dict)


_memo: ContextVar[_CatalogueMemo | None] = ContextVar("catalogue_memo", default=None)


@contextmanager
def catalogue_memoised(*, known: Iterable[Plate] = ()) -> Iterator[None]:
    """Read the plate catalogue once for everything selected inside: for a task of several
    fields, which mostly share their candidate plates (fields of one request lie close
    together). Selections are the same as without; a catalogue change made meanwhile is seen
    by the next task, as it would be by the next field.

    ``known``: plates the caller has just read (the SODA service holds the plate its ID
    names), so that naming them by id reads nothing again.
    """
    memo = _CatalogueMemo()
    memo.named.update(((p.survey, p.plate_id.upper()), p) for p in known)
    token = _memo.set(memo)
    try:
        yield
    finally:
        _memo.reset(token)


def _index(survey: str, band: str | None) -> tuple[PlateIndex, list[int]]:
    """The angular index of a survey's plates (the task's, when memoised)."""
    memo = _memo.get()
    if memo is None:
        return _index_current(survey, band)
    key = (survey, band)
    if key not in memo.indexes:
        memo.indexes[key] = _index_current(survey, band)
    return memo.indexes[key]


def _plates_by_pk(pks: list[int]) -> list[Plate]:
    """The plates of these primary keys in catalogue order (the task's rows, when memoised)."""
    memo = _memo.get()
    if memo is None:
        return list(Plate.objects.filter(pk__in=pks))
    missing = [pk for pk in pks if pk not in memo.plates]
    if missing:
        memo.plates.update((p.pk, p) for p in Plate.objects.filter(pk__in=missing))
    found = [memo.plates[pk] for pk in pks if pk in memo.plates]
    return sorted(found, key=lambda p: (p.survey, p.plate_id))


def _index_current(survey: str, band: str | None) -> tuple[PlateIndex, list[int]]:
    """The angular index of a survey's plates, rebuilt when the catalogue changes."""
    stamp = _plates(survey, band).aggregate(n=Count("id"), changed=Max("updated_at"))
    key = (survey, band)
    with _lock:
        cached = _indexes.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1], cached[2]
    rows = list(_plates(survey, band).values_list("id", "plate_id", "ra_deg", "dec_deg"))
    index = PlateIndex([r[2] for r in rows], [r[3] for r in rows], [r[1] for r in rows])
    ids = [r[0] for r in rows]
    with _lock:
        _indexes[key] = (stamp, index, ids)
    return index, ids


def plates_touching(
    target: FieldTarget, *, every_band: bool = False
) -> list[tuple[Plate, Coverage]]:
    """Every catalogued plate of the field's survey and band (of every band of the survey
    with ``every_band``), online or not, with its coverage of the field."""
    survey, band = survey_and_band(target.survey)
    index, ids = _index(survey, None if every_band else band)
    if not ids:
        return []
    radius = search_radius_deg(
        plate_size_px=SURVEYS[survey].plate_size_px,
        scale_arcsec=SURVEYS[survey].pixel_scale_arcsec,
        width_arcmin=target.width_arcmin,
        height_arcmin=target.height_arcmin,
    )
    near = [ids[i] for i in index.candidates(target.ra_deg, target.dec_deg, radius)]
    return [(plate, plate_coverage(plate, target)) for plate in _plates_by_pk(near)]


def plate_coverage(plate: Plate, target: FieldTarget) -> Coverage:
    """How a catalogued plate covers the field: its digitized extent; for a plate scanned
    here only in part that misses the field, the whole plate (``scanned`` False), so that
    the rest of such a plate is not a hole in the catalogue."""
    where = (target.ra_deg, target.dec_deg, target.width_arcmin, target.height_arcmin)
    coverage = plate_geometry(plate).coverage(*where)
    if coverage.covered or not partly_scanned(plate):
        return coverage
    whole = whole_plate_geometry(plate).coverage(*where)
    return replace(whole, scanned=False) if whole.covered else coverage


def held_here(plate: Plate, coverage: Coverage) -> bool:
    """Whether this archive holds the plate's pixels where the coverage lies."""
    return plate.online and coverage.scanned


def survey_words(token: str) -> str:
    """``DSS2 red``, ``DSS2 blue``, ``DSS1``."""
    survey, band = survey_and_band(token)
    return f"{survey} {band_name(band)}" if band else survey


def plate_select(target: FieldTarget) -> PlateChoice:
    """The plate that serves an image field (modes e, c and PLATE-ID).

    Modes e and c choose among the plates whose pixels are online here: an archive serves
    what it holds. When a catalogued but offline plate would have been the better choice,
    the reason says so.

    Raises
    ------
    FieldSkip
        When no online plate of the survey serves the field, or the named plate is unknown,
        offline or does not cover it.
    """
    if target.mode == PlateMode.PLATE:
        return _named_plate(target)
    if target.mode not in (PlateMode.EDGE, PlateMode.CENTRE):
        raise ValueError(f"mode {target.mode!r} does not select a single plate")
    pairs = plates_touching(target)
    online = [(p, c) for p, c in pairs if held_here(p, c)]
    select = select_edge if target.mode == PlateMode.EDGE else select_centre
    chosen = select(online)
    best = select(pairs)
    if chosen is None:
        raise FieldSkip(_nothing_online(target, best))
    reason = (
        _edge_reason(target, chosen, online)
        if target.mode == PlateMode.EDGE
        else _centre_reason(chosen, online)
    )
    if best is not None and best.plate.pk != chosen.plate.pk and _better(target, best, chosen):
        why_not = not_held(best.plate, best.coverage)
        reason += f"; plate {best.plate.plate_id} would be better but {why_not}"
    return PlateChoice(chosen.plate, chosen.coverage, chosen.clipped, reason)


def _better(target: FieldTarget, best: Selection[Plate], chosen: Selection[Plate]) -> bool:
    """Whether the overall best plate beats the chosen one by the mode's own measure."""
    if target.mode == PlateMode.CENTRE:
        return best.coverage.distance_deg < chosen.coverage.distance_deg
    if best.clipped != chosen.clipped:
        return chosen.clipped
    if chosen.clipped:
        return best.coverage.fraction > chosen.coverage.fraction
    return best.coverage.margin_arcmin > chosen.coverage.margin_arcmin


def not_held(plate: Plate, coverage: Coverage) -> str:
    """Why a plate's pixels for the field are not here (``its pixels are not online``)."""
    if coverage.scanned:
        return "its pixels are not online"
    return (
        f"only part of it is scanned here ({plate.width_px} x {plate.height_px} of its "
        f"{plate.plate_width_px} x {plate.plate_height_px} pixels), and not this part"
    )


def _nothing_online(target: FieldTarget, best: Selection[Plate] | None) -> str:
    words = survey_words(target.survey)
    where = (
        "covers any part of the field"
        if target.mode == PlateMode.EDGE
        else "contains the field centre"
    )
    if best is None:
        return f"no {words} plate in this archive {where}."
    return (
        f"no {words} plate held online in this archive {where}; plate {best.plate.plate_id} "
        f"does, but {not_held(best.plate, best.coverage)}."
    )


def _edge_reason(
    target: FieldTarget, chosen: Selection[Plate], online: list[tuple[Plate, Coverage]]
) -> str:
    words = survey_words(target.survey)
    if chosen.clipped:
        return (
            f"e: no online {words} plate covers the whole field; plate "
            f"{chosen.plate.plate_id} covers the largest part ({chosen.coverage.fraction:.0%})"
        )
    ranked = sorted((c.margin_arcmin for _, c in online if c.full), reverse=True)
    runner_up = f", next best {ranked[1]:.1f}'" if len(ranked) > 1 else ""
    return (
        f"e: furthest from the plate edge ({chosen.coverage.margin_arcmin:.1f}' "
        f"margin, {len(ranked)} online plate(s) cover the field{runner_up})"
    )


def _centre_reason(chosen: Selection[Plate], online: list[tuple[Plate, Coverage]]) -> str:
    n_inside = sum(1 for _, c in online if c.centre_inside)
    return (
        f"c: plate centre {chosen.coverage.distance_deg:.2f} deg from the field, "
        f"closest of {n_inside} online plate(s) containing it"
    )


def plate_id_problem(survey_token: str, plate_id: str) -> str | None:
    """Why a PLATE-ID cannot serve a line of ``survey_token``, or None when it can.

    The plate must be in the catalogue, of the token's survey, and, when the token names a
    band explicitly (``DSS2R``, ``DSS2B``, ``DSS2I``), of that band. A plain ``DSS2`` with a
    plate id takes the plate's own band: the id already says which plate is meant.
    """
    plate = _catalogued(_row(survey_token).survey.name, plate_id)
    return _plate_problem(survey_token, plate_id, plate)


def _plate_problem(survey_token: str, plate_id: str, plate: Plate | None) -> str | None:
    """:func:`plate_id_problem` of the catalogued ``plate`` (None: none has that id)."""
    row = _row(survey_token)
    survey = row.survey.name
    if plate is None:
        other = Plate.objects.filter(plate_id__iexact=plate_id).exclude(survey=survey).first()
        if other is not None:
            return (
                f"plate {other.plate_id} is a {other.survey} plate, not {survey}; write "
                f"{other.survey} in column 11 or give a {survey} plate id (mode n lists "
                "the plates of a field)"
            )
        return (
            f"plate {plate_id} is not in this archive's {survey} catalogue (a PLATE-ID such "
            "as 04IN, not a REGION-ID such as S134; mode n lists the plates of a field)"
        )
    explicit_band = survey_token.upper() == row.token and row.band is not None
    if explicit_band and plate.band != row.band:
        return (
            f"plate {plate.plate_id} is a {survey} {band_name(plate.band, 'unknown-band')} "
            f"plate, but the line asks for {survey_token.upper()} "
            f"({band_name(row.band or '')})"
        )
    return None


def plate_ids_checked(parsed: ParsedList) -> ParsedList:
    """``parsed`` with every line whose PLATE-ID cannot serve it turned into a rejected line.

    Reading a list is where a user learns what is wrong with it: an unknown plate id, or a
    plate of the other survey (or band), is rejected there, reserving nothing, rather than
    failing at extraction. Each distinct (survey, plate id) is looked up once.
    """
    problems: dict[tuple[str, str], str | None] = {}

    def problem_of(key: tuple[str, str]) -> str | None:
        if key not in problems:
            problems[key] = plate_id_problem(*key)
        return problems[key]

    lines = []
    for line in parsed.lines:
        spec = line.field
        if spec is not None and spec.mode == PlateMode.PLATE and spec.plate_id:
            problem = problem_of((spec.survey, spec.plate_id))
            if problem is not None:
                line = ParsedLine(line.line_no, line.raw, error=f"column 12 (mode): {problem}")
        elif line.plate_ref is not None:  # every problem of a line at once, this one too
            problem = problem_of(line.plate_ref)
            if problem is not None:
                error = f"{line.error}; column 12 (mode): {problem}"
                line = ParsedLine(line.line_no, line.raw, error=error)
        lines.append(line)
    return ParsedList(tuple(lines), parsed.signature_line_no)


def _catalogued(survey: str, plate_id: str) -> Plate | None:
    """The plate of ``survey`` with this id (the task's row, when memoised)."""
    memo = _memo.get()
    key = (survey, plate_id.upper())
    if memo is not None and key in memo.named:
        return memo.named[key]
    plate = plate_named(survey, plate_id)
    if memo is not None:
        memo.named[key] = plate
    return plate


def _named_plate(target: FieldTarget) -> PlateChoice:
    survey, _band = survey_and_band(target.survey)
    plate = _catalogued(survey, target.plate_id)
    problem = _plate_problem(target.survey, target.plate_id, plate)
    if problem is not None:
        raise FieldSkip(problem + ".")
    assert plate is not None
    coverage = plate_coverage(plate, target)
    if not coverage.covered:
        raise FieldSkip(
            f"plate {plate.plate_id} does not cover the field (its centre is "
            f"{coverage.distance_deg:.2f} deg from the field centre)."
        )
    if not coverage.scanned:
        raise FieldSkip(
            f"plate {plate.plate_id} covers the field, but {not_held(plate, coverage)}."
        )
    return PlateChoice(plate, coverage, not coverage.full, f"plate {plate.plate_id} as asked")


def _online_words(plate: Plate, coverage: Coverage) -> str:
    if held_here(plate, coverage):
        return "yes"
    return "no (only another part is scanned here)" if plate.online else "no"


def plates_table(target: FieldTarget) -> str:
    """Mode n: a plain-text table of every plate on which any part of the field lies."""
    rows = select_touching(plates_touching(target, every_band=True))
    survey, _band = survey_and_band(target.survey)
    if not rows:
        return f"No {survey} plate of this archive covers the field.\n"
    head = (
        f"{'plate':<7}{'region':<8}{'band':<5}{'emulsion/filter':<18}{'epoch':>9}  "
        f"{'plate centre (J2000)':<24}{'dist':>7}  {'whole field':<12}{'online'}"
    )
    lines = [head, "-" * len(head)]
    for plate, coverage in rows:
        centre = f"{sexagesimal_ra(plate.ra_deg)[:8]} {sexagesimal_dec(plate.dec_deg)[:9]}"
        emulsion = "/".join(x for x in (plate.emulsion, plate.filter_name) if x)
        epoch = f"{plate.epoch:.3f}" if plate.epoch else "?"
        whole = "yes" if coverage.full else f"no ({coverage.fraction:.0%})"
        lines.append(
            f"{plate.plate_id:<7}{plate.region:<8}{plate.band or '-':<5}{emulsion[:17]:<18}"
            f"{epoch:>9}  {centre:<24}{coverage.distance_deg:>6.2f}d  {whole:<12}"
            f"{_online_words(plate, coverage)}"
        )
    return "\n".join(lines) + "\n"
