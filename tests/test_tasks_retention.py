"""The daily retention task: old records go in batches, the audit trail says so, and the
transparency log still verifies (records already in it keep their leaves, shredded)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.models import AuditEvent, ConsentRecord
from consent.tasks import purge_expired_records
from consent.transparency import log, verify
from tests.ops import decide

pytestmark = pytest.mark.django_db


@pytest.fixture
def short_retention(site):
    site.retention_days = 30
    site.save()
    return site


def test_it_deletes_only_records_past_the_retention_period(short_retention):
    now = timezone.now()
    old = [decide(now - timedelta(days=31 + i)) for i in range(4)]
    kept = [decide(now - timedelta(days=29)), decide(now)]

    assert purge_expired_records.delay().get() == 4

    assert not ConsentRecord.objects.filter(pk__in=[r.pk for r in old]).exists()
    assert set(ConsentRecord.objects.values_list("pk", flat=True)) == {r.pk for r in kept}


def test_it_writes_one_summary_event_with_the_count(short_retention):
    now = timezone.now()
    for i in range(3):
        decide(now - timedelta(days=40 + i))

    purge_expired_records.delay()

    (summary,) = AuditEvent.objects.filter(action="retention")
    assert summary.site_key == "demo"
    assert summary.data == {"count": 3, "retention_days": 30}
    assert summary.actor == "system"


def test_the_log_still_verifies_after_a_purge_of_sealed_records(short_retention):
    now = timezone.now()
    old = [decide(now - timedelta(days=60 + i)) for i in reversed(range(5))]  # oldest first
    kept = decide(now)
    log.seal()

    assert purge_expired_records.delay().get() == 5
    log.seal()

    report = verify.verify()
    assert report.finding is None
    assert report.erased == 5
    shredded = ConsentRecord.objects.filter(pk__in=[r.pk for r in old])
    assert set(shredded.values_list("salt", "consent_id", "page_url")) == {(None, None, "")}
    assert ConsentRecord.objects.get(pk=kept.pk).salt is not None


def test_running_it_twice_deletes_and_logs_nothing_more(short_retention):
    now = timezone.now()
    decide(now - timedelta(days=45))
    decide(now)

    assert purge_expired_records.delay().get() == 1
    events = AuditEvent.objects.filter(action__in=("purge", "retention")).count()
    assert purge_expired_records.delay().get() == 0

    assert AuditEvent.objects.filter(action__in=("purge", "retention")).count() == events
    assert ConsentRecord.objects.count() == 1


def test_it_purges_in_batches_each_with_its_own_event(short_retention, monkeypatch):
    from consent import records

    now = timezone.now()
    for i in range(5):
        decide(now - timedelta(days=40 + i))
    real = records.purge_expired
    monkeypatch.setattr(records, "purge_expired", lambda site, now: real(site, now, batch=2))

    assert purge_expired_records.delay().get() == 5

    assert [e.data["count"] for e in AuditEvent.objects.filter(action="purge").order_by("id")] == [
        2,
        2,
        1,
    ]
    log.seal()
    assert verify.verify().finding is None


def test_the_purge_can_be_run_by_hand(short_retention, capsys):
    from django.core.management import call_command

    decide(timezone.now() - timedelta(days=31))

    call_command("purge_expired")

    assert capsys.readouterr().out == "1 expired consent records deleted.\n"
    assert ConsentRecord.objects.count() == 0
