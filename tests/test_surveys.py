"""The survey table and what reads it: request tokens, band semantics, selection among held plates.

``DSS2`` is the red survey (``DSS2R``); ``DSS2B``/``DSS2I`` name the other bands; modes e and
c choose among online plates; mode n lists every catalogued plate of every band. A new survey
is one row of ``extraction.core.surveys``.
"""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from extraction.core import surveys
from extraction.core.surveys import SURVEY_BANDS, SURVEYS, Survey, SurveyBand, band_row
from extraction.models import Field, Plate
from extraction.services.platefinder import finder_surveys, known_surveys
from extraction.services.requests import parse_with_limits
from extraction.services.selection import (
    FieldSkip,
    FieldTarget,
    catalogue_memoised,
    plate_select,
    plates_table,
    plates_touching,
)
from extraction.services.synthetic import _catalogue_row
from extraction.synthetic import survey_catalogue
from extraction.text.requestlist import expected_bytes, parse_request_list
from tests.factories import dss_header, register_plate


def line(survey: str, mode: str = "e", ra: str = "12 00 00", dec: str = "+10 00 00") -> str:
    return f"f {ra} {dec} 10 10 J2000 {survey} {mode} U"


# -- The table -----------------------------------------------------------------------------


def test_the_tokens_and_what_they_name() -> None:
    named = {t: (band_row(t).survey.name, band_row(t).band) for t in surveys.survey_tokens()}
    assert named == {
        "DSS1": ("DSS1", None),
        "DSS2": ("DSS2", "R"),
        "DSS2R": ("DSS2", "R"),
        "DSS2B": ("DSS2", "B"),
        "DSS2I": ("DSS2", "I"),
    }
    assert band_row("dss2b") is band_row("DSS2B") and band_row("DSS3") is None
    assert surveys.survey_tokens_text() == "DSS1, DSS2, DSS2R, DSS2B or DSS2I"


def test_every_token_fits_the_field_column_and_every_survey_the_plate_column() -> None:
    assert all(len(t) <= 5 for t in surveys.survey_tokens())  # Field.survey max_length
    assert all(len(name) <= 4 for name in SURVEYS)  # Plate.survey max_length


def test_the_programmes_north_and_south() -> None:
    red = SURVEY_BANDS["DSS2R"].programmes
    assert [(p.name, p.emulsion, p.hemisphere) for p in red] == [
        ("POSS-II F", "IIIaF", "north"),
        ("SERC-ER/AAO-R", "IIIaF", "south"),
    ]
    assert [p.name for p in SURVEY_BANDS["DSS1"].programmes] == ["POSS-I E", "SERC J"]
    assert [p.name for p in SURVEY_BANDS["DSS2B"].programmes] == ["POSS-II J", "SERC-EJ"]
    assert [p.name for p in SURVEY_BANDS["DSS2I"].programmes] == ["POSS-II N", "SERC-I"]


