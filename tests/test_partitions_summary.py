"""The sealer's summary of each month in the log (SealedMonth, SealedRun) and the retention
purge that reads it instead of the month's rows: what it names, what it falls back to, and
that someone who edits it with SQL access gains nothing verify_audit does not catch.

The summary tests run on SQLite and PostgreSQL; the purge is PostgreSQL's (--postgres).
"""

import threading
import time
from datetime import UTC, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from consent import partitions, records
from consent.models import AuditEvent, ConsentRecord, SealedMonth, SealedRun
from consent.transparency import log, verify
from tests.ops import decide
from tests.test_partitions import decided_and_sealed, long_ago, partition_of, postgres_only, sql

__all__ = ["long_ago"]  # the fixture, used by name


def sealed_as_of(moment, batch: int = log.BATCH) -> None:
    """Seal now, with heads signed at ``moment`` (as a sealer of that time would have)."""
    real_time = time.time
    try:
        time.time = lambda: moment.timestamp()
        log.seal(batch=batch)
    finally:
        time.time = real_time


def across_a_month_end() -> tuple[list[ConsentRecord], list[ConsentRecord]]:
    """Records of the minutes around the start of the month that holds the day a year ago,
    some committed late, so that the log takes them in turns: the month before gets three
    runs of one leaf each, the month after two. Sealed just after."""
    year_ago = (timezone.now() - timedelta(days=365)).astimezone(UTC)
    boundary = year_ago.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    minutes = (-3, 1, -2, 2, -1)  # ids in this order, times alternately either side
    made = [decide(boundary + timedelta(minutes=m)) for m in minutes]
    sealed_as_of(boundary + timedelta(minutes=5))
    made = list(ConsentRecord.objects.filter(pk__in=[r.pk for r in made]).order_by("id"))
    return made[0::2], made[1::2]


def month_start(record: ConsentRecord):
    return log.month_of(record.created_at)


def test_the_sealer_counts_each_month_per_site_and_the_runs_of_its_leaves(site):
    now = timezone.now()
    older = [decide(now - timedelta(days=70) + timedelta(minutes=n)) for n in range(5)]
    AuditEvent.objects.create(
        actor="staff", action="change", object_type="consent.Site", created_at=now
    )
    newer = [decide(now + timedelta(minutes=1 + n)) for n in range(2)]
    log.seal(batch=2)  # runs carried on from one batch to the next

    older = list(ConsentRecord.objects.filter(pk__in=[r.pk for r in older]).order_by("id"))
    newer = list(ConsentRecord.objects.filter(pk__in=[r.pk for r in newer]).order_by("id"))
    assert set(SealedMonth.objects.values_list("month", "site_id", "records")) == {
        (month_start(older[0]), site.pk, 5),
        (month_start(newer[0]), site.pk, 2),
    }
    assert list(
        SealedRun.objects.filter(month=month_start(older[0])).values_list("first_leaf", "last_leaf")
    ) == [(older[0].leaf_index, older[-1].leaf_index)]
    assert log.sealed_in([month_start(newer[0])]) == (
        {site.pk: 2},
        [(newer[0].leaf_index, newer[1].leaf_index)],
    )


def test_records_of_another_month_in_between_start_a_new_run(site):
    before, after = across_a_month_end()
    assert log.sealed_in([month_start(before[0])]) == (
        {site.pk: 3},
        [(r.leaf_index, r.leaf_index) for r in before],
    )
    assert log.sealed_in([month_start(after[0])]) == (
        {site.pk: 2},
        [(r.leaf_index, r.leaf_index) for r in after],
    )


@postgres_only
def test_the_purge_names_what_the_summary_says_and_forgets_the_month(long_ago):
    expired = decided_and_sealed(months_ago=14, count=3)
    kept = decided_and_sealed(months_ago=2)
    month = month_start(expired[0])

    assert records.purge_partitions() == {"demo": 3}

    event = AuditEvent.objects.get(action="purge")
    assert event.data["leaves"] == records.encode_ranges([r.leaf_index for r in expired])
    assert not SealedMonth.objects.filter(month=month).exists()
    assert not SealedRun.objects.filter(month=month).exists()
    assert SealedMonth.objects.get(month=month_start(kept[0])).records == 2
    log.seal()
    report = verify.verify()
    assert report.finding is None, report.finding
    assert report.purged == 3


@postgres_only
def test_the_detached_month_is_dropped_and_nothing_is_left_behind(long_ago):
    expired = decided_and_sealed(months_ago=14)
    name = partition_of(expired[0])

    records.purge_partitions()

    assert sql(
        "SELECT to_regclass(%s), to_regclass(%s)", [name, f"{partitions.PURGED}.{name}"]
    ) == [(None, None)]


@postgres_only
def test_a_month_an_interrupted_purge_detached_is_dropped_by_the_next(long_ago):
    expired = decided_and_sealed(months_ago=14)
    name = partition_of(expired[0])
    # A purge that stopped after its transaction: the month is out of the table, its
    # event written, its files still there.
    partitions.detach(partitions.expired(timezone.now() - timedelta(days=365)))
    assert sql("SELECT to_regclass(%s)", [f"{partitions.PURGED}.{name}"]) != [(None,)]

    records.purge_partitions()

    assert sql("SELECT to_regclass(%s)", [f"{partitions.PURGED}.{name}"]) == [(None,)]


