"""Plates, requests, fields and staging directories.

State changes of requests and fields go through ``extraction.services``; these classes only
describe what is stored and the constraints that keep it consistent.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper

from extraction.core.catalogues import ResolvedName
from extraction.core.surveys import BANDS, COMPRESSIONS, MODES, SURVEYS, PlateMode
from extraction.text.naming import STAGING_NAME_RE

# Choices of the fields that hold facts of the survey table. They are callables, read at run
# time: migrations record the function, not the values, so a new row of the table (a survey,
# a band, a compression) needs no migration, and validation still refuses what is not in it.


def survey_choices() -> list[tuple[str, str]]:
    """``Plate.survey``: every survey of the table."""
    return [(name, name) for name in SURVEYS]


def band_choices() -> list[tuple[str, str]]:
    """``Plate.band``: every band of the table (``"red (E/F)"``...)."""
    return [(band.letter, band.label) for band in BANDS.values()]


def mode_choices() -> list[tuple[str, str]]:
    """``Field.mode``: every plate mode."""
    return [(mode.value, text) for mode, text in MODES.items()]


def compression_choices() -> list[tuple[str, str]]:
    """``Field.compression``: every output compression of the table."""
    return [(c.code, c.codec) for c in COMPRESSIONS.values()]


class Plate(models.Model):
    """One photographic plate of a survey, catalogued and (when ``online``) stored here.

    Pixel coordinates follow the DSS convention: the digitized extent is the box of the full
    plate starting at ``(x0, y0)`` (the CNPIX1/CNPIX2 of the stored scan) with ``width_px`` x
    ``height_px`` pixels; a whole-plate scan has ``x0 = y0 = 0``.
    """

    survey = models.CharField(max_length=4, choices=survey_choices)
    plate_id = models.CharField("plate id", max_length=8)
    region = models.CharField("region id", max_length=8, blank=True)
    label = models.CharField("plate label", max_length=16, blank=True)
    band = models.CharField(max_length=1, choices=band_choices, blank=True)
    emulsion = models.CharField(max_length=16, blank=True)
    filter_name = models.CharField("filter", max_length=16, blank=True)
    telescope = models.CharField(max_length=48, blank=True)
    epoch = models.FloatField(null=True, blank=True, help_text="Decimal year of the exposure.")
    date_obs = models.DateField("observation date", null=True, blank=True)
    exposure_min = models.FloatField("exposure (min)", null=True, blank=True)
    ra_deg = models.FloatField("plate centre RA (J2000, deg)")
    dec_deg = models.FloatField("plate centre Dec (J2000, deg)")
    pixel_scale_arcsec = models.FloatField("pixel scale (arcsec)")
    plate_width_px = models.PositiveIntegerField("full plate width (px)")
    plate_height_px = models.PositiveIntegerField("full plate height (px)")
    x0 = models.IntegerField("digitized origin x (CNPIX1)", default=0)
    y0 = models.IntegerField("digitized origin y (CNPIX2)", default=0)
    width_px = models.PositiveIntegerField("digitized width (px)")
    height_px = models.PositiveIntegerField("digitized height (px)")
    header = models.TextField("plate-solution header", help_text="FITS cards, 80 characters each.")
    data_file = models.CharField(
        max_length=255, blank=True, help_text="Path of the pixel data below the plates directory."
    )
    online = models.BooleanField(default=False, help_text="Pixel data are stored here.")
    synthetic = models.BooleanField(default=False, help_text="Made by synthesize_plates.")
    footprint = models.JSONField(
        null=True,
        blank=True,
        editable=False,
        help_text="The scanned area on the sky from the plate solution (centre and outline, "
        "degrees), for the IVOA services; filled on first need, cleared when the plate changes.",
    )
    imported_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["survey", "plate_id"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "plate_id"], name="plate_survey_id_unique"),
            models.CheckConstraint(
                condition=Q(online=False) | ~Q(data_file=""), name="plate_online_has_data"
            ),
        ]
        indexes = [
            models.Index(fields=["survey", "band"], name="plate_survey_band"),
            models.Index(fields=["survey", "online"], name="plate_survey_online"),
            models.Index(fields=["region"], name="plate_region"),
            # The catalogue's change stamp (count, newest updated_at), read on every IVOA
            # query and plate selection, from the index instead of the wide rows.
            models.Index(fields=["updated_at"], name="plate_updated"),
            # Plates named by id in any case (SODA and DataLink IDs, PLATE-ID fields, plate
            # pages): PostgreSQL matches UPPER(plate_id) here instead of scanning the survey.
            models.Index(Upper("plate_id"), F("survey"), name="plate_id_any_case"),
        ]

    def __str__(self) -> str:
        return f"{self.survey} {self.plate_id} ({self.region or 'no region'})"


class RequestSource(models.TextChoices):
    MAIL = "mail", "e-mail"
    WEB = "web", "web form"
    API = "api", "JSON API"


class RequestStatus(models.TextChoices):
    """See :mod:`extraction.services.lifecycle` for who moves a request between these."""

    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    DONE = "done", "done"
    PARTIAL = "partial", "partly done"
    FAILED = "failed", "failed (nothing served)"
    CANCELLED = "cancelled", "cancelled"
    REJECTED = "rejected", "rejected (no valid field)"


class Request(models.Model):
    """One list of fields as it arrived: an e-mail or a form submission, stored even when
    every line was rejected, so that staff see what came in."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="requests"
    )
    source = models.CharField(max_length=4, choices=RequestSource.choices)
    # NULL, not "", for web requests: the unique constraint applies only when present.
    message_id = models.CharField("Message-ID", max_length=255, null=True, blank=True)  # noqa: DJ001
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    raw_text = models.TextField("request list as received")
    status = models.CharField(
        max_length=10, choices=RequestStatus.choices, default=RequestStatus.QUEUED
    )
    rejected_lines = models.JSONField(
        default=list,
        blank=True,
        help_text="[{line, text, error}] for the first lines that did not parse "
        "(at most DSSPORTAL_MAX_LISTED_ERRORS; n_rejected counts them all).",
    )
    n_fields = models.PositiveIntegerField("fields", default=0)
    n_rejected = models.PositiveIntegerField("rejected lines", default=0)
    n_done = models.PositiveIntegerField("done", default=0)
    n_skipped = models.PositiveIntegerField("skipped", default=0)
    n_failed = models.PositiveIntegerField("failed", default=0)
    n_cancelled = models.PositiveIntegerField("cancelled", default=0)
    retries = models.PositiveSmallIntegerField(
        default=0, help_text="How many times staff re-queued failed fields."
    )
    expected_bytes = models.BigIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the request was settled and its completion message became owed.",
    )
    mailed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the owed completion message was handed to the mail server or outbox.",
    )

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "message_id"],
                condition=Q(message_id__isnull=False),
                name="request_user_message_id_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "received_at"], name="request_status_received"),
            models.Index(fields=["user", "received_at"], name="request_user_received"),
            # The sweepers look for owed completion mails every few seconds: only the few
            # owed rows are indexed, not the archive's whole history.
            models.Index(
                fields=["notified_at"],
                condition=Q(mailed_at__isnull=True, notified_at__isnull=False),
                name="request_mail_owed",
            ),
        ]

    def __str__(self) -> str:
        return f"request {self.pk} by {self.user} ({self.status})"

    @property
    def n_not_served(self) -> int:
        """Fields that ended without a file: skipped, failed or cancelled."""
        return self.n_skipped + self.n_failed + self.n_cancelled

    @property
    def n_finished(self) -> int:
        return self.n_done + self.n_not_served

    @property
    def files_deleted_at(self) -> datetime | None:
        """When the staging directory (and so every file of this request) was deleted."""
        staging = getattr(self, "staging", None)
        return staging.deleted_at if staging is not None else None


