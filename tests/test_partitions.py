"""Consent records partitioned by month on PostgreSQL (consent.partitions, pg_partman), and
the retention purge that drops whole months while the transparency log stays verifiable.

These run in the suite's --postgres pass; on SQLite the table is one table (checked too).
"""

import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from consent import partitions, records
from consent.models import AuditEvent, ConsentRecord, Site
from consent.tasks import purge_expired_records
from consent.transparency import log, verify
from tests.ops import decide

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partitions are PostgreSQL's (run with --postgres)"
)


def sql(statement: str, params=()) -> list:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def partition_of(record: ConsentRecord) -> str:
    return sql(
        "SELECT tableoid::regclass::text FROM consent_consentrecord WHERE id = %s", [record.pk]
    )[0][0]


def decided_and_sealed(months_ago: int, count: int = 2) -> list[ConsentRecord]:
    """Records of ``months_ago`` months back, sealed by a sealer of that time."""
    when = timezone.now() - timedelta(days=30 * months_ago)
    made = [decide(when + timedelta(minutes=n)) for n in range(count)]
    signed_then = when.timestamp() + 3600
    real_time = time.time
    try:
        time.time = lambda: signed_then
        log.seal()
    finally:
        time.time = real_time
    return list(ConsentRecord.objects.filter(pk__in=[r.pk for r in made]).order_by("id"))


@pytest.fixture
def long_ago(site):
    """Old months exist as partitions (as after loading old records), the site keeps
    records for 365 days."""
    Site.objects.filter(pk=site.pk).update(retention_days=365)
    partitions.cover(timezone.now() - timedelta(days=30 * 16), timezone.now())


def test_sqlite_keeps_one_table(db):
    if connection.vendor == "postgresql":
        pytest.skip("SQLite's case")
    assert not partitions.is_partitioned()
    assert partitions.partitions() == []
    assert records.purge_partitions() == {}


@postgres_only
def test_records_are_partitioned_by_month(site):
    assert partitions.is_partitioned()
    record = decide(timezone.now())
    assert partition_of(record) == f"consent_consentrecord_p{timezone.now():%Y_%m}"
    months = [p.start for p in partitions.partitions()]
    # This month and the months ahead exist before anything is written into them.
    assert len([m for m in months if m >= timezone.now() - timedelta(days=31)]) >= 4


@postgres_only
def test_old_records_land_in_their_month(long_ago):
    old = decide(timezone.now() - timedelta(days=400))
    assert partition_of(old) == f"consent_consentrecord_p{old.created_at:%Y_%m}"


@postgres_only
def test_maintenance_moves_rows_out_of_the_default_partition(site):
    far = timezone.now() - timedelta(days=900)  # no partition for it
    record = decide(far)
    assert partition_of(record) == "consent_consentrecord_default"
    assert partitions.maintain() == 1
    assert partition_of(record) == f"consent_consentrecord_p{far:%Y_%m}"
    assert ConsentRecord.objects.get(pk=record.pk).consent_id == record.consent_id


@postgres_only
def test_a_month_past_retention_is_dropped_and_the_log_still_verifies(long_ago):
    expired = decided_and_sealed(months_ago=14, count=3)
    kept = decided_and_sealed(months_ago=2)
    gone_partition = partition_of(expired[0])

    assert records.purge_partitions() == {"demo": 3}

    assert not ConsentRecord.objects.filter(pk__in=[r.pk for r in expired]).exists()
    assert ConsentRecord.objects.filter(pk__in=[r.pk for r in kept]).count() == 2
    assert gone_partition not in [p.name for p in partitions.partitions()]
    event = AuditEvent.objects.get(action="purge")
    assert event.data["count"] == 3
    assert gone_partition in event.data["partitions"]
    assert event.data["leaves"] == records.encode_ranges([r.leaf_index for r in expired])
    log.seal()
    report = verify.verify()
    assert report.finding is None, report.finding
    assert report.purged == 3
    # A second run finds nothing to drop and writes nothing.
    assert records.purge_partitions() == {}
    assert AuditEvent.objects.filter(action="purge").count() == 1


