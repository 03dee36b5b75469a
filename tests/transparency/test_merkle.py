"""The Merkle tree: RFC 9162's hashes, proofs and checks, and the tiles it is stored in.

Checked three ways: against published test vectors, against a naive transcription of
RFC 9162's recursive definitions (the oracle below, independent of the code under test),
and by tampering: a changed hash, index, size or leaf order must never verify.
"""

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent.transparency import merkle
from consent.transparency.merkle import (
    EMPTY_ROOT,
    Frontier,
    MissingHashes,
    consistency_proof,
    inclusion_proof,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from consent.transparency.tiles import append_tiles, tile_hash_reader

# --- The oracle: RFC 9162 section 2.1, transcribed as literally as possible -------------


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) over leaf *inputs*."""
    if not d:
        return sha(b"")
    if len(d) == 1:
        return sha(b"\x00" + d[0])
    k = split(len(d))
    return sha(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = split(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [mth(d)]
    k = split(len(d))
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def proof(m: int, d: list[bytes]) -> list[bytes]:
    return subproof(m, d, True)


class RangeOracle:
    """MTH of any range of a long leaf list, each distinct range hashed once."""

    def __init__(self, leaf_hashes: list[bytes]) -> None:
        self.leaves, self.memo = leaf_hashes, {}

    def mth(self, lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return self.leaves[lo]
        if (lo, hi) not in self.memo:
            k = split(hi - lo)
            left, right = self.mth(lo, lo + k), self.mth(lo + k, hi)
            self.memo[(lo, hi)] = sha(b"\x01" + left + right)
        return self.memo[(lo, hi)]

    def path(self, m: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo == 1:
            return []
        k = split(hi - lo)
        if m < lo + k:
            return [*self.path(m, lo, lo + k), self.mth(lo + k, hi)]
        return [*self.path(m, lo + k, hi), self.mth(lo, lo + k)]

    def subproof(self, m: int, lo: int, hi: int, b: bool) -> list[bytes]:
        if m == hi:
            return [] if b else [self.mth(lo, hi)]
        k = split(hi - lo)
        if m <= lo + k:
            return [*self.subproof(m, lo, lo + k, b), self.mth(lo + k, hi)]
        return [*self.subproof(m, lo + k, hi, False), self.mth(lo, lo + k)]


# --- Stores for the code under test ------------------------------------------------------


def every_subtree(leaf_inputs: list[bytes]) -> merkle.HashReader:
    """A reader over every complete subtree, as Frontier.append reports them."""
    frontier, stored = Frontier(), {}
    for data in leaf_inputs:
        for level, index, h in frontier.append(merkle.leaf_hash(data)):
            stored[(level, index)] = h
    return lambda addresses: [stored[a] for a in addresses]


def tile_store(leaf_hashes: list[bytes], batches: list[int]) -> dict:
    tiles, size = {}, 0
    for count in batches:
        new = leaf_hashes[size : size + count]
        appended = append_tiles(size, new, lambda keys: {k: tiles[k] for k in keys if k in tiles})
        tiles.update(appended.tiles)
        size += len(new)
        assert appended.tree_size == size
        assert appended.root_hash == root_hash(size, reader_of(tiles))
    return tiles


def reader_of(tiles: dict) -> merkle.HashReader:
    return tile_hash_reader(lambda keys: {k: tiles[k] for k in keys if k in tiles})


def flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 8]) + h[1:]


# --- Test vectors -----------------------------------------------------------------------
# From transparency-dev/merkle (formerly Trillian's merkle package), proof/verify_test.go:
# the RFC 6962 reference tree of eight leaves, its roots at sizes 1..8, and proofs. Their
# inclusion vectors number leaves from 1; these are converted to RFC 9162's 0-based index.

LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243",
          "5051525354555657", "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]  # fmt: skip
INCLUSION = [  # (leaf index, tree size, audit path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
CONSISTENCY = [  # (old size, new size, proof)
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip


def test_the_empty_tree_has_the_hash_of_nothing():
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_hash(0, every_subtree([])) == EMPTY_ROOT
    assert Frontier().root() == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_reference_tree(size):
    assert root_hash(size, every_subtree(LEAVES)) == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION)
def test_inclusion_proofs_match_the_vectors(index, size, expected):
    audit_path = inclusion_proof(index, size, every_subtree(LEAVES))
    assert [h.hex() for h in audit_path] == expected
    leaf = merkle.leaf_hash(LEAVES[index])
    assert verify_inclusion(leaf, index, size, audit_path, ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "expected"), CONSISTENCY)
def test_consistency_proofs_match_the_vectors(old, new, expected):
    path_ = consistency_proof(old, new, every_subtree(LEAVES))
    assert [h.hex() for h in path_] == expected
    assert verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], path_)


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION)
def test_corrupted_vector_inclusion_proofs_fail(index, size, expected):
    # The probes of transparency-dev/merkle's corruptInclusionProof.
    audit_path = [bytes.fromhex(h) for h in expected]
    leaf, root = merkle.leaf_hash(LEAVES[index]), ROOTS[size - 1]
    probes = [
        (leaf, index - 1, size, audit_path, root),
        (leaf, index + 1, size, audit_path, root),
        (leaf, index ^ 2, size, audit_path, root),
        (leaf, index, size * 2, audit_path, root),
        (leaf, index, size // 2, audit_path, root),
        (b"WrongLeaf", index, size, audit_path, root),
        (leaf, index, size, audit_path, EMPTY_ROOT),
        (leaf, index, size, [*audit_path, b""], root),
        (leaf, index, size, [*audit_path, root], root),
        (leaf, index, size, [b"", *audit_path], root),
        (leaf, index, size, [root, *audit_path], root),
        (leaf, index, size, audit_path[:-1], root),
        (leaf, index, size, [audit_path[0], EMPTY_ROOT, *audit_path[1:]], root),
    ]
    probes += [
        (leaf, index, size, [*audit_path[:i], flip(audit_path[i]), *audit_path[i + 1 :]], root)
        for i in range(len(audit_path))
    ]
    assert not [p for p in probes if verify_inclusion(*p)]


@pytest.mark.parametrize(("old", "new", "expected"), CONSISTENCY)
def test_corrupted_vector_consistency_proofs_fail(old, new, expected):
    # The probes of transparency-dev/merkle's corruptConsistencyProof.
    p = [bytes.fromhex(h) for h in expected]
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    probes = [
        (old - 1, new, r1, r2, p),
        (old + 1, new, r1, r2, p),
        (old ^ 2, new, r1, r2, p),
        (old, new * 2, r1, r2, p),
        (old, new // 2, r1, r2, p),
        (old, new, b"WrongRoot", r2, p),
        (old, new, r1, b"WrongRoot", p),
        (old, new, r2, r1, p),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*p, b""]),
        (old, new, r1, r2, [*p, r1]),
        (old, new, r1, r2, [*p, r2]),
        (old, new, r1, r2, [b"", *p]),
        (old, new, r1, r2, [r1, *p]),
        (old, new, r1, r2, [r2, *p]),
        (old, new, r1, r2, [p[0], *p]),
        (old, new, r1, r2, p[:-1]),
    ]
    probes += [(old, new, r1, r2, [*p[:i], flip(p[i]), *p[i + 1 :]]) for i in range(len(p))]
    assert not [probe for probe in probes if verify_consistency(*probe)]


def test_trivial_consistency_needs_an_empty_proof_and_the_right_roots():
    some = ROOTS[0]
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [])
    assert verify_consistency(3, 3, ROOTS[2], ROOTS[2], [])
    assert not verify_consistency(0, 5, some, ROOTS[4], [])
    assert not verify_consistency(3, 3, ROOTS[2], ROOTS[3], [])
    assert not verify_consistency(3, 3, ROOTS[2], ROOTS[2], [some])
    assert not verify_consistency(0, 1, EMPTY_ROOT, some, [EMPTY_ROOT])
    assert not verify_consistency(2, 1, ROOTS[1], ROOTS[0], [])


def test_it_refuses_to_prove_what_is_not_in_the_tree():
    read = every_subtree(LEAVES)
    for index, size in [(0, 0), (8, 8), (-1, 3)]:
        with pytest.raises(ValueError):
            inclusion_proof(index, size, read)
    with pytest.raises(ValueError):
        consistency_proof(5, 4, read)
    assert consistency_proof(0, 8, read) == []
    assert consistency_proof(8, 8, read) == []


def test_a_reader_that_comes_back_short_is_an_error():
    with pytest.raises(MissingHashes):
        root_hash(7, lambda addresses: [])


# --- Against the oracle, every proof of every tree up to 64 leaves ---------------------

SMALL = [f"leaf {i}".encode() for i in range(64)]


@pytest.fixture(scope="module")
def small_read():
    return every_subtree(SMALL)


def test_every_root_and_inclusion_proof_up_to_64_leaves(small_read):
    for size in range(1, 65):
        d = SMALL[:size]
        root = mth(d)
        assert root_hash(size, small_read) == root
        for index in range(size):
            audit_path = inclusion_proof(index, size, small_read)
            assert audit_path == path(index, d), (index, size)
            leaf = merkle.leaf_hash(d[index])
            assert verify_inclusion(leaf, index, size, audit_path, root)
            assert not verify_inclusion(merkle.leaf_hash(b"forged"), index, size, audit_path, root)
            for wrong in {index - 1, index + 1, index ^ 1, index ^ 2} - {index}:
                assert not verify_inclusion(leaf, wrong, size, audit_path, root), (index, wrong)
            for other in {size - 1, size + 1, size * 2, size // 2} - {size}:
                if index < other <= 64:  # the proof says nothing of another tree's root
                    assert not verify_inclusion(leaf, index, other, audit_path, mth(SMALL[:other]))
            for i in range(len(audit_path)):
                altered = [*audit_path[:i], flip(audit_path[i]), *audit_path[i + 1 :]]
                assert not verify_inclusion(leaf, index, size, altered, root)
            if audit_path:
                assert not verify_inclusion(leaf, index, size, audit_path[:-1], root)
            assert not verify_inclusion(leaf, index, size, [*audit_path, root], root)


def test_every_consistency_proof_up_to_64_leaves(small_read):
    roots = [mth(SMALL[:n]) for n in range(65)]
    for new in range(1, 65):
        for old in range(0, new + 1):
            p = consistency_proof(old, new, small_read)
            assert p == (proof(old, SMALL[:new]) if old else []), (old, new)
            assert verify_consistency(old, new, roots[old], roots[new], p)
            if old in (0, new):
                continue
            assert not verify_consistency(old, new, roots[old - 1], roots[new], p)
            assert not verify_consistency(old, new, roots[old], roots[new - 1], p)
            for o in {old - 1, old + 1} - {0, new}:
                assert not verify_consistency(o, new, roots[o], roots[new], p), (old, o, new)
            if new < 64:
                assert not verify_consistency(old, new + 1, roots[old], roots[new + 1], p)
            for i in range(len(p)):
                altered = [*p[:i], flip(p[i]), *p[i + 1 :]]
                assert not verify_consistency(old, new, roots[old], roots[new], altered)
            assert not verify_consistency(old, new, roots[old], roots[new], p[:-1])
            assert not verify_consistency(old, new, roots[old], roots[new], [*p, roots[new]])


def test_a_rewritten_history_is_not_consistent_with_the_old_head():
    """Reorder two leaves the old head covered, or change one, and rebuild the log: no
    consistency proof from the rebuilt tree ties it to the old head."""
    roots = [mth(SMALL[:n]) for n in range(65)]
    for new in range(2, 65):
        for old in range(1, new):
            changed = list(SMALL[:new])
            changed[old - 1] = b"changed"
            forgeries = [changed]
            if old >= 2:
                reordered = list(SMALL[:new])
                reordered[old - 2], reordered[old - 1] = reordered[old - 1], reordered[old - 2]
                forgeries.append(reordered)
            for forged in forgeries:
                p = consistency_proof(old, new, every_subtree(forged))
                assert not verify_consistency(old, new, roots[old], mth(forged), p), (old, new)


def test_reordered_leaves_change_the_root_and_break_their_proofs():
    rng = random.Random(12)
    for size in range(2, 65):
        i, j = rng.sample(range(size), 2)
        swapped = list(SMALL[:size])
        swapped[i], swapped[j] = swapped[j], swapped[i]
        assert mth(swapped) != mth(SMALL[:size])
        p = inclusion_proof(i, size, every_subtree(swapped))
        assert not verify_inclusion(merkle.leaf_hash(SMALL[i]), i, size, p, mth(SMALL[:size]))


# --- Tiles: a tree of 70,000 leaves, three tile levels ---------------------------------

BIG = 70_000  # beyond 256**2, so level-2 tiles exist
BATCHES = [1, 2, 253, 1, 511, 65_000, 4_000, 232]


@pytest.fixture(scope="module")
def big():
    leaves = [sha(b"\x00" + i.to_bytes(4, "big")) for i in range(BIG)]
    assert sum(BATCHES) == BIG
    return leaves, tile_store(leaves, BATCHES), RangeOracle(leaves)


def test_tiles_hold_the_leaves_and_every_eighth_level_and_nothing_else(big):
    leaves, tiles, oracle = big
    # Levels 0, 8 and 16: 70,000 + 273 + 1 hashes of 32 bytes, 32.13 bytes per leaf.
    assert sum(len(t) for t in tiles.values()) == 32 * (BIG + BIG // 256 + BIG // 65536)
    assert sorted(k for k in tiles if k[0] > 0) == [(1, 0), (1, 1), (2, 0)]
    assert tiles[(0, 3)] == b"".join(leaves[768:1024])
    assert len(tiles[(0, BIG // 256)]) == 32 * (BIG % 256)
    assert tiles[(1, 0)][32 * 5 : 32 * 6] == oracle.mth(5 * 256, 6 * 256)
    assert tiles[(2, 0)] == oracle.mth(0, 65536)


def test_tiles_do_not_depend_on_how_leaves_were_batched(big):
    leaves, tiles, _ = big
    assert tile_store(leaves, [BIG]) == tiles


@pytest.mark.parametrize("stale_size", [BIG - 5, 256 * 10, 65536])
def test_appending_to_a_stale_tree_size_is_refused(big, stale_size):
    """Leaves past the size given are stored: appending would overwrite them."""
    leaves, tiles, _ = big
    with pytest.raises(ValueError, match="stale"):
        append_tiles(stale_size, leaves[:1], lambda keys: {k: tiles[k] for k in keys if k in tiles})


def test_a_missing_tile_is_reported_not_guessed(big):
    _, tiles, _ = big
    without = {k: v for k, v in tiles.items() if k != (0, 7)}
    with pytest.raises(MissingHashes):
        inclusion_proof(7 * 256 + 3, BIG, reader_of(without))
    # Proofs that do not need it still work.
    assert inclusion_proof(5, 256, reader_of(without)) == inclusion_proof(5, 256, reader_of(tiles))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_tile_proofs_agree_with_the_oracle_at_any_size(big, data):
    leaves, tiles, oracle = big
    read = reader_of(tiles)
    size = data.draw(st.integers(1, BIG), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(1, size), label="old")
    root = oracle.mth(0, size)
    assert root_hash(size, read) == root
    audit_path = inclusion_proof(index, size, read)
    assert audit_path == oracle.path(index, 0, size)
    assert verify_inclusion(leaves[index], index, size, audit_path, root)
    p = consistency_proof(old, size, read)
    assert p == oracle.subproof(old, 0, size, True)
    assert verify_consistency(old, size, oracle.mth(0, old), root, p)


@settings(max_examples=60, deadline=None)
@given(start=st.integers(0, 2000), count=st.integers(1, 600))
def test_appending_completes_exactly_the_subtrees_the_frontier_reports(start, count):
    leaves = [sha(i.to_bytes(4, "big")) for i in range(start + count)]
    tiles = tile_store(leaves, [start, count])
    frontier = Frontier.of_stored(start, reader_of(tiles))
    for h in leaves[start:]:
        frontier.append(h)
    oracle = RangeOracle(leaves)
    assert (
        frontier.root()
        == oracle.mth(0, start + count)
        == root_hash(start + count, reader_of(tiles))
    )
