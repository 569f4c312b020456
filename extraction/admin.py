"""The operators' console: plates, requests with their fields, staging directories."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from extraction.core.cutout import sexagesimal_dec, sexagesimal_ra
from extraction.core.surveys import BANDS, SURVEY_BANDS, SURVEYS
from extraction.models import (
    CutoutUsage,
    Field,
    FieldPlate,
    Plate,
    Request,
    ResolvedNameCache,
    StagingDirectory,
)
from extraction.pictures.skymap import sky_map_svg
from extraction.services.plates import plate_outlines
from extraction.services.requests import fields_retry_failed, request_cancel
from extraction.services.staging import StagingError, staging_directory_delete


def _admin_link(obj: object, label: str | None = None) -> str:
    if obj is None:
        return "-"
    meta = obj._meta  # type: ignore[attr-defined]
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])  # type: ignore[attr-defined]
    return format_html('<a href="{}">{}</a>', url, label or str(obj))


@admin.register(Plate)
class PlateAdmin(admin.ModelAdmin):
    list_display = (
        "plate_id",
        "survey",
        "region",
        "band",
        "emulsion",
        "epoch_year",
        "centre_ra",
        "centre_dec",
        "online",
        "synthetic",
    )
    list_filter = ("survey", "band", "online", "synthetic", "telescope")
    search_fields = ("plate_id", "region", "label")
    readonly_fields = ("imported_at", "updated_at", "header_cards")
    exclude = ("header",)
    list_per_page = 100

    # Plates enter the catalogue through import_plates (a file, the original media, a plate
    # list) and synthesize_plates, which parse and check the plate solution; every column is
    # read from it. Added or edited here, a plate without a header, or with a centre, a size
    # or a data path that disagrees with it, broke SIA-2, the coverage maps, the plate finder
    # and every cut-out near it with a 500. Staff read plates here; re-import to change one.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="epoch", ordering="epoch")
    def epoch_year(self, obj: Plate) -> str:
        return f"{obj.epoch:.2f}" if obj.epoch is not None else "-"

    @admin.display(description="RA (J2000)", ordering="ra_deg")
    def centre_ra(self, obj: Plate) -> str:
        return sexagesimal_ra(obj.ra_deg)[:8]

    @admin.display(description="Dec (J2000)", ordering="dec_deg")
    def centre_dec(self, obj: Plate) -> str:
        return sexagesimal_dec(obj.dec_deg)[:9]

    @admin.display(description="plate-solution header")
    def header_cards(self, obj: Plate) -> str:
        return format_html("<pre>{}</pre>", obj.header)

    def get_urls(self) -> list[URLPattern]:
        sky = path("sky-map/", self.admin_site.admin_view(self.sky_map_view), name="plate-sky-map")
        return [sky, *super().get_urls()]

    def sky_map_view(self, request: HttpRequest) -> HttpResponse:
        """All plate outlines of a survey (and band) on the sky, online plates filled."""
        survey = request.GET.get("survey", "DSS1")
        band = request.GET.get("band", "")
        plates = Plate.objects.filter(survey=survey)
        if band:
            plates = plates.filter(band=band)
        outlines = plate_outlines(plates)
        title = f"{survey} {band or 'all bands'}: {len(outlines)} plates, " + (
            f"{sum(o.online for o in outlines)} online"
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Plate outlines, {title}",
            "svg": mark_safe(sky_map_svg(outlines, title=title)),
            "surveys": list(SURVEYS),
            "bands": ["", *BANDS],
            "survey": survey,
            "band": band,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/extraction/plate/sky_map.html", context)


class CreatedByUsersOnly:
    """Requests and fields are made by mail, web and API only, and change state only through
    the lifecycle's actions (services): the admin shows them and offers those actions.

    Deleting is refused too: a request owns a staging directory on disk that counts in its
    owner's quota; "Cancel" and the staging directory's "Expire now" go through the services.
    Refusing here also refuses deleting a user who has requests (Django lists them as objects
    staff may not delete): deactivate such a user instead.
    """

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class SurveyBandFilter(admin.SimpleListFilter):
    """One entry per row of the survey table: a token and its aliases (``DSS2`` is
    ``DSS2R``) are one survey, however the user wrote it."""

    title = "survey"
    parameter_name = "survey_band"
    field_path = "survey"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(row.token, row.description) for row in SURVEY_BANDS.values()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        row = SURVEY_BANDS.get(self.value() or "")
        if row is None:
            return queryset
        tokens = [row.token, *row.aliases]
        return queryset.filter(**{f"{self.field_path}__in": tokens}).distinct()


class RequestSurveyFilter(SurveyBandFilter):
    field_path = "fields__survey"


class FieldInline(CreatedByUsersOnly, admin.TabularInline):
    model = Field
    extra = 0
    can_delete = False
    show_change_link = True
    fields = (
        "line_no",
        "identifier",
        "survey",
        "mode",
        "compression",
        "status",
        "plate",
        "output_name",
        "bytes",
        "deleted_at",
        "message",
    )
    readonly_fields = fields


@admin.register(Request)
class RequestAdmin(CreatedByUsersOnly, admin.ModelAdmin):
    list_display = (
        "id",
        "user_link",
        "source",
        "status",
        "received_at",
        "n_fields",
        "n_done",
        "n_skipped",
        "n_failed",
        "n_cancelled",
        "n_rejected",
        "staging_link",
    )
    list_filter = (
        "status",
        "source",
        RequestSurveyFilter,
        ("user", admin.RelatedOnlyFieldListFilter),
        "received_at",
    )
    search_fields = (
        "fields__identifier",
        "user__email",
        "user__username",
        "message_id",
        "fields__plate_id_asked",
        "fields__plate__plate_id",
    )
    date_hierarchy = "received_at"
    inlines = (FieldInline,)
    actions = ("retry_failed_fields", "cancel_requests")
    # Every column is read-only: a status set by hand ("done" with nothing done) would
    # contradict the fields; state changes only through the actions below.
    readonly_fields = (*(f.name for f in Request._meta.fields), "staging_link")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Request]:
        return super().get_queryset(request).select_related("user", "staging").distinct()

    @admin.display(description="user", ordering="user__username")
    def user_link(self, obj: Request) -> str:
        return _admin_link(obj.user, obj.user.username)

    @admin.action(description="Retry the failed fields of the selected requests")
    def retry_failed_fields(self, request: HttpRequest, queryset: QuerySet[Request]) -> None:
        counts = [fields_retry_failed(request=item) for item in queryset]
        unchanged = sum(1 for n in counts if n == 0)
        text = f"{sum(counts)} failed field(s) queued again."
        if unchanged:
            text += (
                f" {unchanged} request(s) unchanged: no failed field, or the staging "
                f"directory was deleted."
            )
        self.message_user(request, text, messages.SUCCESS)

    @admin.action(description="Cancel the selected requests (fields not yet started)")
    def cancel_requests(self, request: HttpRequest, queryset: QuerySet[Request]) -> None:
        count = sum(request_cancel(request=item) for item in queryset)
        self.message_user(
            request,
            f"{count} queued field(s) cancelled; running fields finish first.",
            messages.SUCCESS,
        )

    @admin.display(description="staging directory")
    def staging_link(self, obj: Request) -> str:
        return _admin_link(getattr(obj, "staging", None))


class FieldPlateInline(admin.TabularInline):
    """The plates of a mosaic field (mode m), PLATEn of its header."""

    model = FieldPlate
    extra = 0
    can_delete = False
    fields = ("position", "plate", "plate_code", "region", "offset", "pixels")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Field)
class FieldAdmin(CreatedByUsersOnly, admin.ModelAdmin):
    inlines = (FieldPlateInline,)
    list_display = (
        "identifier",
        "request_link",
        "line_no",
        "survey",
        "mode",
        "status",
        "plate",
        "bytes",
        "finished_at",
    )
    list_filter = ("status", SurveyBandFilter, "mode", "compression", "clipped")
    search_fields = ("identifier", "plate_id_asked", "plate__plate_id", "request__user__email")
    readonly_fields = [f.name for f in Field._meta.fields]
    list_select_related = ("request", "plate")

    @admin.display(description="request", ordering="request_id")
    def request_link(self, obj: Field) -> str:
        return _admin_link(obj.request, f"#{obj.request_id}")


class LiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("live", "live"), ("deleted", "deleted")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[StagingDirectory]
    ) -> QuerySet[StagingDirectory]:
        if self.value() == "live":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


@admin.register(StagingDirectory)
class StagingDirectoryAdmin(admin.ModelAdmin):
    """Directories are made by the workers and removed by "Expire now" (files and quota
    through the staging service): deleting a row here would orphan the files on disk."""

    list_display = (
        "name",
        "user_link",
        "request_link",
        "created_at",
        "expires_at",
        "deleted_at",
        "bytes",
    )
    list_filter = (LiveFilter, "deleted_reason", "created_at", "expires_at")
    actions = ("expire_now",)
    search_fields = ("name", "user__username", "user__email")
    readonly_fields = (
        "name",
        "path",
        "user_link",
        "request_link",
        "created_at",
        "deleted_at",
        "deleted_reason",
        "bytes",
    )
    exclude = ("user", "request")
    list_select_related = ("user", "request")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="user", ordering="user__username")
    def user_link(self, obj: StagingDirectory) -> str:
        return _admin_link(obj.user, obj.user.username)

    @admin.action(description="Expire the selected staging directories now")
    def expire_now(self, request: HttpRequest, queryset: QuerySet[StagingDirectory]) -> None:
        freed = 0
        for directory in queryset.filter(deleted_at__isnull=True):
            try:
                freed += staging_directory_delete(
                    directory=directory, reason="expired by staff"
                ).freed_bytes
            except StagingError as exc:
                self.message_user(request, str(exc), messages.ERROR)
        self.message_user(request, f"Freed {freed} bytes.", messages.SUCCESS)

    @admin.display(description="request")
    def request_link(self, obj: StagingDirectory) -> str:
        return _admin_link(obj.request, f"#{obj.request_id}" if obj.request_id else None)


# --- Inbound mail (mail gateway) ---------------------------------------------------------------

from extraction.models import InboundMail  # noqa: E402  (appended section, see above)


@admin.register(InboundMail)
class InboundMailAdmin(admin.ModelAdmin):
    """Every message the mail gate saw, as it arrived; read-only: the gate is the only writer."""

    list_display = (
        "received_at",
        "sender",
        "kind",
        "outcome",
        "subject",
        "request_link",
        "replied",
        "size",
    )
    list_filter = ("outcome", "kind", "replied", "received_at")
    search_fields = ("sender", "message_id", "subject")
    date_hierarchy = "received_at"
    list_select_related = ("request",)
    exclude = ("raw", "user", "request")
    readonly_fields = (
        "received_at",
        "sender",
        "user_link",
        "kind",
        "outcome",
        "detail",
        "request_link",
        "replied",
        "subject",
        "message_id",
        "message_id_synthetic",
        "size",
        "raw_truncated",
        "raw_text",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="request")
    def request_link(self, obj: InboundMail) -> str:
        return _admin_link(obj.request, f"#{obj.request_id}" if obj.request_id else None)

    @admin.display(description="user")
    def user_link(self, obj: InboundMail) -> str:
        return _admin_link(obj.user, obj.user.username if obj.user else None)

    @admin.display(description="message as received")
    def raw_text(self, obj: InboundMail) -> str:
        text = bytes(obj.raw or b"").decode("utf-8", errors="replace")
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", text)


@admin.register(CutoutUsage)
class CutoutUsageAdmin(admin.ModelAdmin):
    """Synchronous cut-outs (``/api/cutout``) per user and UTC day, against
    ``DSSPORTAL_CUTOUT_DAILY_MB``."""

    list_display = ("day", "user", "n_cutouts", "bytes")
    list_filter = ("day",)
    search_fields = ("user__username",)
    readonly_fields = ("user", "day", "n_cutouts", "bytes")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ResolvedNameCache)
class ResolvedNameCacheAdmin(admin.ModelAdmin):
    """What CDS Sesame answered (``DSSPORTAL_RESOLVER_ONLINE``); deleting a row makes the
    next look-up of that name ask again."""

    list_display = ("key", "found", "name", "object_type", "source", "fetched_at", "expires_at")
    list_filter = ("found",)
    search_fields = ("key", "name")
    readonly_fields = ("key", "found", "name", "ra_deg", "dec_deg", "object_type", "source")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