@postgres_only
def test_the_retention_task_drops_months_and_reports_them_per_site(long_ago):
    decided_and_sealed(months_ago=14, count=2)
    assert purge_expired_records() == 2
    event = AuditEvent.objects.get(action="retention")
    assert event.data["count"] == 2


@postgres_only
def test_a_month_is_kept_while_any_site_keeps_it(long_ago, site):
    decided_and_sealed(months_ago=14)
    Site.objects.create(key="archive", name="Archive", retention_days=900)
    assert records.purge_partitions() == {}
    assert ConsentRecord.objects.count() == 2


@postgres_only
def test_a_month_the_sealer_has_not_finished_is_not_dropped(long_ago):
    decided_and_sealed(months_ago=14)
    decide(timezone.now() - timedelta(days=420))  # not in the log yet
    assert records.purge_partitions() == {}
    assert ConsentRecord.objects.count() == 3


@postgres_only
@pytest.mark.parametrize(
    "cutoff_days_ago",
    [
        0,  # a cutoff not a retention's distance before the event
        400,  # far enough back, but the leaves were signed after it
    ],
)
def test_rows_deleted_by_sql_are_missing_whatever_event_is_forged(long_ago, cutoff_days_ago):
    """Someone with SQL access drops a recent month and writes the purge event the
    platform would write: verify_audit still reports the rows missing."""
    recent = decided_and_sealed(months_ago=2)
    sql(f'DELETE FROM "{partition_of(recent[0])}"')  # noqa: S608
    AuditEvent.objects.create(
        actor="system",
        action="purge",
        object_type="consent.ConsentRecord",
        data={
            "count": 2,
            "leaves": records.encode_ranges([r.leaf_index for r in recent]),
            "cutoff": (timezone.now() - timedelta(days=cutoff_days_ago)).isoformat(),
            "partitions": ["forged"],
        },
    )
    log.seal()
    finding = verify.verify().finding
    assert finding is not None and finding.problem == "missing"
    assert finding.where == f"leaf {min(r.leaf_index for r in recent)}"


@postgres_only
def test_a_resend_is_found_only_in_the_months_it_can_be_in(site):
    record = decide(timezone.now())
    consent_id, decision_id = record.consent_id, uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT 1 FROM consent_consentrecord WHERE consent_id = %s "
            "AND decision_id = %s AND created_at >= %s",
            [consent_id, decision_id, timezone.now() - records.RESEND_WINDOW],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    scanned = {name for name in plan.split() if name.startswith("consent_consentrecord_p")}
    assert 2 <= len(scanned) <= 8  # the window's months and the ones made ahead
    assert all(
        name >= f"consent_consentrecord_p{timezone.now() - timedelta(days=93):%Y_%m}"
        for name in scanned
    )


@postgres_only
def test_migrating_back_and_forth_keeps_every_row(long_ago):
    made = [*decided_and_sealed(months_ago=14), decide(timezone.now())]
    before = sorted(ConsentRecord.objects.values_list("id", "consent_id", "leaf_index"))
    assert partitions.unpartition()
    assert not partitions.is_partitioned()
    assert sorted(ConsentRecord.objects.values_list("id", "consent_id", "leaf_index")) == before
    assert partitions.partition()
    assert partitions.is_partitioned()
    assert sorted(ConsentRecord.objects.values_list("id", "consent_id", "leaf_index")) == before
    assert partition_of(made[0]) == f"consent_consentrecord_p{made[0].created_at:%Y_%m}"
    newer = decide(timezone.now())
    assert newer.pk > max(row[0] for row in before)  # the ids carry on


@postgres_only
def test_an_unpartitioned_table_on_postgresql_is_named_by_a_system_check(site):
    from consent.checks import check_partitions

    assert check_partitions(databases=["default"]) == []
    partitions.unpartition()
    assert [m.id for m in check_partitions(databases=["default"])] == ["consent.W010"]
    assert check_partitions(databases=None) == []  # checks without database access
