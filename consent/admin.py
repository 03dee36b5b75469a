"""The marketing-ops console.

Everything visitors are told is edited here, and every change is an AuditEvent naming
the user. Records and audit events are evidence: shown, searchable, never editable.
"""

import uuid

from django.contrib import admin, messages
from django.db.models import F, Max, OuterRef, Subquery, TextField
from django.forms import Textarea
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from . import audit
from .models import (
    AuditEvent,
    BannerText,
    Category,
    ChainLink,
    ConsentRecord,
    CookieDefinition,
    PolicyVersion,
    Site,
    Vendor,
)
from .texts import BANNER_TEXT_FIELDS, DEFAULT_TEXTS

admin.site.site_header = "Consent platform"
admin.site.site_title = "Consent platform"
admin.site.index_title = "Marketing ops"


class AuditedAdmin(admin.ModelAdmin):
    """Names the acting user on the AuditEvents the model signals write."""

    def save_model(self, request, obj, form, change):
        with audit.acting_as(request.user.get_username()):
            super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        with audit.acting_as(request.user.get_username()):
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with audit.acting_as(request.user.get_username()):
            for obj in queryset:
                obj.delete()

    def save_formset(self, request, form, formset, change):
        with audit.acting_as(request.user.get_username()):
            super().save_formset(request, form, formset, change)


