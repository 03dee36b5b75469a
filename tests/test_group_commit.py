"""The group commit: decisions of concurrent requests stored together, each answered only
after the COMMIT that holds its row, none lost, none stored twice, none failed by a
neighbour. Real threads, each with its own database connection, on SQLite and on
PostgreSQL (--postgres); writes are held back by a real lock taken in the test's own
transaction, so the batches form deterministically."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from consent import groupcommit, records
from consent.models import ConsentRecord, Method, Site
from consent.policy import Signals
from consent.siteconfig import get_bundle

# serialized_rollback: a transactional test empties every table afterwards, the
# categories the migrations made included; this puts them back for the next test.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
GROUP = records.GROUP_COMMIT


@contextmanager
def writes_held():
    """Hold the records table's write lock in this thread's transaction until the block
    ends: a leader's INSERT waits on it while followers queue up behind."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("LOCK TABLE consent_consentrecord IN SHARE ROW EXCLUSIVE MODE")
        else:  # SQLite: any write takes the database's one write lock
            cursor.execute("DELETE FROM consent_consentrecord WHERE 0 = 1")
        yield


def leading(timeout: float = 10.0) -> None:
    """Wait until a leader has taken its batch (and so waits on the lock)."""
    deadline = time.monotonic() + timeout
    while not (GROUP._leading and not GROUP._queue):
        assert time.monotonic() < deadline, "no leader took its batch"
        time.sleep(0.005)


