"""The tree in storage, as tiles: the encoding of the Go checksum database and C2SP tlog-tiles.

Tile ``(t, k)`` holds up to 256 hashes of tree level 8t, concatenated: those of the complete
subtrees ``(8t, 256k + j)`` for j = 0, 1, ... Level-0 tiles hold the leaf hashes; a hash in
a level-1 tile is the root of a full level-0 tile; and so on. The seven levels in between
are not stored but recomputed from a tile when a proof needs them (at most 255 hashes of
work per tile), which brings the whole tree down to 32 * (1 + 1/256 + 1/256**2 + ...)
bytes per leaf instead of the 64 that storing every node costs.

The rightmost tile of each level is partial (1 to 255 hashes); appending rewrites it, wider,
until it is full, after which it never changes again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

from .merkle import HASH_SIZE, Address, Frontier, HashReader, MissingHashes, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT

TileKey = tuple[int, int]  # (tile level, tile index)
# Returns the stored tiles among those asked for; one it lacks is simply left out.
TileReader = Callable[[Sequence[TileKey]], Mapping[TileKey, bytes]]


def tile_hash_reader(read_tiles: TileReader) -> HashReader:
    """A HashReader over stored tiles, reading each tile a call needs once."""

    def read(addresses: Sequence[Address]) -> list[bytes]:
        located = [_locate(level, index) for level, index in addresses]
        tiles = read_tiles(list(dict.fromkeys(key for key, _, _ in located)))
        hashes = []
        for (key, start, end), address in zip(located, addresses, strict=True):
            data = tiles.get(key)
            if data is None or len(data) < end:
                raise MissingHashes(f"tile {key} does not hold subtree {address}")
            hashes.append(_perfect_root(data, start, end))
        return hashes

    return read


class Appended(NamedTuple):
    tiles: dict[TileKey, bytes]  # every tile that is new or grew, with its whole content
    tree_size: int
    root_hash: bytes


def append_tiles(tree_size: int, leaf_hashes: Iterable[bytes], read_tiles: TileReader) -> Appended:
    """Appends ``leaf_hashes`` to the stored tree of ``tree_size`` leaves: the tiles to
    write, and the new tree's size and root (what the next signed head says).

    Reads only the rightmost tile of each level. The caller writes the tiles (insert or
    replace by key) in the transaction that records the new tree size.
    """
    rightmost = _rightmost_tiles(tree_size)
    stored = read_tiles([key for key, _ in rightmost])
    growing: dict[int, tuple[int, bytearray]] = {}
    for key, width in rightmost:
        data = stored.get(key, b"")
        # Past the tree's last leaf nothing may be stored yet: else the size is stale (a
        # second sealer?) and writing would overwrite leaves.
        if len(data) != width * HASH_SIZE:
            raise ValueError(
                f"tile {key} holds {len(data) // HASH_SIZE} hashes where a tree of "
                f"{tree_size} leaves has {width}: is the tree size stale?"
            )
        if width:
            growing[key[0]] = (key[1], bytearray(data))
    frontier = Frontier.of_stored(tree_size, tile_hash_reader(lambda keys: stored))
    written: dict[TileKey, bytearray] = {}
    for leaf in leaf_hashes:
        for level, index, h in frontier.append(leaf):
            tile_level, below = divmod(level, TILE_HEIGHT)
            if below:
                continue
            tile_index = index >> TILE_HEIGHT
            current = growing.get(tile_level)
            if current is None or current[0] != tile_index:
                current = growing[tile_level] = (tile_index, bytearray())
            current[1].extend(h)
            written[(tile_level, tile_index)] = current[1]
    tiles = {key: bytes(data) for key, data in written.items()}
    return Appended(tiles, frontier.size, frontier.root())


def _locate(level: int, index: int) -> tuple[TileKey, int, int]:
    """The tile holding the hashes that make up subtree (level, index), and their byte range."""
    tile_level, above = divmod(level, TILE_HEIGHT)
    first = index << above  # the subtree's first hash at the tile's level
    start = (first % TILE_WIDTH) * HASH_SIZE
    return (tile_level, first >> TILE_HEIGHT), start, start + (HASH_SIZE << above)


def _rightmost_tiles(tree_size: int) -> list[tuple[TileKey, int]]:
    """The rightmost tile of each level of a tree of this size, with its width: partial
    (1-255 hashes), or empty where the next hash of that level will start a new tile."""
    tiles = []
    level, count = 0, tree_size
    while True:
        tiles.append(((level, count >> TILE_HEIGHT), count % TILE_WIDTH))
        level, count = level + 1, count >> TILE_HEIGHT
        if not count:
            return tiles


def _perfect_root(data: bytes, start: int, end: int) -> bytes:
    hashes = [data[i : i + HASH_SIZE] for i in range(start, end, HASH_SIZE)]
    while len(hashes) > 1:
        hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]
