#!/usr/bin/env python3
"""The sealer against a backlog, at several sizes, on a partitioned PostgreSQL table that
already holds a sealed history: rows per second at each backlog size, the sealer before
the fix of its per-batch queries (a copy of them, below) and as it is now, in one run.

A batch of the sealer must cost the same however many rows wait behind it: after an
outage the backlog is large, and if each batch reads the whole backlog, sealing it costs
backlog^2 / 5,000 rows read (issue 12's bar: 10 x the peak decision rate; issue 14: a
backlog clears).

Starts a throwaway PostgreSQL (tests.harness; autovacuum off, so the statistics are those
taken when everything was sealed, as right after a burst), migrates (partitioned by month
where pg_partman is installed), seeds HISTORY records by SQL over two years (seed.py)
already sealed (leaf indexes below zero: what the sealer's queries see of them is that
they are not NULL, and the log itself starts empty), VACUUM (ANALYZE). Then, for each
backlog size and each sealer: BACKLOG new records of the last minutes inserted by SQL,
sealed batch by batch (5,000 rows each) for at most --seconds (or until none is left),
rows/s over the batches run; the rest sealed by the current sealer, untimed. Before the
first timed batch of each, EXPLAIN (ANALYZE, BUFFERS) of the batch's SELECT(s) and
UPDATE, in a transaction rolled back.

    .venv/bin/python bench/records_at_scale/backlog.py      # about 10 minutes
    .venv/bin/python bench/records_at_scale/backlog.py --history 300000 --backlogs 20000,100000

Results go to bench/results/seal_backlog.json.
"""

# ruff: noqa: S608

import argparse
import heapq
import itertools
import os
import shutil
import sys
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(HERE))

PLAN_LINES = 25  # of each EXPLAIN printed; the whole plan is in the JSON


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=1_500_000, help="sealed records first")
    parser.add_argument(
        "--backlogs", default="20000,200000,1000000", help="backlog sizes, comma-separated"
    )
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="at most this long per size and sealer"
    )
    parser.add_argument(
        "--sealers", default="before,after", help="which sealers to time: before, after"
    )
    parser.add_argument("--keep", action="store_true", help="leave PostgreSQL running")
    return parser.parse_args()


# --- The sealer's per-batch queries before the fix (commit c95e110), for comparison ------


def before_unsealed(batch: int):
    from consent.transparency import log

    per_kind = [
        [
            (kind, row)
            for row in model.objects.filter(leaf_index=None)
            .exclude(salt=None)
            .order_by("id")[:batch]
        ]
        for kind, model in log.KINDS.items()
    ]
    merged = heapq.merge(*per_kind, key=lambda item: item[1].created_at)
    return list(itertools.islice(merged, batch))


def before_assign_leaf_indexes(kind: str, pairs: list) -> None:
    """(leaf index, row) as _seal_batch now passes them, written as before."""
    from django.db import connection

    from consent.transparency import log

    table = connection.ops.quote_name(log.KINDS[kind]._meta.db_table)
    since = min(row.created_at for _, row in pairs)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS row SET leaf_index = new.leaf_index "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS new(leaf_index, id) "
            "WHERE row.id = new.id AND row.leaf_index IS NULL AND row.created_at >= %s",
            [[leaf for leaf, _ in pairs], [row.pk for _, row in pairs], since],
        )


@contextmanager
def sealer(name: str):
    """The log module with the named sealer's per-batch queries."""
    from unittest import mock

    from consent.transparency import log

    if name == "after":
        yield
        return
    with (
        mock.patch.object(log, "_unsealed", before_unsealed),
        mock.patch.object(log, "_assign_leaf_indexes", before_assign_leaf_indexes),
    ):
        yield


# --- Measuring ---------------------------------------------------------------------------


def sql(statement: str, params: list | None = None) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return cursor.fetchall() if cursor.description else []


class Rollback(Exception):
    pass


