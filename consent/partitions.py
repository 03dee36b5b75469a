"""Monthly partitions of consent records on PostgreSQL, managed by pg_partman.

A site that keeps years of decisions must not pay for them on every page of the console,
and its retention purge must not rewrite a month of rows: on PostgreSQL the records table
is partitioned by ``created_at``, one partition per month, and a month past every site's
retention leaves as one ``DROP TABLE``. pg_partman makes the months ahead (``premake``)
and lists them; this module is the only place that talks to it, and to the partitions.

- Migration 0011 calls ``partition()`` (and ``unpartition()`` backwards) when the server
  has the pg_partman extension; without it the table stays one table and the system check
  ``consent.W010`` says so. SQLite, the embedded default, is never partitioned.
- ``maintain()`` (Celery beat, hourly) makes the partitions of the months ahead.
- ``expired(cutoff)`` lists the partitions wholly before a moment; ``detach(those)``
  takes them out of the table into the schema ``PURGED`` (consent.records.purge_partitions
  logs the purge event in the same transaction), and ``drop_detached()`` then drops them,
  in transactions of their own: the records table is locked only while the months are
  detached, never while their files are deleted.

Nothing else changes for the code: Django sees one table whose primary key is ``id``
(PostgreSQL's is ``(id, created_at)``, as a partitioned table requires).
"""

# Every identifier in this module's SQL is one of its constants or read from the catalogue;
# every value is a parameter.
# ruff: noqa: S608

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import OperationalError, transaction
from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "consent_consentrecord"
SCHEMA = "partman"  # where pg_partman's functions and configuration live
INTERVAL = "monthly"
PREMAKE = 4  # months made ahead of today; maintenance runs hourly
PURGED = "consent_purged"  # where the purge leaves the months it detached, until dropped
# The longest a purge waits for the records table. A detach needs it to itself, and while
# it waits behind a long reader (an export, say) every decision's INSERT waits behind it:
# it gives up instead (TableBusy), and the next run tries again.
LOCK_TIMEOUT = "1s"


class TableBusy(Exception):
    """The records table was not free for a detach within LOCK_TIMEOUT."""


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime
    end: datetime


def _parent(cursor) -> str:
    cursor.execute("SELECT current_schema()")
    return f"{cursor.fetchone()[0]}.{TABLE}"


def available(connection: BaseDatabaseWrapper = default_connection) -> bool:
    """The server can partition: PostgreSQL with the pg_partman extension installed."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_partman'")
        return cursor.fetchone() is not None


def is_partitioned(connection: BaseDatabaseWrapper = default_connection) -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relkind = 'p' FROM pg_class c WHERE c.oid = to_regclass(%s)", [TABLE]
        )
        row = cursor.fetchone()
        return bool(row and row[0])


def _index_definitions(cursor, table: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of every index of ``table`` but its primary key,
    written for the table ``TABLE``."""
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = to_regclass(%s) AND NOT x.indisprimary ORDER BY i.relname",
        [table],
    )
    found = []
    for name, definition in cursor.fetchall():
        head, _, tail = definition.partition(" ON ")
        tail = tail.removeprefix("ONLY ")
        relation, _, rest = tail.partition(" USING ")
        found.append((name, f"{head} ON {relation.rsplit('.', 1)[0]}.{TABLE} USING {rest}"))
    return found


def _move_aside(cursor, table: str, aside: str) -> list[tuple[str, str]]:
    """Renames ``table`` (its indexes, primary key and id sequence too, so that their
    names are free) and returns its index definitions for the new table."""
    definitions = _index_definitions(cursor, table)
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    sequence = cursor.fetchone()[0]
    cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{aside}"')
    cursor.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(%s) AND contype = 'p'",
        [aside],
    )
    for (constraint,) in cursor.fetchall():
        cursor.execute(f'ALTER TABLE "{aside}" RENAME CONSTRAINT "{constraint}" TO "{aside}_pkey"')
    for number, (name, _) in enumerate(definitions):
        cursor.execute(f'ALTER INDEX "{name}" RENAME TO "{aside}_{number}"')
    if sequence:
        cursor.execute(f'ALTER SEQUENCE {sequence} RENAME TO "{aside}_id_seq"')
    return definitions


