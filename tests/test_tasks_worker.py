"""The sealing task through a real Celery worker and a real redis-server."""

import time

import pytest

from consent import chain
from consent.models import ChainLink
from tests.test_chain import decide


@pytest.mark.services
# serialized_rollback: an earlier transactional test emptied the tables, the categories
# the migrations made included; this puts them back.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_seals_the_chain(site, celery_worker):
    decide(3)
    celery_worker.client().send_task("consent.tasks.seal_audit_chain")
    deadline = time.monotonic() + 30
    while ChainLink.objects.filter(kind="record").count() < 3:
        assert time.monotonic() < deadline, celery_worker.output()
        time.sleep(0.2)
    assert chain.verify()[1] is None
    assert "succeeded" in celery_worker.output()


def test_the_task_runs_eagerly_in_the_embedded_mode(site):
    from consent.tasks import seal_audit_chain

    decide(2)
    assert seal_audit_chain.delay().get() >= 2
    assert chain.verify()[1] is None
