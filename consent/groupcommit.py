"""Group commit: the consent records of overlapping requests stored in one transaction.

Each decision stored on its own costs an INSERT compiled by the ORM, a round trip and a
COMMIT. Here the requests of one process that arrive while a write is in flight queue up;
when it ends, one of them takes the whole queue and stores it with ``bulk_create`` in one
transaction. Every request returns only after the COMMIT that holds its row, so nothing
answered can be lost, and nobody waits for a timer: a lone request is stored at once with
``save()``, and batches form only when requests overlap (gunicorn's threaded workers).

A batch the database refuses for one of its rows is stored again row by row, so one bad
row never fails its neighbours; a batch whose connection had died is tried once more on
a new one (nothing of it reached the table), and one that still cannot reach the
database fails as a whole, as each of its rows would have alone. Inside a transaction (a
test, a management command) the record is saved on the caller's own connection, where
that transaction can roll it back: a batch is written on the connection of the request
that takes it.

``bulk_create`` sends no ``pre_save``/``post_save``: nothing in the platform listens for a
record's, and a receiver added for them would miss the rows stored in batches.

CONSENT_GROUP_COMMIT=0 turns it off: every record is then ``save()``d on its own.
"""

import threading
import time

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, Error, InterfaceError, OperationalError, connections

from .models import ConsentRecord

MAX_BATCH = 500
# A request waits at most this long for another to store its row, then is answered 503:
# a write stuck on an unreachable database must not hold the requests queued behind it
# for ever. A row still queued is dropped; one already in the stuck write may yet be
# committed, and the banner's resend of the decision is then answered with it.
WAIT_SECONDS = 60.0


class _Ticket:
    __slots__ = ("done", "error", "record", "stored")

    def __init__(self, record: ConsentRecord) -> None:
        self.record = record
        self.done = False  # its write is over, one way or the other
        self.stored = False  # its row is committed
        self.error: BaseException | None = None


_turn = threading.Condition()
_queue: list[_Ticket] = []
_writing = False


def store(record: ConsentRecord) -> None:
    """Store ``record`` (not yet saved), returning once it is committed, with its id set,
    or raising the database's error."""
    db = connections[DEFAULT_DB_ALIAS]
    if (
        not settings.CONSENT_GROUP_COMMIT
        or db.in_atomic_block
        # SQLite before 3.35 gives bulk_create no ids back.
        or not db.features.can_return_rows_from_bulk_insert
    ):
        record.save()
        return
    global _writing
    ticket = _Ticket(record)
    deadline = time.monotonic() + WAIT_SECONDS
    with _turn:
        _queue.append(ticket)
        while not ticket.done:
            if _writing:
                _turn.wait(deadline - time.monotonic())
                if not ticket.done and time.monotonic() >= deadline:
                    if ticket in _queue:
                        _queue.remove(ticket)
                    raise OperationalError(
                        "consent record not stored in time: the write before it is stuck"
                    )
                continue
            _writing = True
            batch: list[_Ticket] = []
            try:
                batch = _queue[:MAX_BATCH]
                del _queue[:MAX_BATCH]
                _turn.release()
                try:
                    _write(batch)
                finally:
                    _turn.acquire()
            finally:
                _writing = False
                for taken in batch:
                    taken.done = True
                _turn.notify_all()
    if not ticket.stored:
        # Never answered as stored without its row, whatever cut the write short: the
        # database's refusal is a 503 (the banner sends the decision again), anything
        # else a 500. Each request raises its own error: the batch's is shared.
        if ticket.error is None or isinstance(ticket.error, Error):
            raise OperationalError("consent record not stored") from ticket.error
        raise RuntimeError("consent record not stored") from ticket.error


def _write(batch: list[_Ticket]) -> None:
    """Store every record of ``batch``, marking each ticket whose row is committed."""
    if len(batch) == 1:
        _save_alone(batch[0])
        return
    records = [ticket.record for ticket in batch]
    try:
        _insert(records)
    except (OperationalError, InterfaceError) as error:
        if not all(record._state.adding for record in records):
            # The INSERT was answered and the COMMIT was not: it may or may not have
            # happened, so nothing is written again (the banner's resends are matched
            # to what was).
            _failed(batch, error)
            return
        # Nothing reached the table: most often the connection had died while kept
        # open (CONN_MAX_AGE). Once more on a new one, or the whole batch is refused.
        connections[DEFAULT_DB_ALIAS].close()
        try:
            _insert(records)
        except Exception as again:  # each request of the batch is refused with it
            _failed(batch, again)
            return
    except Exception:  # a row refused: the others must not fail with it
        for ticket in batch:
            ticket.record.pk = None
            ticket.record._state.adding = True
            _save_alone(ticket)
        return
    for ticket in batch:
        ticket.stored = True


def _insert(records: list[ConsentRecord]) -> None:
    ConsentRecord.objects.bulk_create(records)


def _failed(batch: list[_Ticket], error: BaseException) -> None:
    for ticket in batch:
        ticket.error = error


def _save_alone(ticket: _Ticket) -> None:
    try:
        ticket.record.save()
    except Exception as error:  # raised again in the request it belongs to
        ticket.error = error
    else:
        ticket.stored = True
