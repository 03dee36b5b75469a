"""The transparency log in the database: sealing rows into it, signing its heads, and the
proofs a receipt or an auditor asks for.

Consent records and audit events are inserted freely; the sealer (``seal``, run every
few seconds by Celery beat, by ``manage.py seal_audit --follow`` in the embedded
default, and by erasure) appends the rows not yet in the log as leaves, in one
transaction under one lock: it writes the tiles that changed, each row's
``leaf_index``, and a head signed with the log's Ed25519 key. A head is published only
with the leaves it covers, and leaves only with a head.

The formats (leaf input, head, proofs) are in consent/transparency/FORMAT.md; the tree in
merkle.py and tiles.py; signing in heads.py.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q

from ..models import (
    AuditEvent,
    ConsentRecord,
    Logged,
    LogTile,
    SealedMonth,
    SealedRun,
    TreeHead,
)
from . import heads, merkle, tiles

log = logging.getLogger(__name__)

KINDS: dict[str, type[Logged]] = {"consent": ConsentRecord, "audit": AuditEvent}
BATCH = 5000
LOCK_ID = 27560  # PostgreSQL advisory lock of the sealer (and of erasure)


# --- Leaves ---------------------------------------------------------------------------


def json_value(value: Any) -> Any:
    """A value as the receipt shows it (DRF's representation): UUIDs as text, times in
    UTC with a Z."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def record_content(record: ConsentRecord) -> dict[str, Any]:
    """What a consent record's leaf holds besides kind and salt: every column, under the
    receipt's names where the receipt shows it. The site by its id: a site's key may be
    changed, the site may not."""
    return {
        "record_id": record.pk,
        "consent_id": json_value(record.consent_id),
        "decision_id": json_value(record.decision_id),
        "site_id": record.site_id,
        "created_at": json_value(record.created_at),
        "expires_at": json_value(record.expires_at),
        "categories": record.categories,
        "policy_version": record.policy_version,
        "texts_hash": record.texts_hash,
        "method": record.method,
        "gpc": record.gpc,
        "dnt": record.dnt,
        "language": record.language,
        "page_url": record.page_url,
        "ip_prefix": record.ip_prefix,
    } | {
        # Only when set: the leaves of records made before these columns stay as they were.
        name: value
        for name, value, unset in (
            ("region", record.region, ""),
            ("privacy_model", record.privacy_model, ""),
            ("signal_conflict", record.signal_conflict, False),
        )
        if value != unset
    }


def event_content(event: AuditEvent) -> dict[str, Any]:
    return {
        "event_id": event.pk,
        "created_at": json_value(event.created_at),
        "actor": event.actor,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_repr": event.object_repr,
        "site_key": event.site_key,
        "before": event.before,
        "after": event.after,
        "data": event.data,
    }


CONTENT = {"consent": record_content, "audit": event_content}


def leaf_input(kind: str, row: Logged) -> bytes:
    """The exact bytes logged for a row: canonical JSON of kind, salt and content."""
    if row.salt is None:
        raise ValueError(f"{kind} #{row.pk} is erased: its leaf input is gone")
    value = {"kind": kind, "salt": base64.b64encode(bytes(row.salt)).decode()}
    value |= CONTENT[kind](row)  # type: ignore[operator]
    # The JSON columns come back from the database already decoded; DjangoJSONEncoder
    # writes anything else they may hold as they were stored.
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder
    )
    return text.encode()


# --- Storage --------------------------------------------------------------------------


def read_tiles(keys: Sequence[tiles.TileKey]) -> dict[tiles.TileKey, bytes]:
    if not keys:
        return {}
    wanted = Q()
    for level, index in keys:
        wanted |= Q(level=level, index=index)
    return {
        (t.level, t.index): bytes(t.hashes)
        for t in LogTile.objects.filter(wanted).only("level", "index", "hashes")
    }