def test_scales_and_expected_sizes_are_the_documented_ones() -> None:
    # REQUEST_FORMAT.md: 1.7"/px and 1.0"/px, about 260 kB and 720 kB for 10' x 10'.
    assert SURVEYS["DSS1"].pixel_scale_arcsec == pytest.approx(1.6991, abs=1e-4)
    assert SURVEYS["DSS2"].pixel_scale_arcsec == pytest.approx(1.008)
    assert SURVEYS["DSS2"].bytes_per_square_arcmin == 7200

    def blocks(n: int) -> int:
        return -(-n // 2880) * 2880

    assert blocks(surveys.expected_data_bytes("DSS1", 10, 10)) == 250_560
    assert blocks(surveys.expected_data_bytes("DSS2", 10, 10)) == 720_000


def test_compressions_are_one_table() -> None:
    assert {c: surveys.output_file_name("x", c) for c in surveys.COMPRESSIONS} == {
        "G": "x.fits.gz",
        "B": "x.fits.bz2",
        "X": "x.fits.xz",
        "U": "x.fits",
    }
    (spec,) = parse_request_list(line("DSS2", "c") + "\n").fields
    assert spec.file_name == "f.fits"


def test_the_help_says_dss2_is_red() -> None:
    text = surveys.survey_help()
    assert "DSS2 = DSS2R: DSS2 red (POSS-II F, SERC-ER/AAO-R)" in text
    assert "DSS2B: DSS2 blue (POSS-II J, SERC-EJ)" in text
    assert "Mode n lists the plates of every band" in text


# -- A new survey is one row ---------------------------------------------------------------


@pytest.fixture
def dss3(monkeypatch: pytest.MonkeyPatch) -> SurveyBand:
    """A made-up survey "DSS3" with 10 um pixels, added as one row of each table of
    ``extraction.core.surveys`` (and taken out again after the test): the parser, selection,
    the models, the forms and the API are not touched; they read the table."""
    survey = Survey("DSS3", plate_size_px=30000, pixel_size_um=10.0, nominal_arcsec_per_pixel=0.7)
    row = SurveyBand("DSS3", survey, None, ())
    monkeypatch.setitem(SURVEYS, "DSS3", survey)
    monkeypatch.setitem(SURVEY_BANDS, "DSS3", row)
    return row


def test_a_new_survey_row_is_accepted_by_the_parser(dss3: SurveyBand) -> None:
    (spec,) = parse_request_list(line("dss3") + "\n").fields
    assert (spec.survey, spec.survey_base, spec.band) == ("DSS3", "DSS3", None)
    data = 2 * round(600 / 0.7 + 0.5) ** 2  # ceil(600 / 0.7) = 858 pixels a side
    assert expected_bytes(spec) >= data
    assert surveys.survey_for_pixel_size(10.0) == "DSS3"


@pytest.mark.django_db
def test_a_new_survey_row_is_accepted_by_selection(dss3: SurveyBand) -> None:
    header = dss_header(180.0, 10.0, survey="DSS3", plate_id="3D01", corner=(14700, 14700))
    plate = register_plate(header, survey="DSS3")
    assert plate.survey == "DSS3" and plate.plate_width_px == 30000
    (spec,) = parse_request_list(line("DSS3", "e", "12 00 00", "+10 00 00") + "\n").fields
    target = FieldTarget(spec.survey, spec.mode, "", spec.ra_deg, spec.dec_deg, 5.0, 5.0)
    assert plate_select(target).plate == plate
    # The plate id passes the catalogue check of a list being read, and serves the field.
    (spec,) = parse_with_limits(line("DSS3", "3d01") + "\n").fields
    target = FieldTarget("DSS3", "plate", spec.plate_id or "", spec.ra_deg, spec.dec_deg, 5, 5)
    assert plate_select(target).plate == plate


@pytest.mark.django_db
def test_a_new_survey_row_needs_no_migration_and_the_models_validate_it(dss3: SurveyBand) -> None:
    """The models' survey/band/mode/compression choices are read from the table at run time:
    the migration state does not hold them, so the new row changes no migration, while
    validation accepts DSS3 and still refuses a survey the table does not have."""
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    assert "No changes detected" in out.getvalue()
    header = dss_header(180.0, 10.0, survey="DSS3", plate_id="3D02", corner=(14700, 14700))
    plate = register_plate(header, survey="DSS3", band="R")
    plate.full_clean()
    assert plate.get_band_display() == "red (E/F)"
    plate.survey = "DSS4"
    with pytest.raises(ValidationError, match="DSS4"):
        plate.full_clean()


@pytest.mark.django_db
def test_a_new_survey_row_is_offered_and_queued_by_the_web_form(
    dss3: SurveyBand, client, make_user
) -> None:
    client.force_login(make_user("hubble", "edwin@example.org"))
    page = client.get(reverse("request-list")).content.decode()
    assert '<option value="DSS3">' in page
    form = {"width": "5", "height": "5", "frame": "J2000", "survey": "DSS3", "mode": "c"}
    form |= {"compression": "X", "identifier": "d3", "lon": "12 00 00", "lat": "+10 00 00"}
    response = client.post(
        reverse("request-list"), {"submit": "field", **{f"f-{k}": v for k, v in form.items()}}
    )
    assert response.status_code == 302
    field = Field.objects.get()
    assert (field.survey, field.mode, field.compression) == ("DSS3", "c", "X")
    field.full_clean()
    assert field.get_mode_display() == "c: the plate whose centre is closest"
    assert "DSS3" in known_surveys() and finder_surveys()[-1] == "DSS3"


def test_an_unknown_survey_is_refused_with_the_table_s_tokens() -> None:
    (bad,) = parse_request_list(line("DSS3") + "\n").errors
    assert "use DSS1, DSS2, DSS2R, DSS2B or DSS2I" in str(bad.error)


# -- DSS2 is the red survey; selection among held plates -----------------------------------


#: A patch of sky across the switch from SERC (south) to POSS-II (north) plates at -2.5 deg.
PATCH_RA, PATCH_DEC = (0.0, 50.0), (-40.0, 20.0)


@pytest.fixture
def dss2_sky(db: None) -> list[Plate]:
    """The synthetic DSS2 catalogue (every band) over the patch, about 2 plates in 3 online."""
    plates = [
        _catalogue_row(spec)
        for spec in survey_catalogue("DSS2")
        if PATCH_RA[0] <= spec.ra_deg <= PATCH_RA[1]
        and PATCH_DEC[0] <= spec.dec_deg <= PATCH_DEC[1]
    ]
    Plate.objects.bulk_create(plates)
    rng = np.random.default_rng(7)
    online = [p.plate_id for p in plates if rng.random() < 0.65]
    Plate.objects.filter(plate_id__in=online).update(online=True, data_file="synthetic.fits")
    return list(Plate.objects.filter(survey="DSS2"))


def random_fields(n: int, seed: int) -> list[tuple[float, float]]:
    """Random field centres well inside the patch (the catalogue is complete around them)."""
    rng = np.random.default_rng(seed)
    ras = rng.uniform(PATCH_RA[0] + 8, PATCH_RA[1] - 8, n)
    decs = rng.uniform(PATCH_DEC[0] + 8, PATCH_DEC[1] - 8, n)
    return list(zip(ras.tolist(), decs.tolist(), strict=True))


def test_dss2_and_dss2r_pick_the_same_red_plate_in_every_mode(dss2_sky: list[Plate]) -> None:
    for ra, dec in random_fields(30, seed=1):
        for mode in ("e", "c"):
            picks = []
            for token in ("DSS2", "DSS2R"):
                try:
                    picks.append(plate_select(FieldTarget(token, mode, "", ra, dec, 30, 30)).plate)
                except FieldSkip as skip:
                    picks.append(str(skip))
            assert picks[0] == picks[1], (ra, dec, mode)
            if isinstance(picks[0], Plate):
                assert picks[0].band == "R" and picks[0].online
        tables = [plates_table(FieldTarget(t, "n", "", ra, dec, 30, 30)) for t in ("DSS2", "DSS2R")]
        assert tables[0] == tables[1]


def test_mode_n_lists_every_band_and_marks_offline_plates(dss2_sky: list[Plate]) -> None:
    ra, dec = 11.888, -25.288  # NGC 253
    target = FieldTarget("DSS2B", "n", "", ra, dec, 45, 45)
    touching = [p for p, c in plates_touching(target, every_band=True) if c.covered]
    assert {p.band for p in touching} == {"R", "B", "I"}
    table = plates_table(target)
    rows = table.splitlines()[2:]
    assert len(rows) == len(touching)
    for plate in touching:
        (row,) = [r for r in rows if r.startswith(plate.plate_id)]
        assert row.split()[2] == plate.band
        assert row.rstrip().endswith("yes" if plate.online else "no")


def test_every_field_an_online_plate_covers_is_served(dss2_sky: list[Plate]) -> None:
    for ra, dec in random_fields(30, seed=2):
        for token in ("DSS2", "DSS2B", "DSS2I"):
            edge = FieldTarget(token, "e", "", ra, dec, 20, 20)
            pairs = plates_touching(edge)
            if any(p.online and c.covered for p, c in pairs):
                assert plate_select(edge).plate.online
            centre = FieldTarget(token, "c", "", ra, dec, 20, 20)
            if any(p.online and c.centre_inside for p, c in pairs):
                assert plate_select(centre).plate.online


def _selections(targets: list[FieldTarget]) -> list[object]:
    """What selection says of each target: the plate and why, or the skip reason; mode n's table."""
    said: list[object] = []
    for target in targets:
        if target.mode == "n":
            said.append(plates_table(target))
            continue
        try:
            choice = plate_select(target)
        except FieldSkip as skip:
            said.append(str(skip))
        else:
            said.append((choice.plate.pk, choice.reason, choice.clipped, choice.coverage))
    return said


def test_a_task_s_memoised_catalogue_selects_exactly_as_fresh_reads_do(
    dss2_sky: list[Plate],
) -> None:
    """Fields of one task share one read of the catalogue: same choices, fewer reads."""
    rng = np.random.default_rng(3)
    targets = [
        FieldTarget(token, mode, "", ra, dec, float(size), float(size))
        for (ra, dec), token, mode, size in zip(
            random_fields(40, seed=3),
            rng.choice(["DSS2", "DSS2B", "DSS2I"], 40),
            rng.choice(["e", "c", "n"], 40),
            rng.choice([10, 30, 60], 40),
            strict=True,
        )
    ]
    # A task's fields lie close together: a second pass near the first ones.
    targets += [replace(t, ra_deg=t.ra_deg + 0.05, dec_deg=t.dec_deg - 0.05) for t in targets]
    with CaptureQueriesContext(connection) as fresh_queries:
        fresh = _selections(targets)
    with CaptureQueriesContext(connection) as memo_queries, catalogue_memoised():
        memoised = _selections(targets)
    assert memoised == fresh
    assert len(memo_queries) < len(fresh_queries) / 4
    # A change of the catalogue is seen by the next task.
    chosen = next(s for s in fresh if isinstance(s, tuple))
    Plate.objects.filter(pk=chosen[0]).update(online=False)
    with catalogue_memoised():
        assert _selections(targets) != fresh
