"""One database of N records, measured in phases, each run by __main__.py in a child
process with DATABASE_URL pointing at that size's database, writing its figures as JSON:

- ``prepare``: migrated, seeded a month at a time and each month sealed as it ends,
  visitors erased, vacuumed;
- ``pages``: every admin records page once, and an export's first rows. __main__.py runs
  this once per round, the sizes in turn (drift on a shared machine hits both alike),
  and keeps the median of the rounds;
- ``finish``: a new backlog sealed, the retention purge of a month, ``verify_audit``.

Admin pages are requested through Django's test Client, in this process, as a superuser:
the server's whole work (middleware, view, queries, template) without a network or a
worker in between; the SQL time is what the database took for the request's queries
(CaptureQueriesContext).
"""

import io
import os
import re
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from unittest import mock

import seed
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from consent import exports, partitions, records, tasks
from consent.models import AuditEvent, ConsentRecord, DailyStat, ExportJob, Site
from consent.records import erase
from consent.transparency import log

ERASED_VISITORS = 20
USERNAME = "bench"  # the superuser the pages are requested as
SLOWEST_SELECTS = 3  # kept per page request
# The console's own names (consent.admin_lists): the date drill-down's list filter, where
# the admin has no date_hierarchy, and the parameter of its pages by key.
PERIOD = "period"
KEYSET = "before"


def say(records: int, text: str) -> None:
    print(f"[{records:,}] {text}", flush=True)


def sql(statement: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return cursor.fetchall() if cursor.description else []


def stopwatch(fn: Callable, *args):
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


def table_bytes(model) -> int:
    """The table with its indexes and TOAST, its partitions summed where it has some."""
    return sql(
        "SELECT coalesce(sum(pg_total_relation_size(relid)), 0)::bigint FROM pg_partition_tree(%s)",
        [model._meta.db_table],
    )[0][0]


# --- Pages ------------------------------------------------------------------------------


def request_page(client: Client, url: str) -> dict:
    """One request: wall and CPU time of this process (the whole server side but the
    database's CPU), the SQL time, and the slowest query."""
    with CaptureQueriesContext(connection) as captured:
        cpu, started = time.process_time(), time.perf_counter()
        response = client.get(url)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    queries = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))
    slowest = queries[0] if queries else None
    selects = [q for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]
    return {
        "url": url,
        "ms": elapsed * 1000,
        "cpu_ms": cpu * 1000,
        "sql_ms": sum(float(q["time"]) for q in queries) * 1000,
        "queries": len(queries),
        "status": response.status_code,
        "location": response.get("Location", ""),
        "error": repr(response.exc_info[1])[:300] if response.exc_info else "",
        "slowest_sql": slowest["sql"] if slowest else "",
        "slowest_sql_ms": float(slowest["time"]) * 1000 if slowest else 0.0,
        # The slowest SELECTs, slowest first: what EXPLAIN is run on where it is too slow.
        "selects": [(float(q["time"]) * 1000, q["sql"]) for q in selects[:SLOWEST_SELECTS]],
    }


def filter_links(user, changelist_url: str) -> list[tuple[str, str]]:
    """Every choice of every list filter the records list offers, as the console builds
    its links: (label, query string). Read from the ChangeList itself, so the filters the
    admin has are the filters measured (the date drill-down's apart: drill_down)."""
    model_admin = admin.site.get_model_admin(ConsentRecord)
    request = RequestFactory().get(changelist_url)
    request.user = user
    changelist = model_admin.get_changelist_instance(request)
    links = []
    for spec in changelist.filter_specs:
        if getattr(spec, "parameter_name", None) == PERIOD:
            continue
        for choice in spec.choices(changelist):
            query = choice["query_string"]
            if query in ("", "?"):  # "All", "Any date": the unfiltered list
                continue
            links.append((f"filter {spec.title}: {choice['display'] or '(blank)'}", query))
    return links