class CachedTiles:
    """Tiles read once per use: a receipt with many records, or a verification."""

    def __init__(self) -> None:
        self.tiles: dict[tiles.TileKey, bytes] = {}

    def __call__(self, keys: Sequence[tiles.TileKey]) -> Mapping[tiles.TileKey, bytes]:
        missing = [k for k in keys if k not in self.tiles]
        self.tiles |= read_tiles(missing)
        return {k: self.tiles[k] for k in keys if k in self.tiles}


def latest_head() -> TreeHead | None:
    return TreeHead.objects.order_by("-tree_size").first()


def signed(head: TreeHead) -> heads.SignedTreeHead:
    return heads.SignedTreeHead(
        tree_size=head.tree_size,
        root_hash=bytes(head.root_hash),
        timestamp=head.timestamp,
        signature=bytes(head.signature),
        key_id=head.key_id,
    )


# --- The key ----------------------------------------------------------------------------


@cache
def signing_key() -> heads.Ed25519PrivateKey:
    """The log's private key: CONSENT_LOG_KEY (the environment) or CONSENT_LOG_KEY_FILE.
    Never in the database."""
    return heads.load_private_key(path=settings.CONSENT_LOG_KEY_FILE, env_var="CONSENT_LOG_KEY")


@cache
def public_key() -> heads.Ed25519PublicKey:
    """The log's public key: CONSENT_LOG_PUBLIC_KEY (raw, base64) where the private key
    is kept away from this process (web servers need only the public half), else the
    private key's."""
    if settings.CONSENT_LOG_PUBLIC_KEY:
        return heads.public_key_from_base64(settings.CONSENT_LOG_PUBLIC_KEY)
    return signing_key().public_key()


def key_document() -> dict[str, str]:
    return heads.key_document(public_key(), settings.CONSENT_LOG_ORIGIN)


# --- Sealing ----------------------------------------------------------------------------


