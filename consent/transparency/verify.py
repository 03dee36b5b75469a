"""Verifying the transparency log: everything the database holds, checked by someone who
trusts none of it, and checked against heads kept elsewhere (``manage.py verify_audit``).

1. Heads: every stored head is signed by the log's key (from settings, never from the
   database), and their times rise with their sizes.
2. The tree: rebuilt from the leaf hashes (the level-0 tiles) read in order; every head's
   root and every stored upper-level tile must be what those leaves give ("tree").
3. Heads kept outside (``--expect-head SIZE:ROOT``, a file of heads as
   consent.transparency.anchors writes it): none is larger than today's log ("rollback"),
   each signed head is ours ("bad-signature") and still stored ("missing"), and today's
   tree extends each one, shown by a consistency proof from the stored tiles
   ("inconsistent").
4. Rows: every row in the log hashes to its leaf ("altered"); a row without a salt was
   erased and must hold nothing personal; every leaf has exactly one row ("missing" where
   its row was deleted); and no row was logged long after rows of its kind with higher
   ids ("inserted": a row slipped into an id gap).

Erasure keeps a row and its leaf and empties the row (crypto-shredding), so a leaf without
a row is tampering, with one exception: the retention purge of whole months on PostgreSQL
(consent.records.purge_partitions) drops their partitions. A leaf without a row is
accepted only where a sealed "purge" event that dropped partitions names it, the leaf was
first signed into a head before that event's cutoff, and the cutoff is at least
CONSENT_RETENTION_MIN_DAYS before the event: someone with SQL access who writes such an
event can remove only what the platform itself would purge by then, in plain sight in
the log.

Tiles, heads and rows are read in chunks of leaves, so memory stays bounded whatever the
log's size, in one snapshot of the database that does not hold up writers.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import itertools
import json
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q

from ..models import AuditEvent, LogTile, TreeHead
from ..records import SHREDDED
from . import heads, log, merkle, tiles
from .heads import Ed25519PublicKey, SignedTreeHead

PROBLEMS = ("altered", "missing", "inserted", "bad-signature", "rollback", "inconsistent", "tree")
# A row committed after rows with higher ids (its transaction was slow) is logged a little
# late, legitimately. One logged this long after a higher id of its kind was slipped in.
LATE_GRACE = timedelta(minutes=5)
CHUNK_TILES = 64  # level-0 tiles read at a time: 16,384 leaves, 512 KiB of hashes
NAMES = {"consent": "record", "audit": "event"}
# What erasure leaves of a row, per kind; a kind that is never erased is not here.
ERASED = {"consent": {name: value for name, value in SHREDDED.items() if name != "salt"}}


@dataclass(frozen=True)
class Finding:
    problem: str  # one of PROBLEMS
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.problem}: {self.where}: {self.detail}"


@dataclass
class Report:
    finding: Finding | None = None  # the first problem found; None: the log verifies
    leaves: int = 0  # the latest head's tree size
    rows: int = 0  # rows in the log checked against their leaves
    erased: int = 0  # of those, erased: the leaf kept, the content gone
    purged: int = 0  # leaves whose rows a retention purge dropped with their month
    unsealed: int = 0  # rows waiting for the sealer
    heads: int = 0  # stored heads checked
    latest: TreeHead | None = None


@dataclass(frozen=True)
class KeptHead:
    """A head kept outside the database: its size and root, and the signed head when
    there is one."""

    tree_size: int
    root_hash: bytes
    source: str
    signed: SignedTreeHead | None = None


class _Found(Exception):
    def __init__(self, finding: Finding) -> None:
        self.finding = finding


def _fail(problem: str, where: str, detail: str) -> NoReturn:
    raise _Found(Finding(problem, where, detail))


def parse_expected(text: str) -> tuple[int, bytes]:
    """``SIZE:ROOT``, the root in base64 (as heads are published) or in hex."""
    size, sep, root = text.strip().partition(":")
    if not sep or not size.isdigit():
        raise ValueError(f"expected SIZE:ROOT, not {text!r}")
    try:
        digest = bytes.fromhex(root) if len(root) == 64 else base64.b64decode(root, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"the root of {text!r} is neither base64 nor hex") from exc
    if len(digest) != merkle.HASH_SIZE:
        raise ValueError(f"a root hash is 32 bytes, not {len(digest)}: {text!r}")
    return int(size), digest


def read_heads_file(path: Path) -> list[KeptHead]:
    """The heads in a file of JSON lines (consent.transparency.anchors)."""
    kept = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            head = SignedTreeHead.from_json(json.loads(line))
        except ValueError as exc:
            raise ValueError(f"{path}, line {number}: {exc}") from exc
        kept.append(KeptHead(head.tree_size, head.root_hash, f"{path}, line {number}", head))
    return kept


def verify(
    expect: Sequence[tuple[int, bytes]] = (),
    heads_file: Path | None = None,
    public_key: Ed25519PublicKey | None = None,
) -> Report:
    """Checks the whole log; ``expect`` are (size, root) of heads kept outside the
    database, ``heads_file`` a file of them. The report names the first problem found."""
    kept = [KeptHead(size, root, f"expected head {size}") for size, root in expect]
    if heads_file is not None:
        kept += read_heads_file(heads_file)
    key = public_key or log.public_key()
    report = Report()
    with _snapshot():
        try:
            _verify(report, kept, key)
        except _Found as found:
            report.finding = found.finding
        report.unsealed = log.unsealed_count()
    return report


@contextmanager
def _snapshot() -> Iterator[None]:
    """One consistent view for the whole verification, so a seal committed meanwhile is
    seen whole or not at all: PostgreSQL's REPEATABLE READ; on SQLite a DEFERRED
    transaction (WAL gives it a snapshot; IMMEDIATE would lock every writer out). Inside
    a caller's transaction, that transaction is the view."""
    if connection.in_atomic_block:
        yield
        return
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        mode = connection.transaction_mode  # type: ignore[attr-defined]
        connection.transaction_mode = "DEFERRED"  # type: ignore[attr-defined]
        try:
            with transaction.atomic():
                connection.transaction_mode = mode  # type: ignore[attr-defined]
                yield
        finally:
            connection.transaction_mode = mode  # type: ignore[attr-defined]
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _verify(report: Report, kept: list[KeptHead], key: Ed25519PublicKey) -> None:
    report.latest = latest = log.latest_head()
    size = latest.tree_size if latest else 0
    report.leaves = size
    origin = settings.CONSENT_LOG_ORIGIN
    for head in kept:
        if head.signed is not None and not heads.verify(head.signed, origin, key):
            _fail("bad-signature", head.source, "this head was not signed by the log's key")
        if head.tree_size > size:
            _fail(
                "rollback",
                head.source,
                f"a head of {head.tree_size} leaves was published, the log now has {size}",
            )
    _check_tree(report, size, key, origin)
    _check_kept(kept, latest)
    _check_rows(report, size)


