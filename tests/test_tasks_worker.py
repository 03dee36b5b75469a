"""The sealing task through a real Celery worker and a real redis-server: it appends the
rows to the transparency log and signs a head with the log's key."""

import time

import pytest
from django.utils import timezone

from consent.models import AuditEvent, ConsentRecord, TreeHead
from consent.transparency import heads, log, verify
from tests.ops import decide


@pytest.mark.services
# serialized_rollback: an earlier transactional test emptied the tables, the categories
# the migrations made included; this puts them back.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_seals_the_log_and_signs_a_head(site, celery_worker):
    made = [decide(timezone.now()) for _ in range(3)]
    celery_worker.client().send_task("consent.tasks.seal_audit_log")
    deadline = time.monotonic() + 30
    while ConsentRecord.objects.filter(pk__in=[r.pk for r in made], leaf_index=None).exists():
        assert time.monotonic() < deadline, celery_worker.output()
        time.sleep(0.2)

    head = TreeHead.objects.get()
    assert head.tree_size == ConsentRecord.objects.count() + AuditEvent.objects.count()
    assert heads.verify(log.signed(head), log.key_document()["origin"], log.public_key())
    assert verify.verify().finding is None
    assert "succeeded" in celery_worker.output()


def test_the_task_runs_eagerly_in_the_embedded_mode(site):
    from consent.tasks import seal_audit_log

    decide(timezone.now())
    decide(timezone.now())
    assert seal_audit_log.delay().get() >= 2
    assert verify.verify().finding is None