def queued(count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(GROUP._queue) < count:
        assert time.monotonic() < deadline, f"only {len(GROUP._queue)} of {count} queued"
        time.sleep(0.005)


def in_thread(function):
    """Run in a worker thread with its own connection, closed afterwards."""

    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return run


@in_thread
def decide(**overrides):
    arguments = {
        "categories": {"functional": True, "advertising": False},
        "policy_version": 1,
        "method": Method.CUSTOM,
        "signals": Signals(),
        "language": "en",
        "page_url": "https://shop.example/",
        "ip": "203.0.113.7",
    } | overrides
    return records.record_consent(get_bundle("demo"), **arguments)


def test_concurrent_decisions_share_one_insert_and_each_gets_its_own_row(site):
    batches, rows = GROUP.batches, GROUP.rows
    with ThreadPoolExecutor(8) as pool:
        with writes_held():
            futures = [pool.submit(decide, language=f"l{i}") for i in range(8)]
            queued(7)  # the first leads and waits on the lock; seven queue behind it
        stored = [future.result(timeout=30) for future in futures]
    assert GROUP.batches - batches == 2  # the leader alone, then the seven together
    assert GROUP.rows - rows == 8
    assert len({record.pk for record in stored}) == 8
    assert not any(record.replayed for record in stored)
    # Every answer names its own row, with what that request sent.
    for record in stored:
        assert ConsentRecord.objects.get(pk=record.pk).language == record.language


def test_a_decision_resent_within_one_batch_is_stored_once(site):
    consent_id, decision_id = uuid.uuid4(), uuid.uuid4()
    twice = {"consent_id": consent_id, "decision_id": decision_id}
    with ThreadPoolExecutor(4) as pool:
        with writes_held():
            first = pool.submit(decide)
            leading()
            futures = [
                pool.submit(decide, **twice),
                pool.submit(decide, **twice),
                pool.submit(decide),
            ]
            queued(3)
        stored = [f.result(timeout=30) for f in [first, *futures]]
    assert ConsentRecord.objects.count() == 3
    resent = [r for r in stored if r.decision_id == decision_id]
    assert resent[0].pk == resent[1].pk
    assert sorted(r.replayed for r in resent) == [False, True]


def test_a_row_the_database_refuses_fails_alone(site):
    """policy_version is unsigned in the table: the batch is refused, then stored row
    by row, and only the bad rows fail, a bad row with a decision id (which is looked
    up as a possible resend, and is not one) included."""
    with ThreadPoolExecutor(5) as pool:
        with writes_held():
            first = pool.submit(decide)
            leading()
            good = [pool.submit(decide), pool.submit(decide)]
            bad = [
                pool.submit(decide, policy_version=-1),
                pool.submit(decide, policy_version=-1, decision_id=uuid.uuid4()),
            ]
            queued(4)
        assert first.result(timeout=30).pk
        assert all(f.result(timeout=30).pk for f in good)
        for future in bad:
            with pytest.raises(IntegrityError):
                future.result(timeout=30)
    assert ConsentRecord.objects.count() == 3


def test_a_follower_whose_leader_is_stuck_stores_its_own_row(site, monkeypatch):
    """Still queued after WAIT_SECONDS, a request stops waiting on the leader and stores
    its row on its own connection: nothing is lost and nobody is stuck behind it."""
    monkeypatch.setattr(groupcommit, "WAIT_SECONDS", 0.3)
    with ThreadPoolExecutor(2) as pool:
        with writes_held():
            leader = pool.submit(decide, language="leader")
            leading()
            follower = pool.submit(decide, language="follower")
            queued(1)
            deadline = time.monotonic() + 10
            while GROUP._queue:  # it left the queue to store its row itself
                assert time.monotonic() < deadline
                time.sleep(0.01)
        stored = {leader.result(timeout=30).pk, follower.result(timeout=30).pk}
    assert len(stored) == 2
    assert sorted(ConsentRecord.objects.values_list("language", flat=True)) == [
        "follower",
        "leader",
    ]
    assert GROUP._queue == [] and not GROUP._leading


@pytest.mark.parametrize("size", [1, 3])
def test_the_insert_stores_exactly_what_the_orm_would(site, size):
    """Both statements (one row; a batch) against save(), field by field."""
    now = timezone.now()

    def record(**values) -> ConsentRecord:
        return ConsentRecord(
            consent_id=uuid.uuid4(),
            site=Site(pk=site.pk, key=site.key),
            policy_version=1,
            texts_hash="a" * 64,
            categories={"required": True, "functional": False, "advertising": True},
            method=Method.CUSTOM,
            gpc=True,
            dnt=False,
            language="de-AT",
            page_url="https://shop.example/bücher/ü",
            ip_prefix="2001:db8::/48",
            created_at=now,
            expires_at=now + timezone.timedelta(days=180),
            **values,
        )

    batch = [record(decision_id=uuid.uuid4() if i % 2 else None) for i in range(size)]
    groupcommit.insert(batch)
    fields = [
        f.attname
        for f in ConsentRecord._meta.concrete_fields
        if not f.primary_key and f.name != "consent_id"
    ]
    for inserted in batch:
        twin = record(decision_id=inserted.decision_id)  # another consent id
        twin.save()
        a = ConsentRecord.objects.get(pk=inserted.pk)
        b = ConsentRecord.objects.get(pk=twin.pk)
        assert a.consent_id == inserted.consent_id
        assert {f: getattr(a, f) for f in fields} == {f: getattr(b, f) for f in fields}
    # The ids came back in the rows' order.
    assert [r.pk for r in batch] == sorted(r.pk for r in batch)


def test_inside_a_transaction_the_row_is_the_callers(site):
    """A caller's own transaction holds its row: rolled back, it is gone."""
    with pytest.raises(RuntimeError), transaction.atomic():
        records.record_consent(
            get_bundle("demo"),
            categories={"functional": True, "advertising": True},
            policy_version=1,
            method=Method.ACCEPT_ALL,
            signals=Signals(),
        )
        assert ConsentRecord.objects.count() == 1
        raise RuntimeError("roll back")
    assert ConsentRecord.objects.count() == 0


def test_the_leader_lets_the_next_lead_when_it_is_done(site):
    """No request waits for a timer or is left without a leader: many rounds of
    overlapping requests all finish."""
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(decide) for _ in range(60)]
        results = [f.result(timeout=60) for f in futures]
    assert len({r.pk for r in results}) == 60
    assert ConsentRecord.objects.count() == 60
    assert GROUP._queue == [] and not GROUP._leading


def test_the_insert_is_one_statement_that_django_sees(site):
    """Logged and hooked like every other query (tracing, assertNumQueries)."""
    from django.test.utils import CaptureQueriesContext

    now = timezone.now()
    rows = [
        ConsentRecord(
            consent_id=uuid.uuid4(),
            site=Site(pk=site.pk, key=site.key),
            policy_version=1,
            texts_hash="a" * 64,
            categories={"required": True},
            method=Method.REJECT_ALL,
            created_at=now,
            expires_at=now,
        )
        for _ in range(3)
    ]
    with CaptureQueriesContext(connection) as captured:
        groupcommit.insert(rows)
    assert [q["sql"].split()[0] for q in captured.captured_queries] == ["INSERT"]
