"""Admin lists that stay fast however many records there are.

Django's changelist counts every matching row for its paginator, reads pages by OFFSET,
and builds its date drill-down from ``SELECT DISTINCT`` over the whole table: each grows
with the table (2.4 s for a first page at 3 M rows). Here:

- ``BoundedCountPaginator`` counts exactly up to ``EXACT_UP_TO`` rows and, past that,
  shows PostgreSQL's planner estimate (``EXPLAIN``), never a ``COUNT(*)`` of millions.
- ``KeysetChangeList`` pages by key: ``?before=<id>`` shows the records older than that
  one, so the thousandth page costs what the first does.
- ``PeriodFilter`` drills down by year, month and day as ranges of ``created_at`` (which
  PostgreSQL prunes to the month partitions concerned), offered without any query.
"""

from __future__ import annotations

import calendar
import json
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import cast

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import PAGE_VAR
from django.core.paginator import InvalidPage, Paginator
from django.db import connections
from django.db.models import Max, QuerySet
from django.utils import timezone

from .admin_access import KnownFiltersChangeList

BEFORE = "before"
EXACT_UP_TO = 10_000
# How far the ids written around a moment may stray from the order of their times
# (concurrent transactions): seconds of the busiest decision rate.
ID_SKEW = 10_000
# A period's window start is found by time, one probe per site, up to this many sites.
MAX_SITE_PROBES = 50
SCAN_WINDOW = 50_000  # records one page of a list may look at
NUMBERED_PAGES = 20  # pages reached by number (OFFSET); deeper ones by key


class BoundedCountPaginator(Paginator):
    """Counts at most EXACT_UP_TO + 1 rows (``bounded`` says when it stopped there). Only
    the first NUMBERED_PAGES pages exist by number."""

    bounded = False

    def validate_number(self, number):
        number = super().validate_number(number)
        if number > NUMBERED_PAGES:
            raise InvalidPage(f"Pages after {NUMBERED_PAGES} are reached by key ({BEFORE}=)")
        return number

    @cached_property
    def count(self) -> int:
        queryset = cast(QuerySet, self.object_list)
        found = queryset.order_by()[: EXACT_UP_TO + 1].count()
        self.bounded = found > EXACT_UP_TO
        return found


