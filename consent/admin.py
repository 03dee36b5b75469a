"""The console: Marketing ops, the privacy role and superusers.

Everything visitors are told is edited here, and every change is an AuditEvent naming
the user. Records and audit events are evidence: shown, searchable, never editable.

Roles are permissions, granted by the groups migration 0008 sets up: Marketing ops edit
what visitors are told and read statistics; what affects evidence (retention, allowed
origins, category slugs, whole consent ids, exports, erasure) needs the permissions
the Privacy group holds. Each staff user sees only the sites granted to them
(consent.admin_access).
"""

import base64
import uuid
from datetime import UTC, datetime

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Q, TextField
from django.db.models.fields.json import KeyTransform
from django.forms import BaseInlineFormSet, Textarea
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html

from . import audit, records
from .admin_access import (
    ConsoleAdmin,
    KnownValuesFilter,
    SiteScopedAdmin,
    granted_site_ids,
)
from .admin_lists import BoundedCountPaginator, KeysetChangeList, PeriodFilter
from .db_routers import replica_for_get
from .models import (
    AuditEvent,
    BannerText,
    Category,
    ConsentRecord,
    CookieDefinition,
    PolicyVersion,
    RegionalRule,
    Site,
    TreeHead,
    Vendor,
)
from .regions import PRESETS
from .texts import BANNER_TEXT_FIELDS, DEFAULT_TEXTS, NOTICE_TEXT_FIELDS, notice_words

admin.site.site_header = "Consent platform"
admin.site.site_title = "Consent platform"
admin.site.index_title = "Marketing ops"


class AuditedAdmin(ConsoleAdmin):
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


