from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.apppasswords import app_passwords_revoke
from accounts.forms import AdminLoginForm, AdminUserChangeForm
from accounts.models import (
    ApiToken,
    AppPassword,
    EmailAddress,
    OidcIdentity,
    ThrottleCounter,
    User,
)

# The admin log-in goes through the same throttled password check as every other log-in;
# this form turns a refusal into a message instead of a server error.
admin.site.login_form = AdminLoginForm


class EmailAddressInline(admin.TabularInline):
    model = EmailAddress
    extra = 0
    fields = ("email", "verified", "primary", "verified_at", "created_at")
    readonly_fields = ("created_at",)


class SignsInThroughProvider(admin.SimpleListFilter):
    title = "signs in through the provider"
    parameter_name = "oidc"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "yes"), ("no", "no")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> QuerySet[User]:
        if self.value() == "yes":
            return queryset.filter(oidc_identities__isnull=False).distinct()
        if self.value() == "no":
            return queryset.filter(oidc_identities__isnull=True)
        return queryset


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = AdminUserChangeForm
    list_display = (
        "username",
        "email",
        "is_active",
        "is_staff",
        "quota_mb",
        "requests_link",
        "provider_subject",
        "date_joined",
    )
    list_filter = ("is_active", "is_staff", SignsInThroughProvider, "date_joined")
    search_fields = (
        "username",
        "email",
        "addresses__email",
        "first_name",
        "last_name",
        "oidc_identities__subject",
    )
    inlines = (EmailAddressInline,)
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        ("Affiliation", {"fields": ("affiliation",)}),
        ("Staging", {"fields": ("quota_mb",)}),
        ("Sign-in", {"fields": ("provider_identity", "app_passwords_link")}),
    )
    readonly_fields = ("provider_identity", "app_passwords_link")

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("oidc_identities")

    @admin.display(description="provider subject")
    def provider_subject(self, obj: User) -> str:
        return ", ".join(i.subject for i in obj.oidc_identities.all()) or "-"

    @admin.display(description="institute's provider")
    def provider_identity(self, obj: User) -> str:
        identities = list(obj.oidc_identities.all())
        if not identities:
            return "does not sign in through the provider"
        url = reverse("admin:accounts_oidcidentity_changelist") + f"?user__id__exact={obj.pk}"
        text = "; ".join(f"subject {i.subject} at {i.issuer}" for i in identities)
        return format_html('{} (<a href="{}">link</a>)', text, url)

    @admin.display(description="app passwords")
    def app_passwords_link(self, obj: User) -> str:
        live = obj.app_passwords.filter(revoked_at__isnull=True).count()
        url = reverse("admin:accounts_apppassword_changelist") + f"?user__id__exact={obj.pk}"
        return format_html('<a href="{}">{} live (list, revoke)</a>', url, live)

    @admin.display(description="requests")
    def requests_link(self, obj: User) -> str:
        url = reverse("admin:extraction_request_changelist") + f"?user__id__exact={obj.pk}"
        return format_html('<a href="{}">requests</a>', url)


@admin.register(EmailAddress)
class EmailAddressAdmin(admin.ModelAdmin):
    list_display = ("email", "user", "verified", "primary", "created_at")
    list_filter = ("verified", "primary")
    search_fields = ("email", "user__username")
    autocomplete_fields = ("user",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[EmailAddress]:
        return super().get_queryset(request).select_related("user")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made by their owner (account page, ``manage.py api_token``); staff see
    them and can revoke them, never read them (only a hash is stored)."""

    list_display = ("prefix", "name", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "name", "user__username")
    readonly_fields = ("user", "prefix", "key_hash", "created_at", "last_used_at")
    fields = ("user", "name", "prefix", "key_hash", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{revoked} token(s) revoked.")


@admin.register(OidcIdentity)
class OidcIdentityAdmin(admin.ModelAdmin):
    """Who signs in through the institute's provider. Made by sign-ins only; deleting one
    unlinks the account (the next sign-in there links again only through a confirmed
    address)."""

    list_display = ("subject", "user", "issuer", "email_at_link", "created_at", "last_login_at")
    list_filter = ("issuer",)
    search_fields = ("subject", "user__username", "user__email", "email_at_link")
    readonly_fields = ("user", "issuer", "subject", "email_at_link", "created_at", "last_login_at")
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[OidcIdentity]:
        return super().get_queryset(request).select_related("user")


@admin.register(AppPassword)
class AppPasswordAdmin(admin.ModelAdmin):
    """App passwords are made by their owner; staff see them and revoke them, never read
    them (only a hash is stored)."""

    list_display = ("label", "public_id", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("label", "public_id", "user__username")
    readonly_fields = ("user", "label", "public_id", "created_at", "last_used_at", "revoked_at")
    fields = readonly_fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Revoke the selected app passwords", permissions=["view"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[AppPassword]) -> None:
        revoked = app_passwords_revoke(queryset)
        self.message_user(request, f"{revoked} app password(s) revoked.")


@admin.register(ThrottleCounter)
class ThrottleCounterAdmin(admin.ModelAdmin):
    """Log-in and registration counters; deleting a row lifts that delay at once."""

    list_display = ("key", "count", "window_started_at", "last_at")
    search_fields = ("key",)
    readonly_fields = ("key", "count", "window_started_at", "last_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