def explain_batch() -> list[dict]:
    """EXPLAIN (ANALYZE, BUFFERS) of the SELECTs and UPDATEs of the records table that
    one batch runs, each just before it runs; the batch then rolled back."""
    from django.db import connection, transaction

    from consent.transparency import log

    plans: list[dict] = []

    def wrapper(execute, statement, params, many, context):
        if not many and "consent_consentrecord" in statement:
            head = statement.lstrip().split(None, 1)[0].upper()
            if head in ("SELECT", "UPDATE"):
                cursor = context["cursor"]
                cursor.execute("SAVEPOINT explained")
                started = time.perf_counter()
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", params)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                cursor.execute("ROLLBACK TO SAVEPOINT explained")
                plans.append(
                    {
                        "sql": statement[:600],
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                        "plan": plan,
                    }
                )
        return execute(statement, params, many, context)

    try:
        with transaction.atomic(), connection.execute_wrapper(wrapper):
            log._seal_batch(log.BATCH)
            raise Rollback
    except Rollback:
        pass
    return plans


def insert_backlog(made, count: int) -> float:
    """``count`` new records spread over the minutes before now (2,000 a second: an outage
    at a busy site's peak), ids rising with time as the POST writes them."""
    import seed
    from django.utils import timezone

    now = timezone.now()
    started = time.perf_counter()
    seed.insert_records(made, count, now - timedelta(seconds=count / 2000), now)
    return time.perf_counter() - started