class EvidenceAdmin(ConsoleAdmin):
    """Read-only: nobody adds, changes or deletes evidence through the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    # The console's heaviest reads (record and event lists) come from the replica when
    # there is one (DATABASE_REPLICA_URL); actions, POSTs, stay on the primary.
    @method_decorator(replica_for_get)
    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, extra_context)


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


class RegionalRuleFormSet(BaseInlineFormSet):
    """No region in two rules of one site: which would apply would be a guess."""

    def clean(self):
        super().clean()
        seen: dict[str, str] = {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or data.get("DELETE"):
                continue
            for code in form.instance.codes():  # as the model's clean wrote them
                if code in seen and seen[code] != data.get("name"):
                    raise ValidationError(
                        f"{code} is in two rules ({seen[code]} and {data.get('name')})."
                    )
                seen[code] = str(data.get("name"))


class RegionalRuleInline(admin.TabularInline):
    model = RegionalRule
    formset = RegionalRuleFormSet
    extra = 0
    fields = ("name", "regions", "privacy_model")
    formfield_overrides = {TextField: {"widget": Textarea(attrs={"rows": 2, "cols": 48})}}
    verbose_name_plural = (
        "privacy law by region (a subdivision's rule wins over its country's; "
        "the site's model elsewhere applies to the rest)"
    )


# What a site's records prove, and for how long: the privacy role's, not Marketing ops'.
# The key names the site in every embed and in its audit events.
EVIDENCE_SETTINGS = ("key", "allowed_origins", "retention_days")


@admin.register(Site)
class SiteAdmin(AuditedAdmin, SiteScopedAdmin):
    site_path = ""
    list_display = ("name", "key", "default_language", "policy_version", "embed_snippet")
    search_fields = ("name", "key", "allowed_origins")
    readonly_fields = ("embed_snippet", "created_at")
    inlines = [VendorInline, BannerTextInline, RegionalRuleInline]
    actions = ["add_regional_presets"]
    filter_horizontal = ("staff",)
    fieldsets = (
        (None, {"fields": ("name", "key", "embed_snippet", "allowed_origins")}),
        (
            "Banner",
            {
                "fields": (
                    "default_language",
                    "show_preferences_button",
                    "privacy_policy_url",
                    "auto_blocking",
                )
            },
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
        ("Privacy law", {"fields": ("default_privacy_model", "gpc_updated_on")}),
    )

    def has_regional_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("consent.add_regionalrule")

    @admin.action(
        permissions=["regional"],
        description="Add the usual regional rules (EU/EEA, UK, Switzerland: "
        "opt-in; US states with privacy laws: opt-out)",
    )
    def add_regional_presets(self, request, queryset):
        added = 0
        with audit.acting_as(request.user.get_username()):
            for site in queryset:
                taken = {c for rule in site.regional_rules.all() for c in rule.codes()}
                for name, codes, model in PRESETS:
                    free = [code for code in codes.split() if code not in taken]
                    if free and not site.regional_rules.filter(name=name).exists():
                        RegionalRule.objects.create(
                            site=site, name=name, regions=" ".join(free), privacy_model=model
                        )
                        added += 1
        self.message_user(request, f"{added} regional rules added.", messages.SUCCESS)

    def get_readonly_fields(self, request, obj=None):
        # Read-only fields are left out of the form: a crafted POST of them is ignored.
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.has_perm("consent.change_evidence_settings"):
            fields += EVIDENCE_SETTINGS
        if not request.user.has_perm("consent.change_regionalrule"):
            fields += ("default_privacy_model", "gpc_updated_on")
        return fields

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        # Granting a site is managing users: only those who may change users do it.
        if request.user.has_perm("auth.change_user"):
            fieldsets = (*fieldsets, ("Access", {"fields": ("staff",)}))
        return fieldsets

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "staff":
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

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
    """Categories are shared by every site: changing one changes every site's banner, so
    it takes the category permissions (the Privacy group, superusers). Marketing ops word
    a category for their own site in its banner texts (``category_texts``)."""

    list_display = ("name", "slug", "required", "order", "vendor_count")
    list_editable = ("order",)
    search_fields = ("name", "slug")

    def get_readonly_fields(self, request, obj=None):
        # A slug is the key of every record's choices (the model also refuses renaming
        # one that records use); a new category needs one.
        if obj is not None and (
            obj.required or not request.user.has_perm("consent.change_category_slug")
        ):
            return ("slug", "required")
        return ("required",)

    def get_queryset(self, request):
        # Vendors counted on the user's own sites only.
        vendors = (
            None if request.user.is_superuser else Q(vendors__site__in=granted_site_ids(request))
        )
        return super().get_queryset(request).annotate(vendor_total=Count("vendors", filter=vendors))

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.required:
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="vendors", ordering="vendor_total")
    def vendor_count(self, obj: Category) -> int:
        return obj.vendor_total  # type: ignore[attr-defined]  # annotated by get_queryset


@admin.register(Vendor)
class VendorAdmin(AuditedAdmin, SiteScopedAdmin):
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
class CookieDefinitionAdmin(AuditedAdmin, SiteScopedAdmin):
    list_display = ("name", "site", "category", "vendor", "domain", "path", "lifetime")
    list_filter = ("site", "category", "vendor")
    search_fields = ("name", "purpose", "vendor__name", "domain")
    autocomplete_fields = ("vendor",)

    @admin.display(description="lifetime")
    def lifetime(self, obj: CookieDefinition) -> str:
        return "session" if obj.lifetime_days is None else f"{obj.lifetime_days} days"


@admin.register(PolicyVersion)
class PolicyVersionAdmin(AuditedAdmin, SiteScopedAdmin):
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
class BannerTextAdmin(AuditedAdmin, SiteScopedAdmin):
    list_display = ("site", "language", "title")
    list_filter = ("site", "language")
    search_fields = ("title", "body")
    fieldsets = (
        (None, {"fields": ("site", "language")}),
        (
            "Banner (opt-in regions)",
            {"fields": (*BANNER_TEXT_FIELDS, "category_texts")},
        ),
        (
            "Notice (notice-only and opt-out regions)",
            {
                "fields": tuple(NOTICE_TEXT_FIELDS),
                "description": "Where a regional rule applies the opt-out or notice-only "
                "model, the banner shows a notice instead of the question. The opt-out "
                'link may also read "Do Not Sell or Share My Personal Information".',
            },
        ),
    )

    def get_form(self, request, obj=None, change=False, **kwargs):
        # Blank fields fall back to the built-in words: show them as placeholders.
        form = super().get_form(request, obj, change, **kwargs)
        language = obj.language if obj else request.GET.get("language", "en")
        defaults = DEFAULT_TEXTS.get(language, DEFAULT_TEXTS["en"])
        for field_name, key in BANNER_TEXT_FIELDS.items():
            if field_name in form.base_fields:
                form.base_fields[field_name].widget.attrs["placeholder"] = defaults[key]
        for field_name, (key, models) in NOTICE_TEXT_FIELDS.items():
            words = notice_words("notice" if "notice" in models else "opt_out", language)
            if field_name in form.base_fields:
                form.base_fields[field_name].widget.attrs["placeholder"] = words[key]
        return form


class OutdatedFilter(KnownValuesFilter):
    """Records made under an older policy version than their site's latest. The latest
    version of every site is read once (a few rows), so the filter is a plain condition
    on the records' own columns, never a subquery per row."""

    title = "policy version"
    parameter_name = "outdated"

    def lookups(self, request, model_admin):
        return (("no", "Current"), ("yes", "Outdated (visitor will be asked again)"))

    def apply(self, queryset, value):
        latest = (
            PolicyVersion.objects.order_by()
            .values("site")
            .annotate(v=Max("version"))
            .values_list("site", "v")
        )
        outdated = Q(pk__in=[])
        for site_id, version in latest:
            outdated |= Q(site_id=site_id, policy_version__lt=version)
        return queryset.filter(outdated) if value == "yes" else queryset.exclude(outdated)


