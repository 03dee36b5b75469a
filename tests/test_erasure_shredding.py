"""Erasure and retention by crypto-shredding: a record in the log keeps its row and its
leaf and loses everything personal and its salt; a record not in the log yet goes."""

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from consent import records
from consent.models import AuditEvent, ConsentRecord, ExportJob
from consent.transparency import log
from tests.ops import decide as decide_at
from tests.security.staff import staff_client


def decide(when=None, consent_id=None) -> ConsentRecord:
    return decide_at(when or timezone.now(), consent_id=consent_id)


pytestmark = pytest.mark.django_db


def test_erasure_shreds_logged_records_and_deletes_unlogged_ones(site):
    visitor = uuid.uuid4()
    first, second = decide(consent_id=visitor), decide(consent_id=visitor)
    log.seal()
    late = decide(consent_id=visitor)  # not in the log yet
    other = decide()
    first.refresh_from_db()
    second.refresh_from_db()
    leaves = {first.leaf_index, second.leaf_index}

    assert records.erase(visitor, actor="privacy") == 3

    assert not ConsentRecord.objects.filter(pk=late.pk).exists()
    kept = ConsentRecord.objects.filter(pk__in=[first.pk, second.pk])
    assert {r.leaf_index for r in kept} == leaves
    for row in kept:
        assert row.erased and row.salt is None
        assert (row.consent_id, row.decision_id) == (None, None)
        assert (row.ip_prefix, row.page_url, row.language) == ("", "", "")
        with pytest.raises(ValueError):
            log.leaf_input("consent", row)
    assert not ConsentRecord.objects.filter(consent_id=visitor).exists()
    other.refresh_from_db()
    assert other.consent_id is not None and not other.erased
    event = AuditEvent.objects.get(action="erase")
    assert event.data["count"] == 3
    assert event.data["leaves"] == records.encode_ranges(sorted(leaves))
    assert str(visitor) not in str(event.data)


def test_retention_shreds_expired_records_once(site):
    old = decide(when=timezone.now() - timedelta(days=site.retention_days + 1))
    log.seal()
    assert records.purge_expired(site) == 1
    old.refresh_from_db()
    assert old.erased and old.consent_id is None and old.leaf_index is not None
    assert records.purge_expired(site) == 0, "a shredded record is not purged again"


def test_erased_records_are_shown_as_erased_and_never_exported(site):
    record = decide()
    log.seal()
    records.erase(record.consent_id, actor="privacy")
    for group in ("Marketing ops", "Privacy"):
        client = staff_client(group.split()[0].lower(), group, (site,))
        page = client.get(reverse("admin:consent_consentrecord_changelist"))
        assert page.status_code == 200
        assert (
            client.get(reverse("admin:consent_consentrecord_change", args=[record.pk])).status_code
            == 200
        )
    job = ExportJob.objects.create(site=site, format="csv")
    from consent.exports import records_for

    assert not records_for(job).exists()


def test_erasure_takes_the_visitors_own_exports_with_it(site, django_capture_on_commit_callbacks):
    from consent import exports

    visitor = uuid.uuid4()
    decide(consent_id=visitor)
    other = decide()
    mine = ExportJob.objects.create(site=site, consent_id=visitor)
    theirs = ExportJob.objects.create(site=site, consent_id=other.consent_id)
    for job in (mine, theirs):
        exports.run(job.pk)
    path = exports.file_path(ExportJob.objects.get(pk=mine.pk))
    assert path is not None and str(visitor) in path.read_text()

    with django_capture_on_commit_callbacks(execute=True):
        records.erase(visitor, actor="privacy")

    assert not ExportJob.objects.filter(pk=mine.pk).exists()
    assert not path.exists()
    assert exports.file_path(ExportJob.objects.get(pk=theirs.pk)).exists()