class EvidenceAdmin(admin.ModelAdmin):
    """Read-only: nobody adds, changes or deletes evidence through the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class VendorInline(admin.TabularInline):
    model = Vendor
    extra = 0
    fields = ("name", "category", "hosts", "privacy_policy_url")
    formfield_overrides = {TextField: {"widget": Textarea(attrs={"rows": 2, "cols": 36})}}
    show_change_link = True


class CookieInline(admin.TabularInline):
    model = CookieDefinition
    extra = 0
    fields = ("name", "domain", "path", "lifetime_days", "purpose")
    show_change_link = True

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "purpose":
            kwargs["widget"] = Textarea(attrs={"rows": 1, "cols": 40})
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class BannerTextInline(admin.TabularInline):
    model = BannerText
    extra = 0
    fields = ("language", "title", "accept_all", "reject_all", "customise")
    show_change_link = True
    verbose_name_plural = "banner texts (blank: the built-in words; open one to edit all)"


@admin.register(Site)
class SiteAdmin(AuditedAdmin):
    list_display = ("name", "key", "default_language", "policy_version", "embed_snippet")
    search_fields = ("name", "key", "allowed_origins")
    readonly_fields = ("embed_snippet", "created_at")
    inlines = [VendorInline, BannerTextInline]
    fieldsets = (
        (None, {"fields": ("name", "key", "embed_snippet", "allowed_origins")}),
        (
            "Banner",
            {"fields": ("default_language", "show_preferences_button", "privacy_policy_url")},
        ),
        (
            "Stored choice",
            {
                "fields": (
                    "cookie_name",
                    "cookie_domain",
                    "consent_lifetime_days",
                    "refusal_lifetime_days",
                )
            },
        ),
        ("Records", {"fields": ("retention_days", "created_at")}),
    )

    @admin.display(description="policy version")
    def policy_version(self, obj: Site) -> int:
        return obj.current_policy_version()

    @admin.display(description="embed (first thing in <head>)")
    def embed_snippet(self, obj: Site) -> str:
        if not obj.pk:
            return "-"
        return format_html(
            '<code>&lt;script src="{}"&gt;&lt;/script&gt;</code>',
            reverse("consent-script", args=[obj.key]),
        )


@admin.register(Category)
class CategoryAdmin(AuditedAdmin):
    list_display = ("name", "slug", "required", "order", "vendor_count")
    list_editable = ("order",)
    search_fields = ("name", "slug")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.required:
            return ("slug", "required")
        return ("required",)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.required:
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="vendors")
    def vendor_count(self, obj: Category) -> int:
        return obj.vendors.count()


@admin.register(Vendor)
class VendorAdmin(AuditedAdmin):
    list_display = ("name", "site", "category", "hosts")
    list_filter = ("site", "category")
    search_fields = ("name", "hosts", "description")
    inlines = [CookieInline]

    def save_formset(self, request, form, formset, change):
        # Cookies edited under a vendor belong to the vendor's site and category.
        with audit.acting_as(request.user.get_username()):
            for cookie in formset.save(commit=False):
                cookie.site = form.instance.site
                cookie.category = form.instance.category
                cookie.save()
            for cookie in formset.deleted_objects:
                cookie.delete()


@admin.register(CookieDefinition)
class CookieDefinitionAdmin(AuditedAdmin):
    list_display = ("name", "site", "category", "vendor", "domain", "path", "lifetime")
    list_filter = ("site", "category", "vendor")
    search_fields = ("name", "purpose", "vendor__name", "domain")
    autocomplete_fields = ("vendor",)

    @admin.display(description="lifetime")
    def lifetime(self, obj: CookieDefinition) -> str:
        return "session" if obj.lifetime_days is None else f"{obj.lifetime_days} days"


@admin.register(PolicyVersion)
class PolicyVersionAdmin(AuditedAdmin):
    list_display = ("site", "version", "effective_date", "published_at", "published_by")
    list_filter = ("site",)
    search_fields = ("summary",)
    readonly_fields = ("version", "published_at", "published_by")

    def has_change_permission(self, request, obj=None):
        # A published version is what visitors agreed to: it is never edited afterwards.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.published_by = request.user.get_username()
        super().save_model(request, obj, form, change)
        messages.info(request, f"Version {obj.version} published: visitors will be asked again.")


@admin.register(BannerText)
class BannerTextAdmin(AuditedAdmin):
    list_display = ("site", "language", "title")
    list_filter = ("site", "language")
    search_fields = ("title", "body")

    def get_form(self, request, obj=None, change=False, **kwargs):
        # Blank fields fall back to the built-in words: show them as placeholders.
        form = super().get_form(request, obj, change, **kwargs)
        language = obj.language if obj else request.GET.get("language", "en")
        defaults = DEFAULT_TEXTS.get(language, DEFAULT_TEXTS["en"])
        for field_name, key in BANNER_TEXT_FIELDS.items():
            if field_name in form.base_fields:
                form.base_fields[field_name].widget.attrs["placeholder"] = defaults[key]
        return form


class OutdatedFilter(admin.SimpleListFilter):
    title = "policy version"
    parameter_name = "outdated"

    def lookups(self, request, model_admin):
        return (("no", "Current"), ("yes", "Outdated (visitor will be asked again)"))

    def queryset(self, request, queryset):
        if self.value() not in ("yes", "no"):
            return queryset
        latest = (
            PolicyVersion.objects.filter(site=OuterRef("site"))
            .values("site")
            .annotate(v=Max("version"))
            .values("v")
        )
        queryset = queryset.annotate(latest=Subquery(latest))
        if self.value() == "yes":
            return queryset.filter(policy_version__lt=F("latest"))
        return queryset.exclude(policy_version__lt=F("latest"))


class CategoryStateFilter(admin.SimpleListFilter):
    title = "category allowed"
    parameter_name = "allowed"

    def lookups(self, request, model_admin):
        return [(c.slug, c.name) for c in Category.objects.filter(required=False)] + [
            (f"-{c.slug}", f"{c.name}: refused") for c in Category.objects.filter(required=False)
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        slug, allowed = (value[1:], False) if value.startswith("-") else (value, True)
        return queryset.filter(**{f"categories__{slug}": allowed})


@admin.register(ConsentRecord)
class ConsentRecordAdmin(EvidenceAdmin):
    list_display = (
        "created_at",
        "consent_id",
        "site",
        "method",
        "choices",
        "policy_version",
        "gpc",
        "dnt",
        "language",
    )
    list_filter = (
        "site",
        "method",
        CategoryStateFilter,
        "gpc",
        "dnt",
        OutdatedFilter,
        ("created_at", admin.DateFieldListFilter),
        "language",
    )
    search_fields = ("=consent_id",)
    search_help_text = "Find a visitor's records by their consent id (the UUID in the cookie)."
    date_hierarchy = "created_at"
    list_select_related = ("site",)
    show_full_result_count = False

    @admin.display(description="choices")
    def choices(self, obj: ConsentRecord) -> str:
        return ", ".join(
            f"{k} {'✓' if v else '✗'}" for k, v in obj.categories.items() if k != "required"
        )

    def get_search_results(self, request, queryset, search_term):
        # Only a well-formed UUID is searched: anything else would be a database error.
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(consent_id=uuid.UUID(term)), False
        except ValueError:
            return queryset.none(), False


@admin.register(AuditEvent)
class AuditEventAdmin(EvidenceAdmin):
    list_display = ("created_at", "actor", "action", "object_type", "object_repr", "site_key")
    list_filter = ("action", "object_type", "site_key", ("created_at", admin.DateFieldListFilter))
    search_fields = ("actor", "object_repr", "object_id")
    date_hierarchy = "created_at"


@admin.register(ChainLink)
class ChainLinkAdmin(EvidenceAdmin):
    list_display = ("seq", "kind", "row_id", "hash", "sealed_at")
    list_filter = ("kind",)
    search_fields = ("=row_id", "=hash")

# Exports, the statistics dashboard and cookie scans register themselves.
from . import admin_ops  # noqa: E402, F401