class LanguageFilter(KnownValuesFilter):
    """The languages the sites show their banner in, not the distinct values of every
    record (which Django's own filter reads from the whole table on every list page)."""

    title = "language"
    parameter_name = "language"

    def lookups(self, request, model_admin):
        granted = granted_site_ids(request)
        shown = set(
            Site.objects.filter(pk__in=granted).values_list("default_language", flat=True)
        ) | set(BannerText.objects.filter(site__in=granted).values_list("language", flat=True))
        return [(language, language) for language in sorted(shown)]

    def apply(self, queryset, value):
        return queryset.filter(language=value)


class CategoryStateFilter(KnownValuesFilter):
    """``slug`` (allowed) or ``-slug`` (refused), for a known optional category only."""

    title = "category allowed"
    parameter_name = "allowed"

    def lookups(self, request, model_admin):
        optional = list(Category.objects.filter(required=False))
        return [(c.slug, c.name) for c in optional] + [
            (f"-{c.slug}", f"{c.name}: refused") for c in optional
        ]

    def apply(self, queryset, value):
        slug, allowed = (value[1:], False) if value.startswith("-") else (value, True)
        # The key as a key, never parsed as a lookup: a slug may be any word.
        return queryset.alias(choice=KeyTransform(slug, "categories")).filter(choice=allowed)


def short_id(consent_id: uuid.UUID | None) -> str:
    """Enough of a consent id to tell rows apart, too little to act on (erasure, access).
    An erased record has none left."""
    return f"{consent_id.hex[:8]}…" if consent_id else "(erased)"


