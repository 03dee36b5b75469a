"""Group commit: decisions that overlap in one process are stored in one transaction, each
answered only once its row is committed, and one refused row fails no other."""

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import DataError, OperationalError, connection
from django.test import override_settings

from consent import groupcommit, records
from consent.bundles import get_bundle
from consent.models import ConsentRecord
from consent.rules import Signals

# The writers commit on connections of their own; the migrations' rows (categories)
# are kept across the flush.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def batches(monkeypatch) -> Iterator[list[int]]:
    """The size of every batch stored with bulk_create (a lone record is save()d), and
    the module left as each test found it: nobody writing, nobody queued."""
    assert not groupcommit._writing and groupcommit._queue == []
    sizes: list[int] = []
    insert = groupcommit._insert

    def counted(records: list[ConsentRecord]) -> None:
        sizes.append(len(records))
        insert(records)

    monkeypatch.setattr(groupcommit, "_insert", counted)
    yield sizes
    assert not groupcommit._writing and groupcommit._queue == []


def wait_for(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


@contextmanager
def table_locked() -> Iterator[None]:
    """Another connection keeps every INSERT into the records table waiting until the
    block ends, as a slow commit would."""
    if connection.vendor == "postgresql":
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        with psycopg.connect(**params) as other:
            other.execute("LOCK TABLE consent_consentrecord IN SHARE MODE")
            yield
            other.rollback()
    else:
        other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()


class Visitor(threading.Thread):
    """A request of its own thread (and database connection) deciding once."""

    def __init__(self, language: str = "en", go: threading.Event | None = None) -> None:
        super().__init__()
        self.language = language
        self.go = go  # connect first, then decide once it is set
        self.backend: int | None = None
        self.record: ConsentRecord | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            if self.go is not None:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    self.backend = cursor.fetchone()[0]
                self.go.wait(30)
            self.record, _ = records.record_consent(
                get_bundle("demo"),
                categories={"functional": True, "advertising": False},
                policy_version=1,
                method="custom",
                signals=Signals(),
                language=self.language,
                decision_id=uuid.uuid4(),
            )
        except Exception as error:
            self.error = error
        finally:
            connection.close()


def queued_behind_a_blocked_write(visitors: list[Visitor]) -> Visitor:
    """Start one visitor whose write waits on the lock, then ``visitors``, which queue
    behind it. Returns the first."""
    first = Visitor()
    first.start()
    wait_for(lambda: groupcommit._writing)
    for visitor in visitors:
        visitor.start()
    wait_for(lambda: len(groupcommit._queue) == len(visitors))
    return first


def transactions_of(ids: list[int]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT xmin::text) FROM consent_consentrecord WHERE id = ANY(%s)",
            [ids],
        )
        return cursor.fetchone()[0]


def test_overlapping_decisions_are_stored_together_each_with_its_own_row(site, batches):
    visitors = [Visitor() for _ in range(7)]
    with table_locked():
        first = queued_behind_a_blocked_write(visitors)
        time.sleep(0.2)
        assert all(v.is_alive() for v in [first, *visitors])  # none answered before its commit
    for visitor in [first, *visitors]:
        visitor.join(30)
        assert visitor.error is None
    assert batches == [7]  # the first was stored alone
    stored = {r.pk: r for r in ConsentRecord.objects.all()}
    assert len(stored) == 8
    for visitor in [first, *visitors]:
        record = visitor.record
        assert record is not None and not record._state.adding
        row = stored[record.pk]
        assert (row.consent_id, row.decision_id, row.categories, row.salt) == (
            record.consent_id,
            record.decision_id,
            record.categories,
            record.salt,
        )
    if connection.vendor == "postgresql":
        # The first alone, the seven queued behind it in one transaction.
        assert transactions_of([first.record.pk]) == 1
        assert transactions_of([v.record.pk for v in visitors]) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite keeps any length")
def test_a_row_the_database_refuses_fails_alone(site, batches):
    visitors = [Visitor(), Visitor(language="x" * 16), Visitor()]
    # records cuts the language to the column's 16 characters; the column is made
    # narrower for this test so that the database refuses one row of the batch.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE consent_consentrecord ALTER COLUMN language TYPE varchar(8)")
    try:
        with table_locked():
            first = queued_behind_a_blocked_write(visitors)
        for visitor in [first, *visitors]:
            visitor.join(30)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE consent_consentrecord ALTER COLUMN language TYPE varchar(16)"
            )
    assert batches == [3]  # tried together, then each alone
    # Answered 503, as the database's refusal of a record alone is.
    assert isinstance(visitors[1].error, OperationalError)
    assert isinstance(visitors[1].error.__cause__, DataError)
    assert visitors[1].record is None
    stored = set(ConsentRecord.objects.values_list("decision_id", flat=True))
    assert stored == {v.record.decision_id for v in (first, visitors[0], visitors[2])}


def test_a_request_queued_behind_a_stuck_write_gives_up_and_its_row_is_never_written(
    site, monkeypatch
):
    monkeypatch.setattr(groupcommit, "WAIT_SECONDS", 0.5)
    behind = Visitor()
    with table_locked():
        first = queued_behind_a_blocked_write([behind])
        behind.join(10)
        # Answered 503 by the POST (a database error), while the write ahead still waits.
        assert isinstance(behind.error, OperationalError)
        assert first.is_alive()
    first.join(30)
    assert first.error is None
    assert list(ConsentRecord.objects.values_list("pk", flat=True)) == [first.record.pk]
    assert groupcommit._queue == []


@override_settings(CONSENT_GROUP_COMMIT=False)
def test_switched_off_every_record_is_committed_alone(site):
    visitors = [Visitor() for _ in range(3)]
    with table_locked():
        first = Visitor()
        first.start()
        for visitor in visitors:
            visitor.start()
        time.sleep(0.2)
        assert groupcommit._queue == [] and not groupcommit._writing
    for visitor in [first, *visitors]:
        visitor.join(30)
        assert visitor.error is None
    ids = list(ConsentRecord.objects.values_list("pk", flat=True))
    assert len(ids) == 4
    if connection.vendor == "postgresql":
        assert transactions_of(ids) == 4


@pytest.mark.skipif(connection.vendor != "postgresql", reason="ends PostgreSQL's backends")
def test_a_batch_whose_connection_died_is_stored_on_a_new_one(site, batches):
    """After a database restart every kept-open connection is dead: the batch is tried
    once more on a new connection, not refused for each of its requests."""
    go = threading.Event()
    visitors = [Visitor(go=go) for _ in range(4)]
    for visitor in visitors:
        visitor.start()
    wait_for(lambda: all(v.backend for v in visitors))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid",
            [[v.backend for v in visitors]],
        )
    with table_locked():
        first = Visitor()
        first.start()
        wait_for(lambda: groupcommit._writing)
        go.set()
        wait_for(lambda: len(groupcommit._queue) == len(visitors))
    for visitor in [first, *visitors]:
        visitor.join(30)
        assert visitor.error is None
    assert batches == [4, 4]  # refused on the dead connection, stored on a new one
    assert ConsentRecord.objects.count() == 5
