"""Who sees what in the console: per-site access, and filters that only filter.

Staff are granted sites (``Site.staff``); superusers see every site. Each ModelAdmin
names its model's path to its Site once (``site_path``) and every list, change page,
filter, form choice, action and custom view of that admin goes through its
``get_queryset``, so nothing of a site that was not granted is shown, chosen or changed.

A changelist's query string is input too: Django turns every parameter that no list
filter takes into a database lookup (``?consent_id__startswith=5a``,
``?categories__functional__contains=x``). Here only the filters on the page filter;
anything else is refused with Django's invalid-lookup answer (a redirect to ``?e=1``).
"""

from django.contrib import admin
from django.contrib.admin.exceptions import DisallowedModelAdminLookup, NotRegistered
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldDoesNotExist
from django.db.models import ForeignKey, Q, QuerySet
from django.http import HttpRequest

from .api.throttles import client_network
from .models import Site

GRANTED_ATTRIBUTE = "consent_granted_site_ids"


def granted_site_ids(request: HttpRequest) -> list[int]:
    """The ids of the sites the user may see (every site for a superuser), once per
    request."""
    cached = getattr(request, GRANTED_ATTRIBUTE, None)
    if cached is None:
        sites = Site.objects.all()
        if not request.user.is_superuser:
            sites = sites.filter(staff=request.user.pk)
        cached = list(sites.values_list("pk", flat=True))
        setattr(request, GRANTED_ATTRIBUTE, cached)
    return cached


def granted_sites(request: HttpRequest) -> QuerySet:
    return Site.objects.filter(pk__in=granted_site_ids(request))


class KnownFiltersChangeList(ChangeList):
    """A changelist that filters only through its list filters and date hierarchy."""

    def get_filters(self, request):
        try:
            specs, has_filters, remaining, duplicates, active = super().get_filters(request)
        except DisallowedModelAdminLookup as exc:
            raise IncorrectLookupParameters(exc) from exc
        # The date hierarchy turns its year/month/day into these two bounds.
        produced = (
            {f"{self.date_hierarchy}__gte", f"{self.date_hierarchy}__lt"}
            if self.date_hierarchy and f"{self.date_hierarchy}__year" in self.params
            else set()
        )
        unknown = sorted(set(remaining) - produced)
        if unknown:
            raise IncorrectLookupParameters(f"Not a filter of this list: {', '.join(unknown)}")
        return specs, has_filters, remaining, duplicates, active


class KnownValuesFilter(admin.SimpleListFilter):
    """A list filter whose value must be one of its choices; ``apply`` applies it."""

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value not in {str(key) for key, _ in self.lookup_choices}:
            raise IncorrectLookupParameters(f"{self.parameter_name}={value!r} is not a choice")
        return self.apply(queryset, value)

    def apply(self, queryset: QuerySet, value: str) -> QuerySet:
        raise NotImplementedError


class GrantedRelatedFilter(admin.RelatedFieldListFilter):
    """Offers only the related objects the user may see: their sites, their sites'
    vendors (the related model's admin decides, through its get_queryset), and takes
    no other value."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        known = {str(pk) for pk, _ in self.lookup_choices}
        if self.lookup_val is not None and not set(self.lookup_val) <= known:
            raise IncorrectLookupParameters(f"{self.lookup_kwarg}: not one of the choices")

    def field_choices(self, field, request, model_admin):
        try:
            related_admin = model_admin.admin_site.get_model_admin(field.remote_field.model)
        except NotRegistered:
            return super().field_choices(field, request, model_admin)
        choices = related_admin.get_queryset(request)
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ordering:
            choices = choices.order_by(*ordering)
        return [(obj.pk, str(obj)) for obj in choices]


class ConsoleAdmin(admin.ModelAdmin):
    """Every console admin: filters that only filter, and foreign-key choices (in
    forms and in list filters) limited to what the user may see."""

    def get_changelist(self, request, **kwargs):
        return KnownFiltersChangeList

    def get_list_filter(self, request):
        filters = []
        for entry in super().get_list_filter(request):
            if isinstance(entry, str) and self._is_foreign_key(entry):
                entry = (entry, GrantedRelatedFilter)
            filters.append(entry)
        return filters

    def _is_foreign_key(self, name: str) -> bool:
        try:
            return isinstance(self.model._meta.get_field(name), ForeignKey)
        except FieldDoesNotExist:
            return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # A crafted POST naming another site's object is "Select a valid choice".
        related_admin = self.admin_site._registry.get(db_field.related_model)
        if isinstance(related_admin, SiteScopedAdmin) and "queryset" not in kwargs:
            kwargs["queryset"] = related_admin.get_queryset(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class SiteScopedAdmin(ConsoleAdmin):
    """Rows of the sites granted to the user; superusers see all."""

    # The model's path to its Site; "" for Site itself.
    site_path = "site"

    def site_scope(self, request: HttpRequest) -> Q:
        ids = granted_site_ids(request)
        return Q(pk__in=ids) if not self.site_path else Q(**{f"{self.site_path}__in": ids})

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(self.site_scope(request))


def login_network(request: HttpRequest) -> str:
    """The client's network for the login lockout (django-axes), as the throttles count
    it (IPv4 /24, IPv6 /64), written as the network's first address: axes stores it in an
    IP address column. Rotating addresses within a network costs an attacker nothing."""
    return client_network(request).partition("/")[0]