@admin.register(ConsentRecord)
class ConsentRecordAdmin(EvidenceAdmin, SiteScopedAdmin):
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
        "signal_conflict",
        "privacy_model",
        OutdatedFilter,
        ("created_at", admin.DateFieldListFilter),
        PeriodFilter,
        LanguageFilter,
    )
    fields = (
        "created_at",
        "consent_id",
        "site",
        "method",
        "categories",
        "policy_version",
        "texts_hash",
        "gpc",
        "dnt",
        "language",
        "page_url",
        "ip_prefix",
        "region",
        "privacy_model",
        "signal_conflict",
        "expires_at",
    )
    readonly_fields = ("visitor",)
    search_fields = ("=consent_id",)
    search_help_text = "Find a visitor's records by their consent id (the UUID in the cookie)."
    # No date_hierarchy: its drill-down reads every row's date. PeriodFilter does it as
    # ranges; BoundedCountPaginator and KeysetChangeList keep deep pages as cheap as the
    # first (consent.admin_lists).
    list_select_related = ("site",)
    show_full_result_count = False
    paginator = BoundedCountPaginator
    sortable_by = ()  # newest first, always: the order the keyset pages and windows go by
    actions = ["erase_visitors"]

    def get_changelist(self, request, **kwargs):
        return KeysetChangeList

    @staticmethod
    def sees_consent_ids(request: HttpRequest) -> bool:
        return request.user.has_perm("consent.view_consent_id")

    def _without_whole_ids(self, request: HttpRequest, names) -> tuple:
        if self.sees_consent_ids(request):
            return tuple(names)
        return tuple("visitor" if name == "consent_id" else name for name in names)

    def get_list_display(self, request):
        return self._without_whole_ids(request, super().get_list_display(request))

    def get_fields(self, request, obj=None):
        return self._without_whole_ids(request, super().get_fields(request, obj))

    def get_search_fields(self, request):
        return self.search_fields if self.sees_consent_ids(request) else ()

    def label(self, request: HttpRequest, record: ConsentRecord) -> str:
        if self.sees_consent_ids(request):
            return str(record)
        return f"{short_id(record.consent_id)} {record.method} {record.created_at:%Y-%m-%d %H:%M}"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        record = self.get_object(request, object_id)
        if record is not None:
            label = self.label(request, record)
            extra_context = {**(extra_context or {}), "subtitle": label, "record_label": label}
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        record = self.get_object(request, object_id)
        if record is not None:
            label = self.label(request, record)
            extra_context = {
                **(extra_context or {}),
                "title": f"Change history: {label}",
                "record_label": label,
            }
        return super().history_view(request, object_id, extra_context)

    @admin.display(description="consent id")
    def visitor(self, obj: ConsentRecord) -> str:
        return short_id(obj.consent_id)

    @admin.display(description="choices")
    def choices(self, obj: ConsentRecord) -> str:
        return ", ".join(
            f"{k} {'✓' if v else '✗'}" for k, v in obj.categories.items() if k != "required"
        )

    def get_search_results(self, request, queryset, search_term):
        # Only the privacy role finds a visitor by their id, and only a well-formed UUID
        # is searched: anything else would be a database error.
        term = search_term.strip()
        if not term or not self.sees_consent_ids(request):
            return queryset, False
        try:
            return queryset.filter(consent_id=uuid.UUID(term)), False
        except ValueError:
            return queryset.none(), False

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("consent.erase_consentrecord")

    @admin.action(description="Erase this visitor's records", permissions=["erase"])
    def erase_visitors(self, request, queryset):
        """Right to erasure, handled by staff: every record of each selected row's
        visitor, after a confirmation page. The AuditEvent names the staff user."""
        # An erased record has no consent id left: nothing more to erase.
        consent_ids = sorted(
            set(queryset.exclude(consent_id=None).values_list("consent_id", flat=True)), key=str
        )
        everything = ConsentRecord.objects.filter(consent_id__in=consent_ids)
        counts = dict(
            everything.order_by()
            .values("consent_id")
            .annotate(n=Count("id"))
            .values_list("consent_id", "n")
        )
        # A visitor with records on a site the user was not granted is not theirs to erase.
        elsewhere = (
            set()
            if request.user.is_superuser
            else set(
                everything.exclude(site_id__in=granted_site_ids(request)).values_list(
                    "consent_id", flat=True
                )
            )
        )
        if request.POST.get("confirmed") == "yes":
            actor = request.user.get_username()
            erased = [
                records.erase(consent_id, actor=actor)
                for consent_id in consent_ids
                if consent_id not in elsewhere
            ]
            messages.success(request, f"Erased {sum(erased)} records of {len(erased)} visitor(s).")
            if elsewhere:
                messages.error(
                    request,
                    f"{len(elsewhere)} visitor(s) also have records on sites you were not "
                    "granted: not erased.",
                )
            return None
        return TemplateResponse(
            request,
            "admin/consent/consentrecord/erase_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "title": "Erase visitors' records",
                "opts": self.opts,
                "selected": queryset.values_list("pk", flat=True),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "visitors": [
                    (
                        str(consent_id) if self.sees_consent_ids(request) else short_id(consent_id),
                        counts.get(consent_id, 0),
                        consent_id in elsewhere,
                    )
                    for consent_id in consent_ids
                ],
                "erasable": len(set(consent_ids) - elsewhere),
            },
        )


@admin.register(AuditEvent)
class AuditEventAdmin(EvidenceAdmin, SiteScopedAdmin):
    list_display = ("created_at", "actor", "action", "object_type", "object_repr", "site_key")
    list_filter = ("action", "object_type", "site_key", ("created_at", admin.DateFieldListFilter))
    search_fields = ("actor", "object_repr", "object_id")
    date_hierarchy = "created_at"

    def site_scope(self, request: HttpRequest) -> Q:
        keys = Site.objects.filter(pk__in=granted_site_ids(request)).values_list("key", flat=True)
        scope = Q(site_key__in=list(keys))
        # Changes to what every site shares (categories) to those who may make them.
        if request.user.has_perm("consent.change_category"):
            scope |= Q(site_key="")
        return scope


@admin.register(TreeHead)
class TreeHeadAdmin(EvidenceAdmin):
    """The transparency log's signed heads; they span every site: the privacy role's and
    superusers' (view_treehead). Published at /.well-known/consent-log/heads."""

    list_display = ("tree_size", "root", "signed_at", "key_id")
    search_fields = ("=tree_size",)
    fields = ("tree_size", "root", "signed_at", "key_id", "signature_b64")
    readonly_fields = fields

    @admin.display(description="root hash (base64)")
    def root(self, head: TreeHead) -> str:
        return base64.b64encode(bytes(head.root_hash)).decode()

    @admin.display(description="signed at", ordering="timestamp")
    def signed_at(self, head: TreeHead) -> datetime:
        return datetime.fromtimestamp(head.timestamp / 1000, tz=UTC)

    @admin.display(description="signature (base64)")
    def signature_b64(self, head: TreeHead) -> str:
        return base64.b64encode(bytes(head.signature)).decode()


# Exports, the statistics dashboard and cookie scans register themselves.
from . import admin_ops  # noqa: E402, F401
