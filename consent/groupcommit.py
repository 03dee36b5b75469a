"""Group commit: the consent records of overlapping requests stored in one transaction.

Each decision stored on its own costs an INSERT compiled by the ORM, a round trip and a
COMMIT. Here the requests of one process that arrive while a write is in flight queue up;
when it ends, one of them takes the whole queue and stores it with ``bulk_create`` in one
transaction. Every request returns only after the COMMIT that holds its row, so nothing
answered can be lost, and nobody waits for a timer: a lone request is stored at once with
``save()``, and batches form only when requests overlap (gunicorn's threaded workers).

A batch the database refuses for one of its rows is stored again row by row, so one bad
row never fails its neighbours; a batch that cannot reach the database fails as a whole,
as each of its rows would have alone. Inside a transaction (a test, a management command)
the record is saved on the caller's own connection, where that transaction can roll it
back: a batch is written on the connection of the request that takes it.

``bulk_create`` sends no ``pre_save``/``post_save``: nothing in the platform listens for a
record's, and a receiver added for them would miss the rows stored in batches.

CONSENT_GROUP_COMMIT=0 turns it off: every record is then ``save()``d on its own.
"""

import threading
import time

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    InterfaceError,
    OperationalError,
    connections,
)

from .models import ConsentRecord

MAX_BATCH = 500
# A request waits at most this long for another to store its row, then is answered 503:
# a write stuck on an unreachable database must not hold the requests queued behind it
# for ever. A row still queued is dropped; one already in the stuck write may yet be
# committed, and the banner's resend of the decision is then answered with it.
WAIT_SECONDS = 60.0


class _Ticket:
    __slots__ = ("done", "error", "record")

    def __init__(self, record: ConsentRecord) -> None:
        self.record = record
        self.done = False
        self.error: Exception | None = None


_turn = threading.Condition()
_queue: list[_Ticket] = []
_writing = False


def store(record: ConsentRecord) -> None:
    """Store ``record`` (not yet saved), returning once it is committed, with its id set,
    or raising the database's error."""
    if not settings.CONSENT_GROUP_COMMIT or connections[DEFAULT_DB_ALIAS].in_atomic_block:
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
            batch = _queue[:MAX_BATCH]
            del _queue[:MAX_BATCH]
            _turn.release()
            try:
                _write(batch)
            finally:
                _turn.acquire()
                _writing = False
                for taken in batch:
                    taken.done = True
                    if taken.error is None and taken.record._state.adding:
                        # Never answered as stored without its row (the write was cut
                        # short: a worker's timeout, an interrupt).
                        taken.error = OperationalError("consent record not stored")
                _turn.notify_all()
    if ticket.error is not None:
        raise ticket.error


def _write(batch: list[_Ticket]) -> None:
    """Store every record of ``batch``, noting on each ticket the error that kept its
    record out."""
    if len(batch) == 1:
        _save_alone(batch[0])
        return
    try:
        ConsentRecord.objects.bulk_create([ticket.record for ticket in batch])
    except (OperationalError, InterfaceError) as error:  # the database is out of reach
        for ticket in batch:
            ticket.error = error
    except DatabaseError:  # a row refused: the others must not fail with it
        for ticket in batch:
            ticket.record.pk = None
            _save_alone(ticket)
    except Exception as error:
        for ticket in batch:
            ticket.error = error


def _save_alone(ticket: _Ticket) -> None:
    try:
        ticket.record.save()
    except Exception as error:
        ticket.error = error