class FieldStatus(models.TextChoices):
    """See :mod:`extraction.services.lifecycle` for who moves a field between these."""

    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    DONE = "done", "done"
    SKIPPED = "skipped", "skipped"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"


class CancelReason(models.TextChoices):
    """Who or what called a cancelled field off (the completion mail tells them apart);
    empty for fields not cancelled."""

    OWNER = "owner", "at the owner's request"
    STAFF = "staff", "by the archive staff"
    STAGING_DELETED = "staging-deleted", "staging directory deleted"


class Field(models.Model):
    """One valid line of a request: one image (or, in mode n, one plate list)."""

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="fields")
    line_no = models.PositiveIntegerField("line")
    raw_line = models.TextField("line as received")
    identifier = models.CharField(max_length=64)
    stem = models.CharField("file stem", max_length=80)
    equinox = models.CharField(max_length=5)
    ra_text = models.CharField("RA as given", max_length=40)
    dec_text = models.CharField("Dec as given", max_length=40)
    ra_deg = models.FloatField("RA (J2000, deg)")
    dec_deg = models.FloatField("Dec (J2000, deg)")
    width_arcmin = models.FloatField()
    height_arcmin = models.FloatField()
    survey = models.CharField(max_length=5)  # DSS1, DSS2, DSS2R, DSS2B, DSS2I
    mode = models.CharField(max_length=5, choices=mode_choices)
    plate_id_asked = models.CharField(max_length=8, blank=True)
    compression = models.CharField(max_length=1, choices=compression_choices)
    expected_bytes = models.BigIntegerField(default=0)
    status = models.CharField(
        max_length=10, choices=FieldStatus.choices, default=FieldStatus.QUEUED
    )
    cancel_reason = models.CharField(
        max_length=20, choices=CancelReason.choices, blank=True, default=""
    )
    plate = models.ForeignKey(
        Plate, on_delete=models.SET_NULL, null=True, blank=True, related_name="fields"
    )
    plate_reason = models.CharField("why this plate", max_length=200, blank=True)
    clipped = models.BooleanField(default=False)
    output_name = models.CharField(max_length=100, blank=True)
    bytes = models.BigIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    #: When the field's current task was put on the queue; the fields of one task share it.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the file was deleted with its staging directory."
    )

    class Meta:
        ordering = ["request", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["request", "line_no"], name="field_request_line"),
            models.UniqueConstraint(fields=["request", "stem"], name="field_request_stem"),
        ]
        indexes = [
            models.Index(fields=["request", "status"], name="field_request_status"),
            models.Index(fields=["status", "started_at"], name="field_status_started"),
            models.Index(fields=["status", "enqueued_at"], name="field_status_enqueued"),
            models.Index(fields=["identifier"], name="field_identifier"),
        ]

    def __str__(self) -> str:
        return f"{self.identifier} (line {self.line_no}, {self.status})"

    @property
    def makes_image(self) -> bool:
        """False in mode n, whose output is a list of plates."""
        return PlateMode(self.mode).makes_image


