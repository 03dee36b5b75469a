"""The tamper-evident hash chain over ConsentRecords and AuditEvents.

Writers never wait on each other: rows are inserted freely and a periodic task seals them
afterwards, appending one ChainLink per row. Each link hashes the previous link and the
row's digest, so altering a sealed row, removing one, or slipping one in among sealed rows
is found by ``verify``. Rows leave legitimately only through erasure and retention purge,
and both write an AuditEvent naming the removed ids, so the chain still verifies after
them.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from .models import AuditEvent, ChainLink, ConsentRecord

GENESIS = "0" * 64
KINDS = {ChainLink.Kind.RECORD: ConsentRecord, ChainLink.Kind.EVENT: AuditEvent}
REMOVAL_ACTIONS = ("erase", "purge")
BATCH = 2000
CHAIN_LOCK_ID = 27560
# Rows committed out of id order (a slow transaction) get this long to appear before a
# later seal; a row still unsealed below the sealed range after that counts as inserted.
LATE_COMMIT_GRACE = timedelta(minutes=5)


def encode_ranges(ids: list[int]) -> str:
    """[1, 2, 3, 7] -> "1-3,7": compact enough to name a million purged rows."""
    parts: list[str] = []
    ids = sorted(ids)
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        parts.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}")
        i = j + 1
    return ",".join(parts)


def decode_ranges(text: str) -> Iterator[tuple[int, int]]:
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        yield int(low), int(high or low)


def _tail() -> ChainLink | None:
    return ChainLink.objects.order_by("-seq").first()


def _lock_chain() -> None:
    """Serialise sealers for the rest of the transaction. SQLite needs nothing more: its
    transactions here are IMMEDIATE, so only one writer is ever inside one."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])


def seal(batch: int = BATCH) -> int:
    """Append a link for every row not yet sealed; returns how many were sealed.

    One sealer at a time (see ``_lock_chain``), so two workers never fork the chain.
    """
    sealed = 0
    for kind, model in KINDS.items():
        while True:
            with transaction.atomic():
                _lock_chain()
                tail = _tail()
                prev = tail.hash if tail else GENESIS
                last_id = (
                    ChainLink.objects.filter(kind=kind)
                    .order_by("-row_id")
                    .values_list("row_id", flat=True)
                    .first()
                    or 0
                )
                # Late commits: rows with ids below the sealed range that are not linked yet.
                window_start = max(0, last_id - 10 * batch)
                linked = set(
                    ChainLink.objects.filter(kind=kind, row_id__gt=window_start).values_list(
                        "row_id", flat=True
                    )
                )
                late_cutoff = timezone.now() - LATE_COMMIT_GRACE
                rows = [
                    row
                    for row in model.objects.filter(pk__gt=window_start).order_by("id")[
                        : batch + len(linked)
                    ]
                    # An old row below the sealed range is not a late commit but an
                    # intruder: leave it unsealed, for verify to name.
                    if row.id not in linked and (row.id > last_id or row.created_at >= late_cutoff)
                ][:batch]
                if not rows:
                    break
                links = []
                now = timezone.now()
                for row in rows:
                    digest = row.digest()
                    link_hash = ChainLink.link_hash(prev, kind, row.id, digest)
                    links.append(
                        ChainLink(
                            kind=kind,
                            row_id=row.id,
                            digest=digest,
                            prev_hash=prev,
                            hash=link_hash,
                            sealed_at=now,
                        )
                    )
                    prev = link_hash
                ChainLink.objects.bulk_create(links)
                sealed += len(links)
            if len(rows) < batch:
                break
    return sealed


@dataclass
class Finding:
    problem: str  # "altered", "removed", "inserted", "broken-chain"
    kind: str
    row_id: int | None
    detail: str

    def __str__(self) -> str:
        where = f"{self.kind} #{self.row_id}" if self.row_id is not None else self.kind
        return f"{self.problem}: {where}: {self.detail}"


def removed_ids() -> dict[str, list[tuple[int, int]]]:
    """Id ranges that erasure and purge events say left legitimately."""
    ranges: dict[str, list[tuple[int, int]]] = {kind: [] for kind in KINDS}
    for data in AuditEvent.objects.filter(action__in=REMOVAL_ACTIONS).values_list(
        "data", flat=True
    ):
        kind = data.get("kind", ChainLink.Kind.RECORD)
        ranges.setdefault(kind, []).extend(decode_ranges(data.get("removed_ids", "")))
    return ranges


def _covered(row_id: int, ranges: list[tuple[int, int]]) -> bool:
    return any(low <= row_id <= high for low, high in ranges)


def verify(batch: int = BATCH) -> tuple[int, Finding | None]:
    """Recompute the chain. Returns (links checked, first finding or None)."""
    removed = removed_ids()
    prev = GENESIS
    expected_seq = None
    checked = 0
    max_sealed = dict.fromkeys(KINDS, 0)
    last_seq = 0
    while True:
        links = list(ChainLink.objects.filter(seq__gt=last_seq).order_by("seq")[:batch])
        if not links:
            break
        rows = {
            kind: {
                r.id: r
                for r in model.objects.filter(pk__in=[lk.row_id for lk in links if lk.kind == kind])
            }
            for kind, model in KINDS.items()
        }
        for link in links:
            if expected_seq is not None and link.seq != expected_seq:
                return checked, Finding(
                    "broken-chain",
                    "link",
                    link.seq,
                    f"links {expected_seq}..{link.seq - 1} are missing",
                )
            if link.prev_hash != prev or link.hash != ChainLink.link_hash(
                prev, link.kind, link.row_id, link.digest
            ):
                return checked, Finding(
                    "broken-chain",
                    link.kind,
                    link.row_id,
                    f"link {link.seq} does not follow from the one before",
                )
            row = rows[link.kind].get(link.row_id)
            if row is None:
                if not _covered(link.row_id, removed.get(link.kind, [])):
                    return checked, Finding(
                        "removed",
                        link.kind,
                        link.row_id,
                        "a sealed row is gone and no erasure or purge names it",
                    )
            elif row.digest() != link.digest:
                return checked, Finding(
                    "altered", link.kind, link.row_id, "the row differs from what was sealed"
                )
            max_sealed[link.kind] = max(max_sealed[link.kind], link.row_id)
            prev = link.hash
            expected_seq = link.seq + 1
            last_seq = link.seq
            checked += 1

    # A row below the sealed range that has no link was slipped in after sealing.
    cutoff = timezone.now() - LATE_COMMIT_GRACE
    for kind, model in KINDS.items():
        linked = ChainLink.objects.filter(kind=kind).values("row_id")
        intruder = (
            model.objects.filter(pk__lt=max_sealed[kind])
            .exclude(pk__in=linked)
            .filter(created_at__lt=cutoff)
            .order_by("id")
            .first()
        )
        if intruder is None:
            # Even a forged created_at cannot hide a row far below the sealed range.
            intruder = (
                model.objects.filter(pk__lt=max_sealed[kind] - 10 * batch)
                .exclude(pk__in=linked)
                .order_by("id")
                .first()
            )
        if intruder is not None:
            return checked, Finding(
                "inserted", kind, intruder.id, "a row among sealed rows was never sealed"
            )
    return checked, None


def unsealed_count() -> int:
    return sum(
        model.objects.exclude(pk__in=ChainLink.objects.filter(kind=kind).values("row_id")).count()
        for kind, model in KINDS.items()
    )
