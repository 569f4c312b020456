"""The request forms: one field built from boxes, or a list in the mail syntax (typed or a file).

Both end as request-list text, read by the one parser that mail uses: a form only builds
the line, it never decides on its own what a valid field is.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from extraction.core.positions import (
    Frame,
    ListPosition,
    list_position,
    parse_position,
    position_designation,
    position_problems,
)
from extraction.core.surveys import SURVEY_BANDS, PlateMode
from extraction.models import compression_choices, mode_choices
from extraction.services.names import NameNotFound, name_resolve
from extraction.services.requests import parse_with_limits
from extraction.text.mailtext import decode_text


def survey_choices() -> list[tuple[str, str]]:
    """Column 11, from the survey table of the core: ``DSS2R`` is what ``DSS2`` means."""
    return [(row.token, row.description) for row in SURVEY_BANDS.values()]


def _any_survey_choices() -> list[tuple[str, str]]:
    return [("", "every survey and band"), *survey_choices()]


FRAME_CHOICES = [
    ("J2000", "R.A./Dec. J2000"),
    ("B1950", "R.A./Dec. B1950"),
    ("galactic", "galactic l/b"),
]
_IDENTIFIER_BAD = re.compile(r"[^A-Za-z0-9._+-]+")


def _identifier_from(name: str) -> str:
    """``'NGC 253'`` -> ``'NGC253'``: an identifier column (one token) from an object name."""
    return _IDENTIFIER_BAD.sub("", name.replace(" ", ""))[:64]


def _identifier_typed(text: str) -> str:
    """The identifier as typed, made one token of the list: blanks become ``_`` and a leading
    ``#`` (which would make the line a comment) too. Other characters stay, and the parser
    maps them to ``_`` in the file name, as for a mailed list (they were dropped here)."""
    token = "_".join(text.split())
    return ("_" + token[1:] if token.startswith("#") else token)[:64]


def _designation_from(data: dict[str, Any]) -> str:
    """An identifier for a typed position without a name, in the frame it was typed in
    (``J120513.2+304532``, ``B...``, ``G359.9442-0.0462``): never one name for every field."""
    frame: Frame = data.get("frame") or "J2000"
    lon, lat = parse_position(data["lon"].strip(), data["lat"].strip(), frame)
    return position_designation(lon, lat, frame)


def position_from(form: forms.Form, data: dict[str, Any]) -> ListPosition | None:
    """The position of a form with ``name``, ``lon``, ``lat`` and ``frame`` boxes.

    A typed position wins over a name; a name is resolved offline (OpenNGC). Problems are
    added to the form and ``None`` is returned.
    """
    name = (data.get("name") or "").strip()
    lon, lat = (data.get("lon") or "").strip(), (data.get("lat") or "").strip()
    frame: Frame = data.get("frame") or "J2000"
    if lon or lat:
        problems = position_problems(lon, lat, frame)
        for box, problem in problems:
            form.add_error(box, problem)
        return None if problems else list_position(*parse_position(lon, lat, frame), frame)
    if not name:
        form.add_error(None, "Give an object name or a position.")
        return None
    try:
        resolved = name_resolve(name=name)
    except NameNotFound as exc:
        form.add_error("name", str(exc)[:1].upper() + str(exc)[1:])
        return None
    data["resolved"] = resolved  # which resolver answered, for the pages to say
    return list_position(resolved.ra_deg, resolved.dec_deg, "J2000")


class PositionForm(forms.Form):
    """A field on the sky: an object name or a typed position, and a size."""

    name = forms.CharField(
        label="Object name",
        required=False,
        max_length=64,
        help_text="NGC, IC, Messier, PGC, UGC, a common name or a bright star (e.g. NGC 253, "
        "M31, Sombrero, LMC, Vega), resolved here first; or leave empty and type a position.",
    )
    lon = forms.CharField(
        label="R.A. (or l)",
        required=False,
        max_length=40,
        help_text="12 05 13.2, 12:05:13.2 (hours) or 181.305 (degrees)",
    )
    lat = forms.CharField(
        label="Dec. (or b)",
        required=False,
        max_length=40,
        help_text="-25 17 32 or -25.2922 (degrees)",
    )
    frame = forms.ChoiceField(
        label="Coordinates", choices=FRAME_CHOICES, initial="J2000", required=False
    )
    width = forms.FloatField(label="Width (arcmin)", initial=10.0)
    height = forms.FloatField(label="Height (arcmin)", initial=10.0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = settings.DSSPORTAL_MAX_FIELD_ARCMIN
        for side in ("width", "height"):
            widget = self.fields[side].widget
            widget.attrs.update({"min": "0.1", "max": f"{limit:g}", "step": "any"})
        self.fields["name"].widget.attrs["autocomplete"] = "off"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["position"] = position_from(self, data)
        return data


#: A problem of the parser's, about one column or a range of them (``columns 2-4 (R.A.): ``).
_COLUMN_PROBLEM = re.compile(r"(?:^|;\s*)columns? (\d+)(?:-\d+)? \([^)]*\):\s*")
#: The box of the one-field form that each column of the line comes from.
_FIELD_OF_COLUMN = {
    1: "identifier", 2: "lon", 3: "lon", 4: "lon", 5: "lat", 6: "lat", 7: "lat",
    8: "width", 9: "height", 10: "frame", 11: "survey", 12: "mode", 13: "compression",
}  # fmt: skip


#: The columns a position fills (R.A., Dec., equinox): judged by the position's own boxes.
_POSITION_COLUMNS = frozenset({2, 3, 4, 5, 6, 7, 10})


def _sentence(text: str) -> str:
    text = text.strip().rstrip(";")
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


class FieldForm(PositionForm):
    """One field: an object name or a position, its size, survey, mode and compression."""

    identifier = forms.CharField(
        label="Identifier (file name)",
        required=False,
        max_length=64,
        help_text="Names the output file; the object name without blanks when left empty.",
    )
    survey = forms.ChoiceField(label="Survey and band", choices=survey_choices, initial="DSS2R")
    mode = forms.ChoiceField(label="Plate", choices=mode_choices, initial=PlateMode.EDGE)
    plate_id = forms.CharField(
        label="Plate id",
        required=False,
        max_length=8,
        help_text="Only with “a plate I name”; the plates covering the field are offered.",
    )
    compression = forms.ChoiceField(label="Compression", choices=compression_choices, initial="G")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["plate_id"].widget.attrs["list"] = "plate-choices"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        no_plate_named = not (data.get("plate_id") or "").strip()
        if data.get("mode") == PlateMode.PLATE and no_plate_named:
            self.add_error("plate_id", "Name the plate (its plate id), or choose another mode.")
        if data.get("position") is None:
            self._check_the_other_boxes(data)
            return data
        data["identifier"] = (
            _identifier_typed(data.get("identifier") or "")
            or _identifier_from(data.get("name") or "")
            or _designation_from(data)
        )
        return data

    def _check_the_other_boxes(self, data: dict[str, Any]) -> None:
        """Without a position the line cannot be built; the size, survey, plate and identifier
        are still judged, on a stand-in position, so that every problem is told at once."""
        needed = ("width", "height", "survey", "mode", "compression")
        if any(name not in data or name in self.errors for name in needed):
            return
        if data["mode"] == PlateMode.PLATE and "plate_id" in self.errors:
            return
        identifier = _identifier_typed(data.get("identifier") or "") or "field"
        line = self.list_line(position=list_position(0.0, 0.0, "J2000"), identifier=identifier)
        parsed = parse_with_limits(line)
        if parsed.errors:
            self.add_list_errors(parsed.errors[0].error or "", skip_columns=_POSITION_COLUMNS)

    def add_list_errors(self, error: str, *, skip_columns: frozenset[int] = frozenset()) -> None:
        """The request-list parser's verdict on :meth:`list_line`, each problem under the box
        it is about (``column 8 (width, arcmin): ...`` under the width), not as list syntax."""
        pieces = _COLUMN_PROBLEM.split(error)
        if pieces[0].strip():
            self.add_error(None, _sentence(pieces[0]))
        for first_column, text in zip(pieces[1::2], pieces[2::2], strict=True):
            if int(first_column) in skip_columns:
                continue
            name = _FIELD_OF_COLUMN.get(int(first_column))
            if name == "mode" and self.cleaned_data.get("mode") == PlateMode.PLATE:
                name = "plate_id"
            self.add_error(name if name in self.fields else None, _sentence(text))

    def list_line(
        self, *, position: ListPosition | None = None, identifier: str | None = None
    ) -> str:
        """The field as one line of the request list (after ``is_valid()``; or, with a
        stand-in ``position`` and ``identifier``, to judge the other boxes)."""
        data = self.cleaned_data
        position = position or data["position"]
        mode = data["plate_id"].strip() if data["mode"] == PlateMode.PLATE else data["mode"]
        return " ".join(
            [
                identifier or data["identifier"],
                position.ra_text,
                position.dec_text,
                _size_column(data["width"]),
                _size_column(data["height"]),
                position.equinox,
                data["survey"],
                mode,
                data["compression"],
            ]
        )


def _size_column(arcmin: float) -> str:
    """A size as the user typed it, in plain decimals: ``:g`` wrote 1e-05 (which the list
    refuses as exponent notation) and cut 0.1234567891 to 0.123457."""
    return format(Decimal(repr(float(arcmin))), "f")


class RequestListForm(forms.Form):
    """A list in the mail syntax, typed or pasted, and/or a text file of it."""

    text = forms.CharField(
        label="Request list",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "autocomplete": "off"}),
        help_text="One field per line: identifier, R.A. h m s, Dec. d m s, width and height "
        "(arcmin), equinox, survey, mode, compression; as in a request mail.",
    )
    upload = forms.FileField(
        label="or a text file of the list",
        required=False,
        help_text="Plain text in the same syntax; it is added after the lines typed above.",
    )

    def _upload_text(self, upload: UploadedFile) -> str:
        if (upload.size or 0) > settings.DSSPORTAL_MAX_MAIL_BYTES:
            raise forms.ValidationError(self._too_large())
        # The mail gate's charset rules (a BOM, the declared charset, UTF-8, else Latin-1):
        # a UTF-16 or Latin-1 file reads as it does attached to a mail.
        text = decode_text(upload.read(), upload.charset)
        if "\x00" in text[:4096]:
            raise forms.ValidationError(
                f"{upload.name} is not a text file; save the list as plain text."
            )
        return text

    @staticmethod
    def _too_large() -> str:
        return (
            f"The list is larger than {settings.DSSPORTAL_MAX_MAIL_BYTES // 1000} kB; "
            "split it into several requests."
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        text: str = data.get("text") or ""
        upload = data.get("upload")
        if upload:
            uploaded = self._upload_text(upload)
            text = f"{text.rstrip()}\n{uploaded}" if text.strip() else uploaded
        if len(text.encode("utf-8")) > settings.DSSPORTAL_MAX_MAIL_BYTES:
            raise forms.ValidationError(self._too_large())
        if not text.strip():
            raise forms.ValidationError("The list is empty: type lines or choose a file.")
        data["text"] = text
        return data


class PlateFinderForm(PositionForm):
    """The plate finder: a position or name, a size, and which survey (all by default)."""

    survey = forms.ChoiceField(
        label="Survey and band",
        required=False,
        choices=_any_survey_choices,
    )