def drill_down(model_admin, moment: datetime) -> list[tuple[str, str]]:
    """The year, month and day of ``moment``, as the list drills down by date: Django's
    date hierarchy, or a list filter named PERIOD taking 2026, 2026-11, 2026-11-05."""
    field = model_admin.date_hierarchy
    if field:
        year = f"{field}__year={moment.year}"
        month = f"{year}&{field}__month={moment.month}"
        day = f"{month}&{field}__day={moment.day}"
    else:
        year, month, day = (f"{PERIOD}={moment:{f}}" for f in ("%Y", "%Y-%m", "%Y-%m-%d"))
    return [
        (f"date drill-down: year {moment:%Y}", f"?{year}"),
        (f"date drill-down: month {moment:%Y-%m}", f"?{month}"),
        (f"date drill-down: day {moment:%Y-%m-%d}", f"?{day}"),
    ]


def deep_page(client: Client, records_url: str, number: int, per_page: int) -> tuple[str, str]:
    """Page ``number`` of the list: by key where the first page links to the next one by
    key (``?before=<id>``: the admin offers only that for deep pages), else by number."""
    first = client.get(records_url).content.decode()
    if f"{KEYSET}=" not in first:
        return f"deep page (p={number})", f"?p={number}"
    newest_first = ConsentRecord.objects.order_by("-pk").values_list("pk", flat=True)
    before = newest_first[(number - 1) * per_page - 1]  # the last row of the page before
    return f"deep page {number}, by key", f"?{KEYSET}={before}"


def admin_pages(user, big: Site, deep: int) -> list[dict]:
    # A page that fails is reported with its error, and the run goes on.
    client = Client(raise_request_exception=False)
    client.force_login(user)
    records_url = reverse("admin:consent_consentrecord_changelist")
    model_admin = admin.site.get_model_admin(ConsentRecord)
    visitor = (
        ConsentRecord.objects.filter(consent_id=repeat_visitor(1)).values_list("pk", flat=True)
    ).first()
    record_id = visitor or ConsentRecord.objects.order_by("pk").values_list("pk", flat=True)[0]
    pages = [("records list, first page", "")]
    try:
        pages += filter_links(user, records_url)
    except Exception as exc:  # the list is broken: its first page shows how
        print(f"the list filters could not be read: {exc!r}", flush=True)
    pages.append(("search by consent id", f"?q={repeat_visitor(1)}"))
    pages += drill_down(model_admin, timezone.now() - timedelta(days=365))
    pages.append(deep_page(client, records_url, deep, model_admin.list_per_page))
    pages = [(what, records_url + query) for what, query in pages]
    pages.append(
        ("one record's page", reverse("admin:consent_consentrecord_change", args=[record_id]))
    )
    dashboard = reverse("admin:consent_dailystat_changelist")
    pages += [
        (f"statistics dashboard, {days} days", f"{dashboard}?site={big.pk}&days={days}")
        for days in (30, 90)
    ]
    client.get(records_url)  # templates loaded, code warm: the first page is not cold-start
    measured = []
    for what, url in pages:
        measured.append({"what": what, "kind": "page"} | request_page(client, url))
    return measured


def repeat_visitor(number: int) -> uuid.UUID:
    """The consent id seed.py gives returning browser ``number``."""
    return uuid.UUID(sql("SELECT md5('visitor:' || %s)::uuid::text", [number])[0][0])


# --- Exports ----------------------------------------------------------------------------


class Enough(Exception):
    pass


class FirstRows(io.TextIOBase):
    """A file that takes a header and ``rows`` rows, then stops the export writing to it."""

    def __init__(self, rows: int) -> None:
        self.left = rows + 1

    def write(self, text: str) -> int:
        self.left -= 1
        if self.left < 0:
            raise Enough
        return len(text)


def export_first_rows(job: ExportJob, rows: int = 1000) -> float:
    """Seconds from starting the export's own writer to its ``rows``-th row (or its
    end, where it has fewer)."""
    started = time.perf_counter()
    # Since keyset pagination, the writer takes the newest id the export stops at.
    newest = getattr(exports, "newest_id", None)
    out = FirstRows(rows)
    with suppress(Enough):
        exports._write_csv(*((job, newest(), out) if newest else (job, out)))
    return time.perf_counter() - started