def lock() -> None:
    """Serialise sealers (and erasure) for the rest of the transaction. SQLite needs
    nothing more: its transactions here are IMMEDIATE, so only one writer is inside one."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_ID])


@dataclass
class Sealed:
    leaves: int
    head: heads.SignedTreeHead | None


def _unsealed(batch: int) -> list[tuple[str, Logged]]:
    """Up to ``batch`` rows not in the log yet: each kind in id order (the order of their
    INSERTs, never reordered, which is what lets verification tell a row slipped into a
    gap of the ids from a late commit), the two kinds interleaved by time."""
    per_kind = [
        [(kind, row) for row in _first_unsealed(model, batch)] for kind, model in KINDS.items()
    ]
    merged = heapq.merge(*per_kind, key=lambda item: item[1].created_at)
    return list(itertools.islice(merged, batch))


def _first_unsealed(model: type[Logged], batch: int) -> list[Logged]:
    """The ``batch`` unsealed rows of lowest id, read a window of ``batch`` ids at a time,
    each window starting at the lowest unsealed id not read yet.

    Never "every unsealed row, sorted, the first ``batch`` kept": after an outage the
    backlog is large, while the planner's statistics, taken when everything was sealed,
    expect about none, so PostgreSQL sorted the whole backlog (wide rows, on disk) for
    each batch: a backlog of B rows cost B^2 / BATCH rows read. A window holds at most
    ``batch`` ids, so whatever the plan a query reads at most ``batch`` rows, and the
    lowest unsealed id is one step down the partial index ``record_unsealed`` (of each
    partition). The windows skip only ids with nothing unsealed: the rows are those of
    the ``batch`` lowest unsealed ids, whatever the gaps (a row committed late, below ids
    already sealed, is found as before)."""
    unsealed = model.objects.filter(leaf_index=None).exclude(salt=None)
    found: list[Logged] = []
    low = None
    while len(found) < batch:
        after = unsealed if low is None else unsealed.filter(id__gte=low)
        start = after.order_by("id").values_list("id", flat=True).first()
        if start is None:
            break
        low = start + batch
        window = unsealed.filter(id__gte=start, id__lt=low).order_by("id")
        found += window[: batch - len(found)]
    return found


def _assign_leaf_indexes(kind: str, pairs: list[tuple[int, Logged]]) -> None:
    """Writes each (leaf index, row): the rows are those just read, in id order."""
    table = connection.ops.quote_name(KINDS[kind]._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement for the batch: a third of the sealer's time went to one
            # UPDATE per row. Each row is found by its primary key, (id, created_at) where
            # the table is partitioned; the bounds on both keep PostgreSQL to the month
            # partitions that can hold the rows and, whatever plan it picks (its
            # statistics may not know of the backlog), to the batch's span of ids, never
            # to every unsealed row.
            rows = [row for _, row in pairs]
            times = [row.created_at for row in rows]
            cursor.execute(
                f"UPDATE {table} AS row SET leaf_index = new.leaf_index "  # noqa: S608
                "FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[]) "
                "AS new(leaf_index, id, created_at) "
                "WHERE row.id = new.id AND row.created_at = new.created_at "
                "AND row.leaf_index IS NULL AND row.id BETWEEN %s AND %s "
                "AND row.created_at BETWEEN %s AND %s",
                [
                    [leaf for leaf, _ in pairs],
                    [row.pk for row in rows],
                    times,
                    rows[0].pk,
                    rows[-1].pk,
                    min(times),
                    max(times),
                ],
            )
        else:
            cursor.executemany(
                f"UPDATE {table} SET leaf_index = %s WHERE id = %s AND leaf_index IS NULL",  # noqa: S608
                [(leaf, row.pk) for leaf, row in pairs],
            )
        # Under the log's lock every row read is still unsealed: anything else is a second
        # writer, and the batch (tiles, head) is rolled back rather than signed.
        if cursor.rowcount != len(pairs):
            raise RuntimeError(f"sealing {kind}: {cursor.rowcount} of {len(pairs)} rows updated")


def seal(batch: int = BATCH) -> Sealed:
    """Append every row not in the log yet, ``batch`` rows per signed head."""
    total, head = 0, None
    while True:
        done = _seal_batch(batch)
        if done.head is not None:
            head = done.head
        total += done.leaves
        if done.leaves < batch:
            return Sealed(total, head)


def _seal_batch(batch: int) -> Sealed:
    key = signing_key()  # before anything is appended: no leaves without a head
    with transaction.atomic():
        lock()
        current = latest_head()
        size = current.tree_size if current else 0
        rows = _unsealed(batch)
        if not rows:
            return Sealed(0, None)
        leaves = [merkle.leaf_hash(leaf_input(kind, row)) for kind, row in rows]
        appended = tiles.append_tiles(size, leaves, read_tiles)
        LogTile.objects.bulk_create(
            [LogTile(level=k[0], index=k[1], hashes=v) for k, v in appended.tiles.items()],
            update_conflicts=True,
            unique_fields=["level", "index"],
            update_fields=["hashes"],
        )
        by_kind: dict[str, list[tuple[int, Logged]]] = {}
        for offset, (kind, row) in enumerate(rows):
            by_kind.setdefault(kind, []).append((size + offset, row))
        for kind, pairs in by_kind.items():
            _assign_leaf_indexes(kind, pairs)
        records = by_kind.get("consent", [])
        _count_months(records)  # type: ignore[arg-type]
        # The one reader of every new record: it also keeps the day's statistics live.
        from .. import stats

        stats.count_sealed([row for _, row in records])  # type: ignore[misc]
        timestamp = max(int(time.time() * 1000), current.timestamp + 1 if current else 0)
        head = heads.sign(
            heads.TreeHead(appended.tree_size, appended.root_hash, timestamp),
            settings.CONSENT_LOG_ORIGIN,
            key,
        )
        TreeHead.objects.create(
            tree_size=head.tree_size,
            root_hash=head.root_hash,
            timestamp=head.timestamp,
            signature=head.signature,
            key_id=head.key_id,
        )
        transaction.on_commit(lambda: publish(head))
    return Sealed(len(rows), head)


def month_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date().replace(day=1)


def runs_of(leaves: Iterable[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    return merged_runs((leaf, leaf) for leaf in sorted(leaves))


def merged_runs(runs: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Runs in order, each that carries on the one before joined to it:
    [(1, 2), (3, 3), (7, 9)] -> [(1, 3), (7, 9)]."""
    merged: list[tuple[int, int]] = []
    for first, last in runs:
        if merged and first == merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    return merged