# --- Heads and tree ---------------------------------------------------------------------


def _stored_heads() -> Iterator[TreeHead]:
    """Every stored head, smallest first (a size below zero included: it fails its
    signature)."""
    heads_ = TreeHead.objects.order_by("tree_size")
    page = list(heads_[:1000])
    while page:
        yield from page
        page = (
            list(heads_.filter(tree_size__gt=page[-1].tree_size)[:1000])
            if len(page) == 1000
            else []
        )


def _level0_tiles() -> Iterator[tuple[int, bytes]]:
    start = 0
    while True:
        page = list(
            LogTile.objects.filter(level=0, index__gte=start)
            .order_by("index")
            .values_list("index", "hashes")[:CHUNK_TILES]
        )
        for index, data in page:
            yield index, bytes(data)
        if len(page) < CHUNK_TILES:
            return
        start = page[-1][0] + 1


def _stored_tile(level: int, index: int) -> bytes:
    data = LogTile.objects.filter(level=level, index=index).values_list("hashes", flat=True)
    found = data.first()
    return bytes(found) if found is not None else b""


class _HeadChecker:
    """Checks each stored head, in size order, when the rebuilt tree reaches its size."""

    def __init__(self, report: Report, key: Ed25519PublicKey, origin: str) -> None:
        self.report, self.key, self.origin = report, key, origin
        self.heads = _stored_heads()
        self.previous: TreeHead | None = None
        self.next: TreeHead | None = None
        self._advance()

    def _advance(self) -> None:
        head = self.next = next(self.heads, None)
        if head is None:
            return
        where = f"head {head.tree_size}"
        try:
            signed = log.signed(head)
        except ValueError as exc:  # no size, root or time that a head can have
            _fail("bad-signature", where, f"not a head that can be signed: {exc}")
        if not heads.verify(signed, self.origin, self.key):
            _fail("bad-signature", where, "its signature does not verify with the log's key")
        if self.previous is not None and head.timestamp <= self.previous.timestamp:
            _fail(
                "inconsistent",
                where,
                f"signed at {head.timestamp}, not after head {self.previous.tree_size} "
                f"({self.previous.timestamp}): the heads are not one history",
            )
        self.previous = head

    def reached(self, frontier: merkle.Frontier) -> None:
        while self.next is not None and self.next.tree_size == frontier.size:
            if bytes(self.next.root_hash) != frontier.root():
                _fail(
                    "tree",
                    f"head {self.next.tree_size}",
                    "its root is not the root of the stored leaves",
                )
            self.report.heads += 1
            self._advance()


