"""The log's Merkle tree, exactly as RFC 9162 section 2.1 defines it.

Leaves and interior nodes are hashed apart, so a leaf can never pass for a node:
``leaf = SHA-256(0x00 || leaf input)``, ``node = SHA-256(0x01 || left || right)``. The tree
over n leaves splits at the largest power of two below n, so every earlier size of the log
is a tree of its own, tied to each later one by a consistency proof.

Nothing here touches a database. Proofs are computed through a ``HashReader``: a callable
that, given addresses ``(level, index)``, returns the hashes of those *complete* subtrees
(the subtree at level L, index i covers leaves ``[i * 2**L, (i + 1) * 2**L)``). A complete
subtree never changes once the log has grown past it, so it is stored once (see tiles.py),
and a proof for any leaf in a tree of any size needs only O(log n) of them: the design of
the Go checksum database (golang.org/x/mod/sumdb/tlog), Trillian and Sunlight.

What is published (heads, keys, proofs in receipts) is specified in FORMAT.md beside this.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
# RFC 9162 2.1.1: the hash of an empty list is the hash of an empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()

Address = tuple[int, int]
HashReader = Callable[[Sequence[Address]], Sequence[bytes]]


class MissingHashes(LookupError):
    """The store does not hold a subtree hash that the tree of this size needs."""


def leaf_hash(leaf_input: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf_input).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class Frontier:
    """The right edge of a growing tree: one complete subtree per set bit of its size.

    That is all a writer has to hold. Appending a leaf merges equal subtrees like the
    carry of a binary counter (two hashes per leaf on average), and the root folds the
    edge from the right.
    """

    __slots__ = ("_edge", "size")

    def __init__(self) -> None:
        self.size = 0
        self._edge: list[bytes] = []  # the largest, leftmost subtree first

    @classmethod
    def of_stored(cls, tree_size: int, read: HashReader) -> Frontier:
        """The edge of a stored tree, read in one call of at most log2(n) + 1 hashes."""
        frontier = cls()
        frontier.size = tree_size
        frontier._edge = _read(read, _subtrees(0, tree_size))
        return frontier

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Adds a leaf hash. Returns the complete subtrees it completes, as (level, index,
        hash), lowest first: the leaf itself at level 0, then every subtree it closes."""
        size, h, level, edge = self.size, leaf, 0, self._edge
        completed = [(0, size, h)]
        while size >> level & 1:
            h = node_hash(edge.pop(), h)
            level += 1
            completed.append((level, size >> level, h))
        edge.append(h)
        self.size = size + 1
        return completed

    def root(self) -> bytes:
        return _fold(self._edge) if self._edge else EMPTY_ROOT


def root_hash(tree_size: int, read: HashReader) -> bytes:
    """MTH(D[n]) of the stored tree's first ``tree_size`` leaves."""
    return Frontier.of_stored(tree_size, read).root()


def inclusion_proof(leaf_index: int, tree_size: int, read: HashReader) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 2.1.3.1: the audit path, the leaf's sibling first."""
    if not 0 <= leaf_index < tree_size:
        raise ValueError(f"no leaf {leaf_index} in a tree of {tree_size}")
    siblings = []
    lo, hi = 0, tree_size
    while hi - lo > 1:
        k = _split(hi - lo)
        if leaf_index < lo + k:
            siblings.append((lo + k, hi))
            hi = lo + k
        else:
            siblings.append((lo, lo + k))
            lo += k
    siblings.reverse()
    return _range_hashes(siblings, read)


def consistency_proof(old_size: int, new_size: int, read: HashReader) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 2.1.4.1; empty when m is 0 or m == n."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"a tree of {new_size} cannot extend one of {old_size}")
    if old_size == 0:
        return []
    ranges = []
    lo, hi = 0, new_size
    while hi != old_size:
        k = _split(hi - lo)
        if old_size <= lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    # SUBPROOF's flag b is true exactly while the walk has stayed on the left edge (lo == 0):
    # the verifier knows that subtree's hash, the old root, so it is not sent.
    if lo:
        ranges.append((lo, hi))
    ranges.reverse()
    return _range_hashes(ranges, read)


def verify_inclusion(
    leaf: bytes, leaf_index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: does ``proof`` put ``leaf`` (a leaf hash) at ``leaf_index`` of the
    tree of ``tree_size`` leaves whose root is ``root``?"""
    if not 0 <= leaf_index < tree_size or len(leaf) != HASH_SIZE:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in proof:
        if sn == 0 or len(p) != HASH_SIZE:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: does ``proof`` show that the tree of ``new_size`` leaves and root
    ``new_root`` extends, unchanged, the tree of ``old_size`` leaves and root ``old_root``?"""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof or any(len(c) != HASH_SIZE for c in proof):
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (>= 2): where RFC 9162 splits a tree."""
    return 1 << ((size - 1).bit_length() - 1)


def _subtrees(lo: int, hi: int) -> list[Address]:
    """The complete subtrees that make up the tree's node over leaves [lo, hi), largest
    first. Every node of an RFC 9162 tree starts at a multiple of its largest piece."""
    addresses = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        addresses.append((level, lo >> level))
        lo += 1 << level
    return addresses


def _fold(hashes: Sequence[bytes]) -> bytes:
    """The hash of a node from its complete subtrees, largest first (they nest rightwards)."""
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = node_hash(left, h)
    return h


def _range_hashes(ranges: list[tuple[int, int]], read: HashReader) -> list[bytes]:
    pieces = [_subtrees(lo, hi) for lo, hi in ranges]
    hashes = _read(read, [address for piece in pieces for address in piece])
    out, start = [], 0
    for piece in pieces:
        out.append(_fold(hashes[start : start + len(piece)]))
        start += len(piece)
    return out


def _read(read: HashReader, addresses: list[Address]) -> list[bytes]:
    if not addresses:
        return []
    hashes = list(read(addresses))
    if len(hashes) != len(addresses) or any(len(h) != HASH_SIZE for h in hashes):
        raise MissingHashes(f"asked for {len(addresses)} subtree hashes, got {len(hashes)}")
    return hashes
