"""Group commit: the consent records of concurrent requests stored in one transaction.

One durable write per request costs a round trip and a commit (a WAL flush) each; under
load that, not Python, is what limits the consent POST. Here the requests of one process
that arrive while a commit is in flight wait together; the next of them takes the whole
queue and stores it with one INSERT in one transaction. Every request is answered only
after the COMMIT that holds its row, so nothing acknowledged can be lost. Nobody waits
for a timer: a lone request is stored at once, and batches form only when requests
overlap (gunicorn's ``gthread`` workers, ``runserver``'s threads).

The leader stores the batch on its own thread's database connection. A batch the
database refuses (most often a resent decision hitting the unique (consent_id,
decision_id) constraint) is stored again row by row, so one row never fails its
neighbours.
"""

import functools
import json
import threading
import uuid
from collections.abc import Callable
from datetime import datetime

from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    DataError,
    Error,
    IntegrityError,
    connection,
    connections,
)
from django.db.models import JSONField

from .models import ConsentRecord

try:
    from psycopg.types.json import Jsonb
except ImportError:  # SQLite only: psycopg is not needed
    Jsonb = None

MAX_BATCH = 500
# A request still queued after this long stores its row itself: a leader stuck on a
# database that does not answer must not hold the others (the database's own timeouts,
# see config/settings.py, bound how long the leader itself can wait).
WAIT_SECONDS = 10.0


@functools.cache
def _fields() -> list:
    return [f for f in ConsentRecord._meta.concrete_fields if not f.primary_key]


@functools.cache
def batch_size() -> int:
    """As many rows as one INSERT statement may carry here (SQLite allows 999
    parameters), at most MAX_BATCH."""
    return max(1, min(MAX_BATCH, connection.ops.bulk_batch_size(_fields(), range(MAX_BATCH))))


def insert(rows: list[ConsentRecord]) -> None:
    """Store the rows with one INSERT ... RETURNING id. In autocommit a single statement
    is its own transaction: all are stored or none, in one round trip (bulk_create would
    add BEGIN and COMMIT). The rows come back with their ids, as from save()."""
    # This thread's connection, looked up once: every use of django.db.connection is a
    # lookup of its own, and the fields' value preparation makes dozens per row.
    db = connections[DEFAULT_DB_ALIAS]
    for row in rows:
        row._prepare_related_fields_for_save(operation_name="bulk_create")
    if db.vendor == "postgresql" and len(rows) > 1:
        ids = _execute_bound(db, _statement_postgresql(), [_rows_as_json(rows)])
    elif db.vendor == "postgresql":
        ids = _execute_bound(db, _statement_values(1), _values_postgresql(rows[0]))
    else:
        with db.cursor() as cursor:
            cursor.execute(_statement_values(len(rows)), _values(db, rows))
            ids = [pk for (pk,) in cursor.fetchall()]
    if len(ids) != len(rows):  # cannot happen; not a DatabaseError: nothing to retry
        raise RuntimeError(f"INSERT returned {len(ids)} ids for {len(rows)} rows")
    # The sequence hands out ids in the order the rows are inserted, which is theirs.
    for row, pk in zip(rows, sorted(ids), strict=True):
        row.pk = pk
        row._state.adding = False
        row._state.db = db.alias


def _table_and_columns() -> tuple[str, str]:
    quote = connection.ops.quote_name
    return quote(ConsentRecord._meta.db_table), ", ".join(quote(f.column) for f in _fields())


@functools.cache
def _statement_postgresql() -> str:
    """PostgreSQL, a batch: every row in one jsonb parameter, unpacked in the order
    given. Having each field adapt each value, as the ORM does, costs about twice the CPU
    in a batch of 16 (measured: 0.17 against 0.09 ms a row here, PostgreSQL alike); for
    a single row the plain VALUES statement is cheaper for PostgreSQL. Column types come
    from the model; text columns are read as text so that the INSERT refuses an
    over-long value as the ORM's would."""
    quote = connection.ops.quote_name
    table, columns = _table_and_columns()
    types = ", ".join(f"{quote(f.column)} {_recordset_type(f)}" for f in _fields())
    return (
        f"INSERT INTO {table} ({columns}) SELECT {columns} "  # noqa: S608 (no input in it)
        f"FROM ROWS FROM (jsonb_to_recordset(%s::jsonb) AS ({types})) "
        f"WITH ORDINALITY AS r({columns}, _n) ORDER BY _n "
        f"RETURNING {quote(ConsentRecord._meta.pk.column)}"
    )


def _execute_bound(db, sql: str, params: list) -> list[int]:
    """PostgreSQL, with the parameters bound on the server, not quoted into the text as
    Django's own cursors do: PostgreSQL then prepares the statement once per connection
    (DB_PREPARE_THRESHOLD) instead of parsing and planning it for every decision. The
    cursor is Django's server-binding one in Django's wrapper, so errors, query logging
    and execute_wrapper hooks (tracing, assertNumQueries) see it like any other."""
    from django.db.backends.postgresql.base import ServerBindingCursor

    db.ensure_connection()
    with db.wrap_database_errors:
        cursor = db._prepare_cursor(ServerBindingCursor(db.connection))
    with cursor:
        cursor.execute(sql, params)
        return [pk for (pk,) in cursor.fetchall()]