def _check_tree(report: Report, size: int, key: Ed25519PublicKey, origin: str) -> None:
    frontier = merkle.Frontier()
    checker = _HeadChecker(report, key, origin)
    checker.reached(frontier)  # a head of the empty tree
    upper: dict[int, bytearray] = {}  # tile level -> its rightmost tile, rebuilt so far
    full = tiles.TILE_WIDTH * merkle.HASH_SIZE
    expected_index = 0
    for index, data in _level0_tiles():
        where = f"tile 0/{index}"
        if index != expected_index:
            _fail("tree", where, f"stored where tile 0/{expected_index} should come next")
        if frontier.size % tiles.TILE_WIDTH:
            _fail("tree", where, "follows a tile that is not full")
        if not data or len(data) > full or len(data) % merkle.HASH_SIZE:
            _fail("tree", where, f"holds {len(data)} bytes, not 1 to 256 hashes")
        expected_index += 1
        for offset in range(0, len(data), merkle.HASH_SIZE):
            for level, subtree, h in frontier.append(data[offset : offset + merkle.HASH_SIZE]):
                tile_level, below = divmod(level, tiles.TILE_HEIGHT)
                if below or not tile_level:
                    continue
                rebuilt = upper.setdefault(tile_level, bytearray())
                rebuilt.extend(h)
                if len(rebuilt) == full:
                    key_ = (tile_level, subtree >> tiles.TILE_HEIGHT)
                    if _stored_tile(*key_) != rebuilt:
                        _fail("tree", f"tile {key_[0]}/{key_[1]}", "differs from its leaves' tree")
                    rebuilt.clear()
            checker.reached(frontier)
    if frontier.size != size:
        _fail(
            "tree",
            "tiles",
            f"they hold {frontier.size} leaves where the latest signed head has {size}",
        )
    _check_tile_counts(size, upper)