# --- The run ----------------------------------------------------------------------------


def sites() -> list[tuple[seed.SiteSpec, Site]]:
    return [(spec, Site.objects.get(key=spec.key)) for spec in seed.SITES]


def prepare(records: int, seal: bool) -> dict:
    """The database of ``records`` records: migrated, seeded, sealed (``seal``), visitors
    erased, vacuumed. Returns the setup's figures and the time the records begin."""
    setup: dict = {"load_at_start": os.getloadavg()}
    _, seconds = stopwatch(call_command, "migrate", "--verbosity", "0")
    setup["migrate_s"] = round(seconds, 1)
    # DEBUG off, as in production: the admin's static files come from the manifest.
    call_command("collectstatic", "--noinput", "--verbosity", "0")
    seed.fast_session()
    end = timezone.now()
    start = seed.first_day(end)
    partitions.cover(start, end)  # where the table is partitioned: every month's, first
    if AuditEvent.objects.exists():
        raise SystemExit("migrate wrote audit events: seeded history would come after them")
    seed.create_sites(start, end)
    seed.backdate_events(start)
    get_user_model().objects.create_superuser(USERNAME, password=None)
    entries = history(records, sites(), start, end, setup, seal)
    if seal:
        entries.append(erasure())
        log.seal()
    _, vacuum_s = stopwatch(sql, "VACUUM (ANALYZE)")
    setup["vacuum_analyze_s"] = round(vacuum_s, 1)
    setup["record_table_bytes"] = table_bytes(ConsentRecord)
    setup["daily_stats"] = DailyStat.objects.count()
    say(records, f"vacuumed in {vacuum_s:.1f} s")
    return {"start": start.isoformat(), "setup": setup, "entries": entries}


def pages(records: int, deep: int) -> dict:
    """Every admin records page once, and the exports' first rows."""
    say(records, "admin pages ...")
    load = os.getloadavg()
    user = get_user_model().objects.get(username=USERNAME)
    big = sites()[0][1]
    entries = admin_pages(user, big, deep) + export_starts(big)
    return {"load": load, "entries": entries}


def finish(records: int, start: datetime, backlog: int) -> dict:
    """A new backlog sealed, the retention purge of the first month, verify_audit."""
    entries = [seal_backlog(sites(), backlog), *purge_a_month(start)]
    log.seal()  # the purge's events
    say(records, "verify_audit ...")
    entries.append(verify_audit())
    return {"entries": entries}


def history(
    records: int, made: list, start: datetime, end: datetime, setup: dict, seal: bool
) -> list[dict]:
    """Two years of records and events, a month at a time; each month sealed as it ends
    (``seal``), as the sealer would have, so heads are signed through the two years."""
    say(records, f"seeding {records:,} records a month at a time"
        + (", sealing each month as it ends" if seal else "") + " ...")  # fmt: skip
    events_total = seed.event_count(start, end)
    written = events = sealed = 0
    records_s = events_s = seal_s = 0.0
    low = start
    while low < end:
        high = min(seed.month_after(low), end)
        numbers = seed.numbers_between(events_total, start, end, low, high)
        count, seconds = stopwatch(seed.insert_events, start, end, numbers)
        events, events_s = events + count, events_s + seconds
        numbers = seed.numbers_between(records, start, end, low, high)
        count, seconds = stopwatch(seed.insert_records, made, records, start, end, numbers)
        written, records_s = written + count, records_s + seconds
        if seal:
            with sealing_clock(high if high < end else None):
                done, seconds = stopwatch(log.seal)
            sealed, seal_s = sealed + done.leaves, seal_s + seconds
        low = high
    _, analyze_s = stopwatch(sql, "ANALYZE")
    setup |= {
        "events": events,
        "events_s": round(events_s, 2),
        "records": written,
        "records_s": round(records_s, 1),
        "records_per_s": round(written / records_s),
        "analyze_s": round(analyze_s, 1),
        "partitions": len(partitions.partitions()),
        "default_partition_rows": default_partition_rows(),
    }
    say(records, f"seeded in {records_s:.1f} s ({written / records_s:,.0f} rows/s)")
    entries = [
        {"what": "seeding records by SQL", "kind": "seed", "rate": written / records_s,
         "detail": f"{written:,} rows in {records_s:.1f} s"}
    ]  # fmt: skip
    if seal:
        say(records, f"sealed {sealed:,} in {seal_s:.1f} s")
        entries.append(
            {"what": "sealing: the history, a month at a time", "kind": "seal",
             "rate": sealed / seal_s,
             "detail": f"{sealed:,} rows in {seal_s:.1f} s, {log.unsealed_count()} left"}
        )  # fmt: skip
    return entries


