"""Daily consent statistics: counts per site, day and method, never anything per visitor.

Live: the transparency log's sealer, which reads every new record once, a few seconds
after its INSERT, adds it to its day (``count_sealed``), so a decision shows in the
dashboard within seconds, under beat or in the embedded default alike, and the consent
POST does no work for it. Statistics therefore count the records in the log.

``aggregate_day`` recomputes one day from those records and replaces its rows, so running
it again, late or twice changes nothing; it holds the sealer's lock, so no record is
counted twice or missed between the two. Days are UTC days.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from .models import Category, ConsentRecord, DailyStat, Site
from .transparency import log


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def count_sealed(records: Iterable[ConsentRecord]) -> int:
    """Add records just appended to the log to their days' statistics; called by the
    sealer in its transaction, under its lock. Returns how many rows it wrote."""
    optional = set(Category.objects.filter(required=False).values_list("slug", flat=True))
    groups: dict[tuple[int, date, str], DailyStat] = {}
    for record in records:
        day = record.created_at.astimezone(UTC).date()
        key = (record.site_id, day, record.method)
        stat = groups.get(key)
        if stat is None:
            stat = groups[key] = DailyStat(
                site_id=record.site_id, date=day, method=record.method, allowed={}
            )
        stat.total += 1
        stat.gpc += record.gpc
        stat.dnt += record.dnt
        for slug, allowed in record.categories.items():
            if allowed and slug in optional:
                stat.allowed[slug] = stat.allowed.get(slug, 0) + 1
    sites = set(Site.objects.filter(pk__in={key[0] for key in groups}).values_list("pk", flat=True))
    for (site_id, day, method), new in groups.items():
        if site_id not in sites:  # a site deleted since: nothing to count it under
            continue
        stat, created = DailyStat.objects.get_or_create(
            site_id=site_id,
            date=day,
            method=method,
            defaults={"total": new.total, "gpc": new.gpc, "dnt": new.dnt, "allowed": new.allowed},
        )
        if not created:
            stat.total += new.total
            stat.gpc += new.gpc
            stat.dnt += new.dnt
            stat.allowed = {
                slug: stat.allowed.get(slug, 0) + new.allowed.get(slug, 0)
                for slug in stat.allowed.keys() | new.allowed.keys()
            }
            stat.save(update_fields=["total", "gpc", "dnt", "allowed", "updated_at"])
    return len(groups)


def aggregate_day(site: Site, day: date) -> int:
    """Recompute the site's DailyStat rows for one day from its records in the log;
    returns how many rows it holds."""
    slugs = list(Category.objects.filter(required=False).values_list("slug", flat=True))
    start, end = day_bounds(day)
    # Each slug is a key of the JSON column through KeyTransform, never spliced into a
    # lookup string, where a slug such as "in" or "contains" would name a lookup.
    keys = {f"slug_{i}": KeyTransform(slug, "categories") for i, slug in enumerate(slugs)}
    counts = {
        f"allowed_{i}": Count("id", filter=Q(**{f"slug_{i}": True})) for i in range(len(slugs))
    }
    rows = (
        ConsentRecord.objects.filter(site=site, created_at__gte=start, created_at__lt=end)
        .exclude(leaf_index=None)
        .alias(**keys)
        .order_by()
        .values("method")
        .annotate(
            total=Count("id"),
            gpc_seen=Count("id", filter=Q(gpc=True)),
            dnt_seen=Count("id", filter=Q(dnt=True)),
            **counts,
        )
    )
    with transaction.atomic():
        log.lock()  # the sealer counts nothing while this counts
        methods = []
        for row in rows:
            methods.append(row["method"])
            DailyStat.objects.update_or_create(
                site=site,
                date=day,
                method=row["method"],
                defaults={
                    "total": row["total"],
                    "gpc": row["gpc_seen"],
                    "dnt": row["dnt_seen"],
                    "allowed": {slug: row[f"allowed_{i}"] for i, slug in enumerate(slugs)},
                },
            )
        DailyStat.objects.filter(site=site, date=day).exclude(method__in=methods).delete()
    return len(methods)


def aggregate_recent(days: int = 2, today: date | None = None) -> int:
    """Recompute the last ``days`` days (today included) of every site."""
    today = today or timezone.now().astimezone(UTC).date()
    written = 0
    for site in Site.objects.all():
        for back in range(days):
            written += aggregate_day(site, today - timedelta(days=back))
    return written


@dataclass
class Day:
    date: date
    total: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    allowed: dict[str, int] = field(default_factory=dict)
    gpc: int = 0
    dnt: int = 0

    def rate(self, slug: str) -> float | None:
        """Share of the day's decisions allowing a category, in percent."""
        return 100 * self.allowed.get(slug, 0) / self.total if self.total else None

    def share(self, count: int) -> float | None:
        return 100 * count / self.total if self.total else None


@dataclass
class Summary:
    """The dashboard's numbers for one site over a run of days."""

    days: list[Day]
    categories: list[Category]

    @property
    def total(self) -> int:
        return sum(d.total for d in self.days)

    def method_total(self, method: str) -> int:
        return sum(d.by_method.get(method, 0) for d in self.days)

    def rate(self, slug: str) -> float | None:
        total = self.total
        return 100 * sum(d.allowed.get(slug, 0) for d in self.days) / total if total else None

    def share(self, signal: str) -> float | None:
        total = self.total
        return 100 * sum(getattr(d, signal) for d in self.days) / total if total else None


def summary(site: Site, days: int = 30, today: date | None = None) -> Summary:
    today = today or timezone.now().astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    by_day = {first + timedelta(days=i): Day(first + timedelta(days=i)) for i in range(days)}
    for stat in DailyStat.objects.filter(site=site, date__gte=first, date__lte=today):
        day = by_day[stat.date]
        day.total += stat.total
        day.by_method[stat.method] = day.by_method.get(stat.method, 0) + stat.total
        for slug, count in stat.allowed.items():
            day.allowed[slug] = day.allowed.get(slug, 0) + count
        day.gpc += stat.gpc
        day.dnt += stat.dnt
    return Summary(list(by_day.values()), list(Category.objects.filter(required=False)))