def _recordset_type(field) -> str:
    db_type = field.db_type(connection)
    return "text" if db_type.startswith("varchar") else db_type


def _rows_as_json(rows: list[ConsentRecord]) -> str:
    fields = _fields()
    return json.dumps(
        [{f.column: _json_value(f.pre_save(row, True)) for f in fields} for row in rows],
        separators=(",", ":"),
    )


def _json_value(value):
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@functools.cache
def _statement_values(rows: int) -> str:
    """INSERT ... VALUES with each value adapted by its field, as Django's compiler
    writes it; built once per row count."""
    table, columns = _table_and_columns()
    row = "(" + ", ".join(["%s"] * len(_fields())) + ")"
    returning, _ = connection.ops.return_insert_columns([ConsentRecord._meta.pk])
    return f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * rows)} {returning}"  # noqa: S608


def _values_postgresql(row: ConsentRecord) -> list:
    """One row's values as psycopg adapts them itself (UUID, datetime, int, bool, str);
    JSON columns wrapped as Jsonb, as Django's JSONField does for PostgreSQL. What each
    field's get_db_prep_save would give, at a fifth of the cost (the tests compare the
    stored rows with the ORM's)."""
    return [
        Jsonb(value) if is_json else value
        for value, is_json in zip(
            (f.pre_save(row, True) for f in _fields()), _json_columns(), strict=True
        )
    ]


@functools.cache
def _json_columns() -> tuple[bool, ...]:
    for f in _fields():
        if isinstance(f, JSONField) and f.encoder is not None:
            raise TypeError(f"{f.name}: an encoder needs get_db_prep_save")
    return tuple(isinstance(f, JSONField) for f in _fields())


def _values(db, rows: list[ConsentRecord]) -> list:
    fields = _fields()
    return [f.get_db_prep_save(f.pre_save(row, True), db) for row in rows for f in fields]


class _Pending:
    __slots__ = ("error", "event", "lead", "record", "result")

    def __init__(self, record: ConsentRecord):
        self.record = record
        self.event = threading.Event()
        self.lead = False
        self.result: ConsentRecord | None = None
        self.error: BaseException | None = None


class GroupCommit:
    def __init__(self, store_one: Callable[[ConsentRecord], ConsentRecord]):
        # store_one stores a single record in its own transaction and returns the
        # stored record, or the existing one (``replayed``) for a resent decision.
        self._store_one = store_one
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._leading = False
        self.batches = 0  # counters for tests and benchmarks
        self.rows = 0

    def store(self, record: ConsentRecord) -> ConsentRecord:
        pending = _Pending(record)
        with self._lock:
            self._queue.append(pending)
            pending.lead = not self._leading
            self._leading = True
        if not pending.lead and not pending.event.wait(WAIT_SECONDS):
            with self._lock:
                alone = not pending.lead and pending in self._queue
                if alone:
                    self._queue.remove(pending)
            if alone:
                # The leader is stuck (a database that does not answer it): store this
                # one on this thread's own connection rather than keep waiting.
                return self._store_one(record)
            if not pending.lead:
                # In a batch being stored: its outcome, whatever it is. Answering before
                # it would say 503 for a row that may yet be stored.
                pending.event.wait()
        if pending.lead:
            self._lead()
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _lead(self) -> None:
        size = batch_size()
        with self._lock:
            batch, self._queue = self._queue[:size], self._queue[size:]
        try:
            self._commit(batch)
        finally:
            with self._lock:
                if self._queue:
                    # Whoever came while this batch was stored takes the next one.
                    successor = self._queue[0]
                    successor.lead = True
                    successor.event.set()
                else:
                    self._leading = False
            for pending in batch:
                if pending.result is None and pending.error is None:
                    pending.error = DatabaseError("The group commit did not finish.")
                pending.event.set()

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            insert([p.record for p in batch])
        except (IntegrityError, DataError):
            # A resent decision, or one row the database refuses, must not fail its
            # neighbours: each is stored (or refused) on its own.
            self._commit_each(batch)
            return
        except Error as exc:
            # The database is away or timed out: every row of the batch fails alike
            # (503, the banner sends them again), without trying each on its own.
            for pending in batch:
                pending.error = exc
            return
        self.batches += 1
        self.rows += len(batch)
        for pending in batch:
            pending.record.replayed = False
            pending.result = pending.record

    def _commit_each(self, batch: list[_Pending]) -> None:
        for pending in batch:
            record = pending.record
            record.pk = None  # the failed INSERT left nothing behind, but be sure
            record._state.adding = True
            try:
                pending.result = self._store_one(record)
            except Exception as exc:  # this row's failure is this row's answer alone
                pending.error = exc