def erasure() -> dict:
    timings = []
    for number in range(1, ERASED_VISITORS + 1):
        _, seconds = stopwatch(erase, repeat_visitor(number))
        timings.append(seconds)
    return {
        "what": "erasure of one visitor",
        "kind": "erase",
        "ms": statistics.median(timings) * 1000,
        "detail": f"median of {ERASED_VISITORS} visitors",
    }


def export_starts(big: Site) -> list[dict]:
    today = timezone.now().date()
    every_site = ExportJob(format=ExportJob.Format.CSV)
    last_month = ExportJob(
        format=ExportJob.Format.CSV,
        site=big,
        date_from=today - timedelta(days=30),
        date_to=today,
    )
    return [
        {"what": what, "kind": "export", "ms": export_first_rows(job) * 1000}
        for what, job in (
            ("export, every site: first 1,000 rows", every_site),
            ("export, big site, last 30 days: first 1,000 rows", last_month),
        )
    ]


def seal_backlog(made: list, backlog: int) -> dict:
    """``backlog`` new records (the last minute's), sealed on top of the whole log; the
    SQL time of its statements, the costliest kinds first."""
    now = timezone.now()
    new = seed.insert_records(made, backlog, now - timedelta(minutes=1), now)
    with CaptureQueriesContext(connection) as captured:
        sealed, seconds = stopwatch(log.seal)
    by_shape: dict[str, list[float]] = {}
    for query in captured.captured_queries:
        words = re.sub(r"\s+", " ", query["sql"]).split(" ")
        by_shape.setdefault(" ".join(words[:3]), []).append(float(query["time"]) * 1000)
    costliest = sorted(by_shape.items(), key=lambda item: -sum(item[1]))[:SLOWEST_SELECTS]
    sql_ms = sum(sum(times) for times in by_shape.values())
    return {
        "what": f"sealing: a new backlog of {backlog:,}",
        "kind": "seal",
        "rate": sealed.leaves / seconds,
        "detail": f"{new:,} records inserted, {sealed.leaves:,} rows sealed in {seconds:.2f} s, "
        f"{sql_ms:,.0f} ms of it SQL: "
        + "; ".join(f"{shape} ... {sum(t):,.0f} ms ({len(t)} x)" for shape, t in costliest),
        "sql_ms": sql_ms,
        "queries": len(captured.captured_queries),
    }


class Clock:
    """Stands in for the time module in consent.transparency.log while a past month is
    sealed: its heads are signed just after the month, as they were when it was live
    (verify_audit accepts the rows of a month the retention purge dropped only where their
    leaves were signed before the purge's cutoff)."""

    def __init__(self, moment: datetime) -> None:
        self.seconds = moment.timestamp()

    def time(self) -> float:
        return self.seconds


@contextmanager
def sealing_clock(month_end: datetime | None) -> Iterator[None]:
    if month_end is None:  # the current month: now
        yield
        return
    with mock.patch.object(log, "time", Clock(month_end + timedelta(seconds=1))):
        yield


