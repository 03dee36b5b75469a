"""The transparency log's core at 10 million leaves, without a database.

Appends N leaves (10,000,000 by default) to an in-memory tile store through append_tiles,
in batches as the sealer does, then measures on the full tree: inclusion and consistency
proofs (time, bytes, tiles read), their verification, the root, storage bytes per leaf,
and how fast the tree is recomputed from its leaves (what verify_audit does per million
rows, before any database reading). Prints one JSON object.

    .venv/bin/python bench/audit_log_core.py [--leaves N] [--batch B] [--samples S]
"""

import argparse
import json
import random
import statistics
import time

from consent.transparency import merkle
from consent.transparency.merkle import (
    Frontier,
    consistency_proof,
    inclusion_proof,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from consent.transparency.tiles import append_tiles, tile_hash_reader


def leaf_input(i: int) -> bytes:
    # About the size of a consent record's canonical JSON with its salt.
    return b'{"kind":"consent","salt":"%d",' % i + b"x" * 300 + b"}"


def build(leaves: int, batch: int) -> tuple[dict, float]:
    tiles: dict = {}
    size, started = 0, time.process_time()
    while size < leaves:
        count = min(batch, leaves - size)
        new = [merkle.leaf_hash(leaf_input(i)) for i in range(size, size + count)]
        appended = append_tiles(size, new, lambda keys: {k: tiles[k] for k in keys if k in tiles})
        tiles.update(appended.tiles)
        size += count
    return tiles, time.process_time() - started


def timed(fn, *args):
    started = time.perf_counter()
    result = fn(*args)
    return result, (time.perf_counter() - started) * 1000


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "mean": round(statistics.fmean(values), 3),
        "p50": round(ordered[len(ordered) // 2], 3),
        "max": round(ordered[-1], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leaves", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    n, rng = args.leaves, random.Random(9162)

    tiles, build_cpu = build(n, args.batch)
    reads: list[int] = []

    def read_tiles(keys):
        reads.append(len(keys))
        return {k: tiles[k] for k in keys if k in tiles}

    read = tile_hash_reader(read_tiles)
    root, root_ms = timed(root_hash, n, read)

    inclusion = {"ms": [], "verify_ms": [], "bytes": [], "tiles": []}
    for _ in range(args.samples):
        index = rng.randrange(n)
        reads.clear()
        path, ms = timed(inclusion_proof, index, n, read)
        inclusion["tiles"].append(sum(reads))
        leaf = merkle.leaf_hash(leaf_input(index))
        ok, verify_ms = timed(verify_inclusion, leaf, index, n, path, root)
        assert ok
        inclusion["ms"].append(ms)
        inclusion["verify_ms"].append(verify_ms)
        inclusion["bytes"].append(32 * len(path))

    consistency = {"ms": [], "verify_ms": [], "bytes": [], "tiles": []}
    for _ in range(args.samples):
        old = rng.randrange(1, n)
        reads.clear()
        path, ms = timed(consistency_proof, old, n, read)
        consistency["tiles"].append(sum(reads))
        old_root = root_hash(old, read)
        ok, verify_ms = timed(verify_consistency, old, n, old_root, root, path)
        assert ok
        consistency["ms"].append(ms)
        consistency["verify_ms"].append(verify_ms)
        consistency["bytes"].append(32 * len(path))

    # verify_audit's core: hash a million leaf inputs and rebuild the tree from them.
    million = min(n, 1_000_000)
    started = time.process_time()
    frontier = Frontier()
    for i in range(million):
        frontier.append(merkle.leaf_hash(leaf_input(i)))
    frontier.root()
    recompute_s = (time.process_time() - started) * 1_000_000 / million

    stored = sum(len(t) for t in tiles.values())
    print(
        json.dumps(
            {
                "leaves": n,
                "append_cpu_s": round(build_cpu, 1),
                "append_leaves_per_cpu_s": round(n / build_cpu),
                "storage_bytes": stored,
                "storage_bytes_per_leaf": round(stored / n, 3),
                "tiles": len(tiles),
                "root_ms": round(root_ms, 3),
                "inclusion_proof_ms": summary(inclusion["ms"]),
                "inclusion_verify_ms": summary(inclusion["verify_ms"]),
                "inclusion_proof_bytes": summary(inclusion["bytes"]),
                "inclusion_tiles_read": summary(inclusion["tiles"]),
                "consistency_proof_ms": summary(consistency["ms"]),
                "consistency_verify_ms": summary(consistency["verify_ms"]),
                "consistency_proof_bytes": summary(consistency["bytes"]),
                "consistency_tiles_read": summary(consistency["tiles"]),
                "recompute_cpu_s_per_million_leaves": round(recompute_s, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