def seal_for(seconds: float) -> dict:
    """Batches of the sealer until none is left or ``seconds`` have passed."""
    from consent.transparency import log

    batches: list[float] = []
    rows = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        t0 = time.perf_counter()
        done = log._seal_batch(log.BATCH)
        if done.leaves:
            batches.append(time.perf_counter() - t0)
            rows += done.leaves
        if done.leaves < log.BATCH:
            break
    elapsed = sum(batches)
    ordered = sorted(batches)
    return {
        "rows": rows,
        "batches": len(batches),
        "seconds": round(elapsed, 2),
        "rows_per_s": round(rows / elapsed) if elapsed else 0,
        "batch_ms_first": round(batches[0] * 1000, 1) if batches else None,
        "batch_ms_median": round(ordered[len(ordered) // 2] * 1000, 1) if batches else None,
        "batch_ms_last": round(batches[-1] * 1000, 1) if batches else None,
        "drained": not unsealed_left(),
    }


def unsealed_left() -> bool:
    return bool(
        sql("SELECT 1 FROM consent_consentrecord WHERE leaf_index IS NULL AND salt IS NOT NULL "
            "LIMIT 1")
    )  # fmt: skip


def estimate_of_unsealed() -> tuple[int, int]:
    """(what the planner expects, what there is) of unsealed records."""
    plan = sql("EXPLAIN (FORMAT JSON) SELECT id FROM consent_consentrecord "
               "WHERE leaf_index IS NULL")[0][0]  # fmt: skip
    expected = plan[0]["Plan"]["Plan Rows"]
    actual = sql("SELECT count(*) FROM consent_consentrecord WHERE leaf_index IS NULL")[0][0]
    return expected, actual


# --- The run -----------------------------------------------------------------------------


def prepare(history: int) -> list:
    """Migrated, sites made, ``history`` records over two years already sealed, vacuumed
    and analysed; the sites' audit events sealed."""
    import seed
    from django.core.management import call_command
    from django.utils import timezone

    from consent import partitions
    from consent.models import Site
    from consent.transparency import log

    call_command("migrate", "--verbosity", "0")
    seed.fast_session()
    end = timezone.now()
    start = seed.first_day(end)
    partitions.cover(start, end)
    seed.create_sites(start, end)
    seed.backdate_events(start)
    made = [(spec, Site.objects.get(key=spec.key)) for spec in seed.SITES]
    started = time.perf_counter()
    seed.insert_records(made, history, start, end - timedelta(hours=1))
    # Sealed by fiat: leaf indexes below zero, in id order.
    sql("UPDATE consent_consentrecord SET leaf_index = -id WHERE leaf_index IS NULL")
    log.seal()  # the sites' own audit events
    sql("VACUUM (ANALYZE)")
    print(f"history: {history:,} sealed records in {time.perf_counter() - started:.0f} s, "
          f"{len(partitions.partitions())} partitions", flush=True)  # fmt: skip
    return made


def run(args: argparse.Namespace) -> dict:
    from consent.transparency import log

    made = prepare(args.history)
    sizes = [int(x) for x in args.backlogs.split(",")]
    results: dict = {"history": args.history, "batch": log.BATCH, "sizes": {}}
    for size in sizes:
        for name in args.sealers.split(","):
            inserted = insert_backlog(made, size)
            expected, actual = estimate_of_unsealed()
            print(f"backlog {size:,}, sealer {name}: inserted in {inserted:.1f} s; the planner "
                  f"expects {expected:,} unsealed rows, there are {actual:,}", flush=True)  # fmt: skip
            with sealer(name):
                plans = explain_batch()
                measured = seal_for(args.seconds)
            print(f"  {measured['rows_per_s']:,} rows/s over {measured['rows']:,} rows, "
                  f"batch ms first/median/last {measured['batch_ms_first']}/"
                  f"{measured['batch_ms_median']}/{measured['batch_ms_last']}", flush=True)  # fmt: skip
            log.seal()  # the rest, by the current sealer, untimed
            results["sizes"].setdefault(str(size), {})[name] = measured | {
                "planner_expected_unsealed": expected,
                "plans": plans,
            }
    return results


def report(results: dict) -> None:
    from benchapp import stack

    sizes = list(results["sizes"])
    names = list(results["sizes"][sizes[0]])
    rows = []
    for size in sizes:
        for name in names:
            m = results["sizes"][size][name]
            rows.append([f"{int(size):,}", name, f"{m['rows_per_s']:,} rows/s",
                         f"{m['batch_ms_first']} / {m['batch_ms_median']} / {m['batch_ms_last']}",
                         f"{m['rows']:,} rows in {m['seconds']} s"
                         + ("" if m["drained"] else " (stopped: time)")])  # fmt: skip
    stack.print_table(
        f"Sealing a backlog on {results['history']:,} sealed records (partitioned, "
        "statistics from before the backlog)",
        rows,
        ["backlog", "sealer", "rate", "batch ms first / median / last", "timed"],
    )
    for name in names:
        rates = [results["sizes"][s][name]["rows_per_s"] for s in sizes]
        if rates[-1]:
            print(f"{name}: rate at {int(sizes[0]):,} / rate at {int(sizes[-1]):,} = "
                  f"{rates[0] / rates[-1]:.2f} x")  # fmt: skip
    for size in (sizes[0], sizes[-1]):
        for name in names:
            for found in results["sizes"][size][name]["plans"]:
                lines = found["plan"].splitlines()
                if len(lines) > PLAN_LINES:
                    lines = [*lines[:PLAN_LINES], f"... ({len(lines) - PLAN_LINES} more lines)"]
                print(f"\n--- backlog {int(size):,}, sealer {name}: {found['sql'][:160]} ...\n"
                      + "\n".join(lines))  # fmt: skip


def main() -> int:
    args = parse()
    from benchapp import stack

    from consent.transparency import heads
    from tests.appserver import production_env
    from tests.harness import PostgresServer

    os.environ["CONSENT_LOG_KEY"] = heads.private_key_pem(heads.generate_private_key()).decode()
    server = PostgresServer()
    server.init()
    with (server.data / "postgresql.conf").open("a") as conf:
        # Statistics as they were before the backlog, for the whole run.
        conf.write("\nautovacuum = off\n")
    server.start()
    try:
        import psycopg

        with psycopg.connect(server.url(), autocommit=True) as connection:
            connection.execute('CREATE DATABASE "backlog"')
        os.environ.update(production_env(server.url("backlog"), VAR_DIR=str(server.directory)))
        import django

        django.setup()
        results = run(args)
    finally:
        if args.keep:
            print(f"PostgreSQL left running: {server.url('backlog')}")
        else:
            server.stop("immediate")
            server.remove()
            shutil.rmtree(server.directory, ignore_errors=True)
    report(results)
    path = stack.save("seal_backlog", results)
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