def purge_a_month(start) -> list[dict]:
    """Every site's retention set so that the records' first month (a whole one, a
    partition of its own where the table is partitioned) falls out, then the daily
    retention task, timed: the month, and apart from it what the task then shreds row by
    row (retention is in whole days, so the cutoff falls past the month by the time of
    day: a few hours of the next month's records, more at N than at N/10, and more the
    later in the day the bench runs)."""
    now = timezone.now()
    retention = (now - seed.month_after(start)).days
    Site.objects.update(retention_days=retention)
    cutoff = now - timedelta(days=retention)
    expected = ConsentRecord.objects.filter(created_at__lt=cutoff).exclude(salt=None).count()
    with purge_steps() as steps:
        dropped, drop_seconds = stopwatch(records.purge_partitions)
    month = sum(dropped.values())
    purged, seconds = stopwatch(tasks.purge_expired_records)
    return [
        {
            "what": "retention purge of one month (every site)",
            "kind": "purge",
            "ms": drop_seconds * 1000,
            "detail": f"the month's partition, {month:,} rows: {steps.describe()}",
            "ok": month > 0,
        }
        | steps.figures(),
        {
            "what": "retention: the rest past the cutoff, row by row",
            "kind": "purge-rows",
            "ms": seconds * 1000,
            "detail": f"{purged:,} rows shredded by the daily task after the month "
            f"({month + purged:,} purged in all, {expected:,} were past retention)",
            "ok": month + purged >= expected > 0,
        },
    ]


class PurgeSteps:
    """Where purge_partitions spends its time: its transaction (the event, the month
    detached: the records table is locked from the detach to the commit) and dropping the
    detached month's tables after it (deleting their files: no lock on the records table).
    Both are in the purge's figure; this splits it."""

    def __init__(self) -> None:
        self.detach_at: float | None = None
        self.committed_at: float | None = None
        self.drop_s = 0.0
        self.drops = 0

    def detach(self, real, *args, **kwargs):
        self.detach_at = time.perf_counter()
        return real(*args, **kwargs)

    def drop_detached(self, real, *args, **kwargs):
        started = time.perf_counter()
        if self.detach_at is not None and self.committed_at is None:
            self.committed_at = started
        try:
            return real(*args, **kwargs)
        finally:
            self.drop_s += time.perf_counter() - started
            self.drops += 1

    def figures(self) -> dict:
        locked = (
            (self.committed_at - self.detach_at) * 1000
            if self.detach_at is not None and self.committed_at is not None
            else None
        )
        return {"drop_ms": self.drop_s * 1000, "records_table_locked_ms": locked}

    def describe(self) -> str:
        figures = self.figures()
        locked = figures["records_table_locked_ms"]
        return (
            f"dropping the detached month's tables after the commit "
            f"{figures['drop_ms']:,.0f} ms of it; the records table locked "
            f"{'-' if locked is None else f'{locked:,.1f}'} ms, from the detach to the commit"
        )


@contextmanager
def purge_steps() -> Iterator[PurgeSteps]:
    steps = PurgeSteps()
    real_detach, real_drop = partitions.detach, partitions.drop_detached
    with (
        mock.patch.object(partitions, "detach", lambda *a, **k: steps.detach(real_detach, *a, **k)),
        mock.patch.object(
            partitions, "drop_detached", lambda *a, **k: steps.drop_detached(real_drop, *a, **k)
        ),
    ):
        yield steps


def default_partition_rows() -> int | None:
    """Rows that fell into the default partition (no month's partition took them)."""
    table = f"{ConsentRecord._meta.db_table}_default"
    if not sql("SELECT to_regclass(%s)", [table])[0][0]:
        return None
    return sql(f'SELECT count(*) FROM "{table}"')[0][0]  # noqa: S608


def verify_audit() -> dict:
    out = io.StringIO()
    started = time.perf_counter()
    try:
        call_command("verify_audit", stdout=out)
        finding = ""
    except CommandError as exc:
        finding = str(exc)
    seconds = time.perf_counter() - started
    checked = re.search(r"(\d+) rows checked", out.getvalue())
    rows = int(checked.group(1)) if checked else 0
    return {
        "what": "verify_audit",
        "kind": "verify",
        "rate": rows / seconds if rows else 0.0,
        "detail": f"{rows:,} rows in {seconds:.1f} s" + (f"; {finding}" if finding else ""),
        "ok": not finding and rows > 0,
    }