@postgres_only
def test_a_month_sealed_before_the_summary_is_read_from_its_rows(long_ago):
    expired = decided_and_sealed(months_ago=14, count=3)
    SealedMonth.objects.all().delete()
    SealedRun.objects.all().delete()

    assert records.purge_partitions() == {"demo": 3}

    event = AuditEvent.objects.get(action="purge")
    assert event.data["leaves"] == records.encode_ranges([r.leaf_index for r in expired])
    log.seal()
    assert verify.verify().finding is None


@postgres_only
def test_a_summary_that_misses_the_months_first_leaf_is_not_used(long_ago):
    """Its first run was cut short (by a bug, or by hand): the purge reads the rows, and
    names every leaf."""
    expired = decided_and_sealed(months_ago=14, count=3)
    SealedRun.objects.filter(month=month_start(expired[0])).update(first_leaf=expired[1].leaf_index)
    SealedMonth.objects.filter(month=month_start(expired[0])).update(records=2)

    assert records.purge_partitions() == {"demo": 3}

    event = AuditEvent.objects.get(action="purge")
    assert event.data["leaves"] == records.encode_ranges([r.leaf_index for r in expired])
    log.seal()
    assert verify.verify().finding is None


@postgres_only
def test_a_run_taken_out_of_the_summary_leaves_its_rows_missing(long_ago):
    """Someone with SQL access takes a run out of the summary (and the count with it):
    the purge names what the summary says, and verify_audit reports the leaf that no
    event names."""
    made, _ = across_a_month_end()
    middle = made[1].leaf_index
    SealedRun.objects.filter(month=month_start(made[0]), first_leaf=middle).delete()
    SealedMonth.objects.filter(month=month_start(made[0])).update(records=2)

    assert records.purge_partitions() == {"demo": 2}

    log.seal()
    finding = verify.verify().finding
    assert finding is not None and finding.problem == "missing"
    assert finding.where == f"leaf {middle}"


@postgres_only
def test_recent_rows_deleted_and_added_to_an_old_months_summary_are_missing(long_ago, site):
    """Someone with SQL access deletes a recent month's records, adds their leaves to the
    summary of a month about to be purged, and a row to that month's partition whose leaf
    makes the summary's bounds agree: the purge names the recent leaves, and verify_audit
    still reports them missing, for they were signed after the purge's cutoff."""
    old = decided_and_sealed(months_ago=14, count=2)
    recent = decided_and_sealed(months_ago=2)
    low, high = recent[0].leaf_index, recent[-1].leaf_index
    sql(f'DELETE FROM "{partition_of(recent[0])}"')  # noqa: S608
    month = month_start(old[0])
    SealedRun.objects.create(month=month, first_leaf=low, last_leaf=high)
    SealedMonth.objects.filter(month=month).update(records=2 + len(recent))
    ConsentRecord.objects.create(
        site=site,
        policy_version=1,
        texts_hash="",
        categories={},
        method="custom",
        created_at=old[0].created_at,
        expires_at=old[0].created_at,
        leaf_index=high,
    )

    records.purge_partitions()

    event = AuditEvent.objects.get(action="purge")
    assert event.data["leaves"] == records.format_runs(
        [(old[0].leaf_index, old[1].leaf_index), (low, high)]
    )
    log.seal()
    finding = verify.verify().finding
    assert finding is not None and finding.problem == "missing"
    assert finding.where == f"leaf {low}"


def test_sqlite_keeps_the_summary_too(db):
    if connection.vendor == "postgresql":
        pytest.skip("SQLite's case")
    assert records.purge_partitions() == {}


@postgres_only
@pytest.mark.django_db(
    transaction=True, serialized_rollback=True
)  # a reader elsewhere sees commits
def test_a_purge_gives_up_rather_than_queue_every_insert_behind_a_long_reader(long_ago):
    """A detach needs the records table to itself: behind a reader that holds it (a long
    export), it would make every decision's INSERT wait too. The purge waits at most
    partitions.LOCK_TIMEOUT, writes nothing, and the next run does the work."""
    import psycopg

    expired = decided_and_sealed(months_ago=14, count=2)
    name = partition_of(expired[0])
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM consent_consentrecord")  # holds it until it ends
        # The reader ends after 15 s: a purge that queued behind it would then succeed.
        ends = threading.Timer(15, reader.execute, ["ROLLBACK"])
        ends.start()
        started = time.monotonic()
        purged = records.purge_partitions()
        waited = time.monotonic() - started
        ends.cancel()
        ends.join()
        reader.execute("ROLLBACK")
    assert purged == {}
    assert waited < 10
    assert not AuditEvent.objects.filter(action="purge").exists()
    assert partition_of(expired[0]) == name  # still in the table
    assert SealedMonth.objects.filter(month=month_start(expired[0])).exists()

    assert records.purge_partitions() == {"demo": 2}
    assert AuditEvent.objects.filter(action="purge").count() == 1