def _new_table(cursor, like: str, partitioned: bool) -> None:
    """``TABLE`` with the columns, defaults and checks of ``like``, its ids from a
    sequence of its own that carries on where the old one stopped."""
    suffix = " PARTITION BY RANGE (created_at)" if partitioned else ""
    cursor.execute(
        f'CREATE TABLE "{TABLE}" (LIKE "{like}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
        f"INCLUDING STORAGE INCLUDING COMMENTS){suffix}"
    )
    cursor.execute(f'CREATE SEQUENCE "{TABLE}_id_seq" OWNED BY "{TABLE}".id')
    cursor.execute(f"ALTER TABLE \"{TABLE}\" ALTER COLUMN id SET DEFAULT nextval('{TABLE}_id_seq')")
    key = "id, created_at" if partitioned else "id"
    cursor.execute(f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{TABLE}_pkey" PRIMARY KEY ({key})')


def _copy_from(cursor, old: str) -> None:
    cursor.execute(f'INSERT INTO "{TABLE}" SELECT * FROM "{old}"')
    cursor.execute(
        f"SELECT setval('{TABLE}_id_seq', GREATEST((SELECT max(id) FROM \"{old}\"), "
        f'(SELECT last_value FROM "{old}_id_seq"), 1))'
    )
    cursor.execute(f'DROP TABLE "{old}"')


def partition(connection: BaseDatabaseWrapper = default_connection) -> bool:
    """Turns the records table into a table partitioned by month, rows and all. False
    (and nothing done) where pg_partman is not installed or it already is."""
    if not available(connection) or is_partitioned(connection):
        return False
    old = f"{TABLE}_unpartitioned"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        cursor.execute(f"CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA {SCHEMA}")
        parent = _parent(cursor)
        definitions = _move_aside(cursor, TABLE, old)
        _new_table(cursor, old, partitioned=True)
        for _, statement in definitions:
            cursor.execute(statement)
        cursor.execute(
            f"SELECT to_char(date_trunc('month', coalesce(min(created_at), now())), "
            f"'YYYY-MM-DD') FROM \"{old}\""
        )
        start = cursor.fetchone()[0]
        cursor.execute(
            f"SELECT {SCHEMA}.create_parent(p_parent_table := %s, p_control := 'created_at', "
            f"p_type := 'native', p_interval := %s, p_premake := %s, "
            f"p_start_partition := %s)",
            [parent, INTERVAL, PREMAKE, start],
        )
        # Months with no decision still get their partition (a quiet site would otherwise
        # stop getting new ones and write into the default partition).
        cursor.execute(
            f"UPDATE {SCHEMA}.part_config SET infinite_time_partitions = true "
            "WHERE parent_table = %s",
            [parent],
        )
        _copy_from(cursor, old)
    return True


def unpartition(connection: BaseDatabaseWrapper = default_connection) -> bool:
    """The reverse of ``partition()``: one plain table again, rows and all."""
    if not is_partitioned(connection):
        return False
    tmp = f"{TABLE}_partitioned"
    with connection.cursor() as cursor:
        parent = _parent(cursor)
        definitions = _move_aside(cursor, TABLE, tmp)
        _new_table(cursor, tmp, partitioned=False)
        cursor.execute(f'INSERT INTO "{TABLE}" SELECT * FROM "{tmp}"')
        cursor.execute(
            f"SELECT setval('{TABLE}_id_seq', GREATEST((SELECT max(id) FROM \"{tmp}\"), "
            f'(SELECT last_value FROM "{tmp}_id_seq"), 1))'
        )
        cursor.execute(
            f"SELECT template_table FROM {SCHEMA}.part_config WHERE parent_table = %s", [parent]
        )
        templates = [row[0] for row in cursor.fetchall() if row[0]]
        cursor.execute(f"DELETE FROM {SCHEMA}.part_config WHERE parent_table = %s", [parent])
        cursor.execute(f'DROP TABLE "{tmp}" CASCADE')
        for template in templates:
            cursor.execute(f"DROP TABLE IF EXISTS {template}")
        for _, statement in definitions:
            cursor.execute(statement)
    return True


def maintain(connection: BaseDatabaseWrapper = default_connection) -> int:
    """pg_partman's maintenance: makes the partitions of the months ahead, and moves rows
    that landed in the default partition (a clock far off, a month maintenance missed)
    into partitions of their own. Returns how many rows it moved."""
    if not is_partitioned(connection):
        return 0
    with connection.cursor() as cursor:
        parent = _parent(cursor)
        cursor.execute(
            f"SELECT {SCHEMA}.run_maintenance(p_parent_table := %s, p_analyze := false)",
            [parent],
        )
        cursor.execute(f'SELECT EXISTS (SELECT 1 FROM "{TABLE}_default")')
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute(
            f"SELECT {SCHEMA}.partition_data_time(p_parent_table := %s, "
            "p_batch_count := 1000, p_analyze := false)",
            [parent],
        )
        return cursor.fetchone()[0] or 0


def cover(
    start: datetime, end: datetime, connection: BaseDatabaseWrapper = default_connection
) -> None:
    """Makes the partitions of every month from ``start`` to ``end`` (for loading old
    records: without them they would land in the default partition)."""
    if not is_partitioned(connection):
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {SCHEMA}.create_partition_time(%s, ARRAY(SELECT generate_series("
            "date_trunc('month', %s::timestamptz), %s::timestamptz, interval '1 month')))",
            [_parent(cursor), start, end],
        )


def partitions(connection: BaseDatabaseWrapper = default_connection) -> list[Partition]:
    """The monthly partitions, oldest first (not the default partition)."""
    if not is_partitioned(connection):
        return []
    with connection.cursor() as cursor:
        parent = _parent(cursor)
        cursor.execute(
            f"SELECT p.partition_tablename, i.child_start_time, i.child_end_time "
            f"FROM {SCHEMA}.show_partitions(%s, 'ASC') p, LATERAL {SCHEMA}.show_partition_info("
            f"p.partition_schemaname || '.' || p.partition_tablename, p_parent_table := %s) i",
            [parent, parent],
        )
        return [Partition(name, start, end) for name, start, end in cursor.fetchall()]


def expired(
    cutoff: datetime, connection: BaseDatabaseWrapper = default_connection
) -> list[Partition]:
    """The partitions that hold nothing from ``cutoff`` on."""
    return [p for p in partitions(connection) if p.end < cutoff]


def months(chosen: list[Partition]) -> list[date] | None:
    """The months (first days, UTC) that ``chosen`` partitions hold, where each holds
    whole months of UTC; else None."""
    found = []
    for partition in chosen:
        start, end = (moment.astimezone(UTC) for moment in (partition.start, partition.end))
        if start != _month_start(start) or end != _month_start(end):
            return None
        while start < end:
            found.append(start.date())
            start = _month_start(start.replace(day=28) + timedelta(days=4))
    return found


def _month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def unsealed(chosen: list[Partition], connection: BaseDatabaseWrapper = default_connection) -> bool:
    """Any row of ``chosen`` partitions is not in the log yet: one probe each of the index
    of unsealed rows."""
    with connection.cursor() as cursor:
        for partition in chosen:
            cursor.execute(
                f'SELECT EXISTS (SELECT 1 FROM "{partition.name}" WHERE leaf_index IS NULL)'
            )
            if cursor.fetchone()[0]:
                return True
    return False


def leaf_bounds(
    chosen: list[Partition], connection: BaseDatabaseWrapper = default_connection
) -> tuple[int, int] | None:
    """The first and last leaf of the rows of ``chosen`` partitions (None: no row in the
    log): two probes each of the leaf index."""
    found: list[tuple[int, int]] = []
    with connection.cursor() as cursor:
        for partition in chosen:
            cursor.execute(f'SELECT min(leaf_index), max(leaf_index) FROM "{partition.name}"')
            first, last = cursor.fetchone()
            if first is not None:
                found.append((first, last))
    return (min(f for f, _ in found), max(last for _, last in found)) if found else None


def contents(
    chosen: list[Partition], connection: BaseDatabaseWrapper = default_connection
) -> tuple[dict[int, int], list[tuple[int, int]]]:
    """What ``chosen`` partitions hold in the log, read from their rows: records per site
    id, and the runs of consecutive leaves (first, last) of their records. A scan of every
    row: consent.records.purge_partitions reads the sealer's summary instead where it can."""
    rows = " UNION ALL ".join(
        f'SELECT site_id, leaf_index FROM "{p.name}" WHERE leaf_index IS NOT NULL' for p in chosen
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT site_id, count(*) FROM ({rows}) r GROUP BY 1")
        counted = dict(cursor.fetchall())
        cursor.execute(
            "SELECT min(leaf_index), max(leaf_index) FROM (SELECT leaf_index, "
            "leaf_index - row_number() OVER (ORDER BY leaf_index) AS run "
            f"FROM ({rows}) r) runs GROUP BY run ORDER BY 1"
        )
        return counted, cursor.fetchall()


def detach(chosen: list[Partition], connection: BaseDatabaseWrapper = default_connection) -> None:
    """Takes ``chosen`` partitions out of the records table into the schema PURGED, in the
    caller's transaction: a change of the catalogue, whatever the months hold, which
    locks the records table until that transaction ends. (pg_partman's
    drop_partition_time would do the same, and then look at every other partition with
    the table still locked.)"""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {PURGED}")
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        for partition in chosen:
            try:
                cursor.execute(f'ALTER TABLE "{TABLE}" DETACH PARTITION "{partition.name}"')
            except OperationalError as exc:
                if getattr(exc.__cause__, "sqlstate", None) == "55P03":  # lock_not_available
                    raise TableBusy(str(exc)) from exc
                raise
            cursor.execute(f'ALTER TABLE "{partition.name}" SET SCHEMA {PURGED}')


def drop_detached(connection: BaseDatabaseWrapper = default_connection) -> list[str]:
    """Drops the months ``detach`` left in the schema PURGED (an earlier purge's too, had
    it stopped in between), each in a transaction of its own where none is open: deleting
    a month's files takes time that grows with the month, and locks nothing but the month.
    Returns their names."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", [PURGED])
        names = [name for (name,) in cursor.fetchall()]
    for name in names:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(f'DROP TABLE IF EXISTS {PURGED}."{name}"')
    return names