def _check_tile_counts(size: int, upper: dict[int, bytearray]) -> None:
    """The rightmost tile of each upper level holds what was rebuilt, and no tile is
    stored that a tree of this size does not have."""
    expected, level, count = {}, 0, size
    while count:
        expected[level] = -(-count // tiles.TILE_WIDTH)
        if level:
            key = (level, count // tiles.TILE_WIDTH)
            rebuilt = bytes(upper.get(level, b""))
            if _stored_tile(*key) != rebuilt:
                _fail("tree", f"tile {level}/{key[1]}", "differs from its leaves' tree")
        level, count = level + 1, count // tiles.TILE_WIDTH
    stored = LogTile.objects.values("level").annotate(n=Count("id")).order_by("level")
    for row in stored:
        if row["n"] != expected.get(row["level"], 0):
            _fail(
                "tree",
                f"tiles of level {row['level']}",
                f"{row['n']} stored where a tree of {size} leaves has "
                f"{expected.get(row['level'], 0)}",
            )


def _check_kept(kept: list[KeptHead], latest: TreeHead | None) -> None:
    if latest is None:
        size, root = 0, merkle.EMPTY_ROOT
    else:
        size, root = latest.tree_size, bytes(latest.root_hash)
    read = log.CachedTiles()
    for head in kept:
        proof = log.consistency(head.tree_size, size, read)
        if not merkle.verify_consistency(head.tree_size, size, head.root_hash, root, proof):
            _fail(
                "inconsistent",
                head.source,
                f"today's log of {size} leaves does not extend this head: the log was rewritten",
            )
        if (
            head.signed is not None
            and not TreeHead.objects.filter(tree_size=head.tree_size).exists()
        ):
            _fail("missing", head.source, "this signed head was deleted from the database")


# --- Rows -------------------------------------------------------------------------------


class _Lateness:
    """Finds rows logged long after a row of the same kind with a higher id.

    Ids are taken at INSERT and the sealer logs each kind in id order, so a row comes
    after higher ids only when its transaction committed late: seconds. One logged more
    than LATE_GRACE after a head that already held a higher id was inserted later, into
    a gap of the ids."""

    def __init__(self) -> None:
        self.grace = int(LATE_GRACE.total_seconds() * 1000)
        self.recent: deque[tuple[int, dict[str, int]]] = deque()
        self.settled: dict[str, int] = {}  # per kind, the highest id in heads long before
        self.current: dict[str, int] = {}  # per kind, the highest id in the current head
        self.current_time: int | None = None

    def enter(self, head: TreeHead) -> None:
        """The following leaves first appear in ``head``."""
        if self.current_time is not None:
            self.recent.append((self.current_time, self.current))
        self.current, self.current_time = {}, head.timestamp
        while self.recent and self.recent[0][0] < head.timestamp - self.grace:
            _, highest = self.recent.popleft()
            for kind, row_id in highest.items():
                self.settled[kind] = max(self.settled.get(kind, 0), row_id)

    def higher_logged_before(self, kind: str, row_id: int) -> int | None:
        self.current[kind] = max(self.current.get(kind, 0), row_id)
        settled = self.settled.get(kind, 0)
        return settled if row_id < settled else None


def decode_ranges(text: object) -> Iterator[tuple[int, int]]:
    """(first, last) of each run that records.encode_ranges wrote ("1-3,7"); anything
    else in the text names nothing."""
    for part in filter(None, str(text).split(",")):
        low, _, high = part.partition("-")
        if low.isdigit() and (high or low).isdigit():
            yield int(low), int(high or low)


class _Erasures:
    """The leaves that erase and purge events say they shredded, each named by an event
    logged after it (or waiting for the sealer); an event with no salt is never sealed and
    excuses nothing (and is itself a finding). Held as sorted, merged ranges: a lookup
    costs a bisection, however many events there are."""

    def __init__(self) -> None:
        spans = []
        for data, event in (
            AuditEvent.objects.filter(action__in=("erase", "purge"))
            .exclude(salt=None)
            .values_list("data", "leaf_index")
        ):
            text = data.get("leaves", "") if isinstance(data, dict) else ""
            for low, high in decode_ranges(text):
                last = high if event is None else min(high, event - 1)
                if low <= last:
                    spans.append((low, last))
        self.lows: list[int] = []
        self.highs: list[int] = []
        for first, last in sorted(spans):
            if self.highs and first <= self.highs[-1] + 1:
                self.highs[-1] = max(self.highs[-1], last)
            else:
                self.lows.append(first)
                self.highs.append(last)

    def __contains__(self, leaf: int) -> bool:
        at = bisect.bisect_right(self.lows, leaf) - 1
        return at >= 0 and leaf <= self.highs[at]


class _Dropped:
    """The leaves whose rows a retention purge dropped with their month's partition:
    sorted, merged (first, last, cutoff in ms) spans from sealed "purge" events that
    name partitions and a cutoff at least CONSENT_RETENTION_MIN_DAYS before themselves."""

    def __init__(self) -> None:
        spans: list[tuple[int, int, int]] = []
        minimum = timedelta(days=settings.CONSENT_RETENTION_MIN_DAYS)
        for data, created_at in (
            AuditEvent.objects.filter(action="purge", data__has_key="partitions")
            .exclude(salt=None)
            .exclude(leaf_index=None)
            .values_list("data", "created_at")
        ):
            try:
                cutoff = datetime.fromisoformat(str(data.get("cutoff")))
            except ValueError:
                continue
            if cutoff.tzinfo is None or cutoff > created_at - minimum:
                continue
            at = int(cutoff.timestamp() * 1000)
            spans.extend((low, high, at) for low, high in decode_ranges(data.get("leaves", "")))
        spans.sort()
        self.spans = spans
        self.lows = [span[0] for span in spans]
        # reach[i]: the highest leaf any of spans[0..i] names, so that the look-back
        # below stops as soon as no earlier span can hold the leaf (spans of two purges
        # may overlap).
        self.reach = list(itertools.accumulate((span[1] for span in spans), max))

    def excuses(self, leaf: int, first_signed: int) -> bool:
        """``leaf``, first in a head signed at ``first_signed`` (ms), was dropped."""
        at = bisect.bisect_right(self.lows, leaf) - 1
        while at >= 0 and self.reach[at] >= leaf:
            _, high, cutoff = self.spans[at]
            if leaf <= high and first_signed < cutoff:
                return True
            at -= 1
        return False


def _check_rows(report: Report, size: int) -> None:
    erasures = _Erasures()
    dropped = _Dropped()
    lateness = _Lateness()
    # Per kind, the latest time of a row logged so far: rows are logged in the order of
    # their INSERTs, so one that claims a time long before rows logged ahead of it was
    # written later with a time in the past (backdated).
    newest: dict[str, tuple[datetime, int]] = {}
    head_pages = _stored_heads()
    head: TreeHead | None = None
    chunk = CHUNK_TILES * tiles.TILE_WIDTH
    for low in range(0, size, chunk):
        high = min(low + chunk, size)
        leaves = b"".join(
            bytes(data)
            for data in LogTile.objects.filter(
                level=0, index__gte=low // tiles.TILE_WIDTH, index__lt=-(-high // tiles.TILE_WIDTH)
            )
            .order_by("index")
            .values_list("hashes", flat=True)
        )
        owners: dict[int, list[tuple[str, log.Logged]]] = {}
        for kind, model in log.KINDS.items():
            for row in model.objects.filter(leaf_index__gte=low, leaf_index__lt=high):
                owners.setdefault(row.leaf_index, []).append((kind, row))
        for index in range(low, high):
            while head is None or head.tree_size <= index:
                head = next(head_pages)
                lateness.enter(head)
            found = owners.get(index)
            if not found and dropped.excuses(index, head.timestamp):
                report.purged += 1
                continue
            if not found:
                _fail(
                    "missing",
                    f"leaf {index}",
                    "no record or event holds it: its row was deleted",
                )
            if len(found) > 1:
                names = " and ".join(f"{NAMES[k]} #{r.pk}" for k, r in found)
                _fail("inserted", f"leaf {index}", f"claimed by {names}")
            kind, row = found[0]
            offset = (index - low) * merkle.HASH_SIZE  # low starts a tile
            _check_row(report, kind, row, leaves[offset : offset + merkle.HASH_SIZE])
            if row.salt is None and index not in erasures:
                _fail(
                    "altered",
                    f"{NAMES[kind]} #{row.pk} (leaf {index})",
                    "erased, but no erase or purge event logged after it names its leaf",
                )
            seen = newest.get(kind)
            if seen is not None and row.created_at < seen[0] - LATE_GRACE:
                _fail(
                    "inserted",
                    f"{NAMES[kind]} #{row.pk} (leaf {index})",
                    f"claims {row.created_at:%Y-%m-%d %H:%M:%S}, more than "
                    f"{LATE_GRACE.total_seconds() / 60:g} minutes before {NAMES[kind]} "
                    f"#{seen[1]} logged ahead of it: backdated",
                )
            if seen is None or row.created_at > seen[0]:
                newest[kind] = (row.created_at, row.pk)
            higher = lateness.higher_logged_before(kind, row.pk)
            if higher is not None:
                _fail(
                    "inserted",
                    f"{NAMES[kind]} #{row.pk} (leaf {index})",
                    f"first in head {head.tree_size} ({format_time(head.timestamp)}), more than "
                    f"{LATE_GRACE.total_seconds() / 60:g} minutes after a head holding "
                    f"{NAMES[kind]} #{higher}, a higher id: slipped into a gap of the ids",
                )
    for kind, model in log.KINDS.items():
        outside = model.objects.filter(Q(leaf_index__lt=0) | Q(leaf_index__gte=size))
        row = outside.order_by("leaf_index").first()
        if row is not None:
            _fail(
                "altered",
                f"{NAMES[kind]} #{row.pk}",
                f"claims leaf {row.leaf_index}, outside the log of {size} leaves",
            )
        stray = model.objects.filter(leaf_index=None, salt=None).order_by("id").first()
        if stray is not None:
            _fail(
                "inserted",
                f"{NAMES[kind]} #{stray.pk}",
                "neither in the log nor ever sealable (no salt): no sealer or erasure "
                "leaves such a row",
            )


def _check_row(report: Report, kind: str, row: log.Logged, leaf: bytes) -> None:
    where = f"{NAMES[kind]} #{row.pk} (leaf {row.leaf_index})"
    report.rows += 1
    if row.salt is None:
        shredded = ERASED.get(kind)
        if shredded is None:
            _fail("altered", where, f"its salt is gone, and no {NAMES[kind]} is ever erased")
        kept = sorted(name for name, value in shredded.items() if getattr(row, name) != value)
        if kept:
            _fail("altered", where, f"erased (no salt) yet it still holds {', '.join(kept)}")
        report.erased += 1
    elif merkle.leaf_hash(log.leaf_input(kind, row)) != leaf:
        _fail("altered", where, "its content does not hash to its leaf")


def format_time(milliseconds: int) -> str:
    moment = datetime.fromtimestamp(milliseconds / 1000, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