def _count_months(sealed: list[tuple[int, ConsentRecord]]) -> None:
    """Adds the consent records just sealed, (leaf, record), to SealedMonth and SealedRun:
    a few rows per batch, so that the purge of a month reads a few rows per site and per
    run instead of the month's records."""
    if not sealed:
        return
    counts = Counter((month_of(row.created_at), row.site_id) for _, row in sealed)
    months = {month for month, _ in counts}
    before = {(m.month, m.site_id): m.records for m in SealedMonth.objects.filter(month__in=months)}
    SealedMonth.objects.bulk_create(
        [
            SealedMonth(month=month, site_id=site, records=before.get((month, site), 0) + n)
            for (month, site), n in counts.items()
        ],
        update_conflicts=True,
        unique_fields=["month", "site_id"],
        update_fields=["records"],
    )
    for month in months:
        runs = runs_of(leaf for leaf, row in sealed if month_of(row.created_at) == month)
        # Leaves only grow: the first run may carry on the month's last one.
        first, last = runs[0]
        if SealedRun.objects.filter(month=month, last_leaf=first - 1).update(last_leaf=last):
            runs = runs[1:]
        SealedRun.objects.bulk_create(
            [SealedRun(month=month, first_leaf=a, last_leaf=b) for a, b in runs]
        )


def sealed_in(months: Sequence[date]) -> tuple[dict[int, int], list[tuple[int, int]]]:
    """What the sealer says it appended of these months' consent records: records per
    site id, and the runs of their leaves (first, last), merged, in order."""
    counted: Counter[int] = Counter()
    for site, records in SealedMonth.objects.filter(month__in=months).values_list(
        "site_id", "records"
    ):
        counted[site] += records
    runs = merged_runs(
        SealedRun.objects.filter(month__in=months)
        .order_by("first_leaf")
        .values_list("first_leaf", "last_leaf")
    )
    return dict(counted), runs


def forget_months(months: Sequence[date]) -> None:
    """The months' records are gone (their partitions dropped): so is their summary."""
    SealedMonth.objects.filter(month__in=months).delete()
    SealedRun.objects.filter(month__in=months).delete()


def publish(head: heads.SignedTreeHead) -> None:
    """Hand a new head to the sinks the database's owner does not control
    (consent.transparency.anchors)."""
    from . import anchors

    anchors.publish(head)


def unsealed_count() -> int:
    return sum(
        model.objects.filter(leaf_index=None).exclude(salt=None).count() for model in KINDS.values()
    )


# --- Proofs -----------------------------------------------------------------------------


def inclusion(leaf_index: int, tree_size: int, read: tiles.TileReader = read_tiles) -> list[bytes]:
    return merkle.inclusion_proof(leaf_index, tree_size, tiles.tile_hash_reader(read))


def consistency(first: int, second: int, read: tiles.TileReader = read_tiles) -> list[bytes]:
    return merkle.consistency_proof(first, second, tiles.tile_hash_reader(read))


def b64(values: Iterable[bytes]) -> list[str]:
    return [base64.b64encode(v).decode() for v in values]


def record_proof(
    record: ConsentRecord, head: TreeHead | None, read: tiles.TileReader = read_tiles
) -> dict[str, Any] | None:
    """A record's ``proof`` in a receipt (FORMAT.md): None until a head holds it."""
    if head is None or record.leaf_index is None or record.leaf_index >= head.tree_size:
        return None
    if record.salt is None:  # erased: no content to prove
        return None
    data = leaf_input("consent", record)
    return {
        "leaf_index": record.leaf_index,
        "leaf_input": base64.b64encode(data).decode(),
        "leaf_hash": base64.b64encode(merkle.leaf_hash(data)).decode(),
        "audit_path": b64(inclusion(record.leaf_index, head.tree_size, read)),
        "head": signed(head).as_json(),
    }