class FieldPlate(models.Model):
    """A plate a mosaic field (mode m) was built from: ``PLATEn`` of its FITS header.

    ``position`` is ``n`` (the value of the plate's pixels in the PLATEMAP extension). The
    plate id is kept as text so the record outlives the catalogue row.
    """

    field = models.ForeignKey(Field, on_delete=models.CASCADE, related_name="mosaic_plates")
    position = models.PositiveSmallIntegerField("PLATEn")
    plate = models.ForeignKey(
        Plate, on_delete=models.SET_NULL, null=True, blank=True, related_name="mosaic_fields"
    )
    plate_code = models.CharField("plate id", max_length=8)
    survey = models.CharField(max_length=4)
    region = models.CharField("region id", max_length=8, blank=True)
    offset = models.FloatField("offset subtracted (ADU)")
    pixels = models.PositiveIntegerField("pixels taken")

    class Meta:
        ordering = ["field", "position"]
        constraints = [
            models.UniqueConstraint(fields=["field", "position"], name="fieldplate_position"),
        ]

    def __str__(self) -> str:
        return f"PLATE{self.position} = {self.survey} {self.plate_code}"


class StagingDirectory(models.Model):
    """Where one request's files are staged for FTP and HTTP, until it expires."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staging_directories"
    )
    request = models.OneToOneField(
        Request, on_delete=models.SET_NULL, null=True, blank=True, related_name="staging"
    )
    name = models.CharField(max_length=40, unique=True)
    path = models.CharField(
        max_length=255, help_text="Relative to the staging root: <user area>/<name>."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_reason = models.CharField(max_length=40, blank=True)
    bytes = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "staging directories"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(name__regex=STAGING_NAME_RE.pattern), name="staging_name_pattern"
            ),
        ]
        indexes = [
            models.Index(fields=["user", "deleted_at"], name="staging_user_deleted"),
            models.Index(fields=["deleted_at", "expires_at"], name="staging_live_expiry"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def absolute_path(self) -> Path:
        return settings.STAGING_DIR / self.path


# --- Inbound mail (mail gateway) ---------------------------------------------------------------
# Appended by the mail gateway (extraction.mail.gate); nothing above depends on it.


class InboundMailKind(models.TextChoices):
    REQUEST = "request", "request list"
    DELETE = "delete", "deletion list"
    UNROUTABLE = "unroutable", "unroutable"


class InboundMailOutcome(models.TextChoices):
    ACCEPTED = "accepted", "request accepted"
    REJECTED = "rejected", "request without a valid line"
    DELETED = "deleted", "deletion list handled"
    DUPLICATE = "duplicate", "duplicate of a handled message"
    STRANGER = "stranger", "unregistered sender"
    TOO_LARGE = "too_large", "too large"
    UNREADABLE = "unreadable", "MIME structure not read"
    AUTO_SUBMITTED = "auto_submitted", "automatic mail, ignored"
    UNROUTABLE = "unroutable", "not for the request or deletion address"
    HELD = "held", "held: From failed SPF/DKIM/DMARC"
    REFUSED = "refused", "refused: From failed SPF/DKIM/DMARC"
    RATE_LIMITED = "rate_limited", "over the sender's hourly limit"
    FAILED = "failed", "failed (software fault)"


class InboundMail(models.Model):
    """One message that reached the mail gate, whatever became of it: staff see here what
    arrived, what was done with it and whether it was answered."""

    # NULL, not "", on duplicates and failures: the unique constraint applies only when set.
    dedup_key = models.CharField(  # noqa: DJ001
        max_length=64,
        null=True,
        blank=True,
        editable=False,
        help_text="SHA-256 of routing kind, sender and Message-ID, held by the first copy "
        "handled; empty on duplicates and failures.",
    )
    message_id = models.CharField("Message-ID", max_length=255, blank=True)
    message_id_synthetic = models.BooleanField(
        "synthetic Message-ID",
        default=False,
        help_text="The message had no Message-ID; this one hashes sender, body and day.",
    )
    sender = models.CharField("sender address", max_length=254, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="inbound_mails",
    )
    kind = models.CharField(max_length=10, choices=InboundMailKind.choices)
    subject = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    size = models.PositiveIntegerField("size (bytes)", default=0)
    outcome = models.CharField(max_length=16, choices=InboundMailOutcome.choices)
    detail = models.TextField(blank=True)
    request = models.ForeignKey(
        Request, on_delete=models.SET_NULL, null=True, blank=True, related_name="inbound_mails"
    )
    replied = models.BooleanField(default=False, help_text="A reply was sent to the sender.")
    raw = models.BinaryField(
        "message as received", blank=True, help_text="Up to DSSPORTAL_MAX_MAIL_BYTES."
    )
    raw_truncated = models.BooleanField(default=False)

    class Meta:
        verbose_name = "inbound mail"
        verbose_name_plural = "inbound mail"
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedup_key"],
                condition=Q(dedup_key__isnull=False),
                name="inboundmail_dedup_key_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["sender", "received_at"], name="inboundmail_sender_received"),
            models.Index(fields=["outcome", "received_at"], name="inboundmail_outcome_received"),
            models.Index(fields=["received_at"], name="inboundmail_received"),
        ]

    def __str__(self) -> str:
        return f"{self.sender or 'unknown sender'}: {self.subject or '(no subject)'}"


# --- Synchronous cut-outs (JSON API) ---------------------------------------------------------
# Appended by the API (extraction.services.cutouts); nothing above depends on it.


class CutoutUsage(models.Model):
    """One user's synchronous cut-outs on one UTC day: the daily allowance. (The per-minute
    rate is a counter of :mod:`accounts.throttle`, as every other rate.)"""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cutout_usage"
    )
    day = models.DateField()
    n_cutouts = models.PositiveIntegerField(default=0)
    bytes = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "cut-out usage"
        verbose_name_plural = "cut-out usage"
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["user", "day"], name="cutoutusage_user_day_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.day}: {self.n_cutouts} cut-outs, {self.bytes} bytes"


class ResolvedNameCache(models.Model):
    """What the on-line name resolver (CDS Sesame) said of a name, so it is asked once: a
    position, or nothing (``found`` false), until ``expires_at``."""

    key = models.CharField(max_length=200, unique=True, help_text="the name, folded")
    found = models.BooleanField(default=False)
    name = models.CharField(max_length=200, blank=True)
    ra_deg = models.FloatField(null=True, blank=True)
    dec_deg = models.FloatField(null=True, blank=True)
    object_type = models.CharField(max_length=40, blank=True)
    source = models.CharField(max_length=100, blank=True)
    fetched_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = "resolved name (on-line cache)"
        verbose_name_plural = "resolved names (on-line cache)"

    def __str__(self) -> str:
        return f"{self.key}: {self.name or 'not found'}"

    def fresh(self, now: datetime) -> bool:
        return now < self.expires_at

    def resolved(self, query: str) -> ResolvedName | None:
        if not self.found or self.ra_deg is None or self.dec_deg is None:
            return None
        return ResolvedName(
            query=query,
            name=self.name,
            ra_deg=self.ra_deg,
            dec_deg=self.dec_deg,
            object_type=self.object_type,
            source=f"{self.source} (cached {self.fetched_at:%Y-%m-%d})",
        )

    @classmethod
    def store(cls, *, key: str, resolved: ResolvedName | None, expires_at: datetime) -> None:
        values: dict[str, object] = {"found": resolved is not None, "expires_at": expires_at}
        if resolved is not None:
            values |= {
                "name": resolved.name[:200],
                "ra_deg": resolved.ra_deg,
                "dec_deg": resolved.dec_deg,
                "object_type": resolved.object_type[:40],
                "source": resolved.source[:100],
            }
        cls.objects.update_or_create(key=key, defaults=values)