def estimated_count(queryset: QuerySet) -> int | None:
    """PostgreSQL's planner estimate of how many rows ``queryset`` holds (None
    elsewhere): what a list can say about millions without counting them."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


class KeysetChangeList(KnownFiltersChangeList):
    """A changelist that pages by key (``?before=<id>``, newest first) and never scans
    more than SCAN_WINDOW records for one page.

    Filters on columns without an index of their own (method, a category's state, a
    signal, a language) would otherwise read the whole table to fill a page with a rare
    value, or to find that nothing matches. Here a page looks at the SCAN_WINDOW newest
    records below its key (ids come from one sequence, so that is an id range, read
    through each month's primary key) and offers "Search older records" past it. A
    search by consent id is indexed and is not windowed; a period starts the window at
    its end."""

    period_parameter = "period"

    def get_filters_params(self, params=None):
        params = super().get_filters_params(params)
        params.pop(BEFORE, None)
        return params

    def _before(self, request) -> int | None:
        before = request.GET.get(BEFORE)
        if before is None:
            return None
        if not before.isdigit() or len(before) > 18:
            raise IncorrectLookupParameters(f"{BEFORE} must be a record number")
        return int(before)

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        before = self._before(request)
        self.window_floor: int | None = None
        self.unwindowed: QuerySet | None = None
        if self.query:  # a search by consent id: the index bounds it
            return queryset if before is None else queryset.filter(pk__lt=before)
        self.unwindowed = queryset
        top = self._top(request, before)
        if top is None:
            return queryset.none()
        self.window_floor = max(top - SCAN_WINDOW, 0)
        return queryset.filter(pk__lt=top, pk__gte=self.window_floor)

    def _top(self, request, before: int | None) -> int | None:
        """One past the newest id the window may hold: below ``before``, and within the
        chosen period. One index probe per month partition."""
        newest = self.root_queryset.order_by()
        if before is not None:
            newest = newest.filter(pk__lt=before)
        period = request.GET.get(self.period_parameter)
        bounds = PeriodFilter.parse(period) if period else None
        if bounds is not None:
            newest = newest.filter(created_at__lt=bounds[1])
            if before is None:
                latest = self._latest_by_time(newest)
                if latest is not None:
                    # Ids follow time but for transactions committed out of order.
                    newest = newest.filter(pk__gte=latest, pk__lt=latest + ID_SKEW)
        found = newest.aggregate(top=Max("pk"))["top"]
        return None if found is None else found + 1

    def _latest_by_time(self, newest: QuerySet) -> int | None:
        """The id of the newest record of ``newest`` by time, one index probe per site
        and month partition (the (site, created_at) index): the newest id before a
        period's end found by id would walk every later row of its month. None when
        there are too many sites to probe one by one (the search by id is used)."""
        sites = list(
            newest.model._meta.get_field("site").related_model.objects.values_list("pk", flat=True)[
                : MAX_SITE_PROBES + 1
            ]
        )
        if len(sites) > MAX_SITE_PROBES:
            return None
        found = [
            newest.filter(site_id=site).order_by("-created_at").values_list("pk", flat=True).first()
            for site in sites
        ]
        return max((pk for pk in found if pk is not None), default=None)

    def get_query_string(self, new_params=None, remove=None):
        # Any other change of the list (a filter, a search) starts again from the newest.
        if not new_params or BEFORE not in new_params:
            remove = [*(remove or []), BEFORE]
        return super().get_query_string(new_params, remove)

    def older_link(self) -> str | None:
        """The next page by key: after this page's last row when it is full; past the
        window when the window ran out first; None at the oldest record."""
        rows = list(self.result_list)
        if len(rows) == self.list_per_page:
            return self.get_query_string({BEFORE: rows[-1].pk}, [PAGE_VAR])
        floor = self.window_floor
        if floor and self.root_queryset.filter(pk__lt=floor).exists():
            return self.get_query_string({BEFORE: floor}, [PAGE_VAR])
        return None

    def count_text(self) -> str:
        """What the list can truthfully say about how many records match."""
        found = f"{self.result_count:,}{'+' if self.paginator.bounded else ''}"
        if self.window_floor is None and self.unwindowed is None:
            return found  # a search: counted exactly
        text = f"{found} among the newest {SCAN_WINDOW:,} searched"
        if self.unwindowed is not None and self.paginator.bounded:
            estimate = estimated_count(self.unwindowed)
            if estimate is not None:
                text += f", about {estimate:,} in all"
        return text

    def numbered_pages(self) -> list[int]:
        return list(range(1, min(self.paginator.num_pages, NUMBERED_PAGES) + 1))

    def newest_link(self) -> str | None:
        if BEFORE not in self.params:
            return None
        return self.get_query_string(remove=[BEFORE, PAGE_VAR])


class PeriodFilter(admin.SimpleListFilter):
    """Year, month or day of ``created_at`` as one value (2026, 2026-11, 2026-11-05), each
    applied as a range. The choices come from the calendar, not from the rows: the years
    that retention can still hold, the months of the chosen year, the days of the chosen
    month."""

    title = "period"
    parameter_name = "period"
    field = "created_at"
    years_back = 10

    def lookups(self, request, model_admin):
        chosen = self.value() or ""
        today = timezone.localdate()
        if len(chosen) >= 7 and self.parse(chosen):
            year, month = int(chosen[:4]), int(chosen[5:7])
            days = calendar.monthrange(year, month)[1]
            return [(f"{year}-{month:02d}", f"All of {date(year, month, 1):%B %Y}")] + [
                (f"{year}-{month:02d}-{day:02d}", f"{date(year, month, day):%d %B}")
                for day in range(1, days + 1)
                if date(year, month, day) <= today
            ]
        if chosen and self.parse(chosen):
            year = int(chosen[:4])
            return [(str(year), f"All of {year}")] + [
                (f"{year}-{month:02d}", f"{date(year, month, 1):%B %Y}")
                for month in range(1, 13)
                if date(year, month, 1) <= today
            ]
        return [
            (str(year), str(year)) for year in range(today.year, today.year - self.years_back, -1)
        ]

    @staticmethod
    def parse(value: str) -> tuple[datetime, datetime] | None:
        """The [start, end) of a year, month or day, in the current time zone."""
        try:
            parts = [int(part) for part in value.split("-")]
            if len(parts) == 1:
                start, end = date(parts[0], 1, 1), date(parts[0] + 1, 1, 1)
            elif len(parts) == 2:
                start = date(parts[0], parts[1], 1)
                end = (start + timedelta(days=32)).replace(day=1)
            elif len(parts) == 3:
                start = date(parts[0], parts[1], parts[2])
                end = start + timedelta(days=1)
            else:
                return None
        except (ValueError, OverflowError):
            return None
        zone = timezone.get_current_timezone()
        return (
            datetime.combine(start, datetime.min.time(), zone),
            datetime.combine(end, datetime.min.time(), zone),
        )

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        bounds = self.parse(value) if len(value) <= 10 else None
        if bounds is None:
            raise IncorrectLookupParameters(f"{self.parameter_name}={value!r} is not a period")
        return queryset.filter(**{f"{self.field}__gte": bounds[0], f"{self.field}__lt": bounds[1]})
