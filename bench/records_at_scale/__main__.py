#!/usr/bin/env python3
"""Records at scale: the console, the retention purge, the sealer and verify_audit with
N consent records in PostgreSQL, beside the same at N/10, so growth shows.

Starts a throwaway PostgreSQL (tests.harness: fsync off) with a database per size, each
migrated (partitioned by month where pg_partman is installed) and seeded by SQL
(seed.py: three sites, one big; two years ending now; a realistic mix of methods,
signals, languages and policy versions, the current version newer than most records;
returning visitors; the console's audit events), a month at a time, each month sealed
into the transparency log as it ends, with heads signed at the month's end, as a live
sealer would have (so verify_audit checks every row, and accepts the purged month).
measure.py then times, in child processes:

- every admin records page as a superuser: the list's first page, each choice of each
  list filter (read from the admin's ChangeList), search by consent id, the date
  drill-down (year, month, day), a deep page (by key where the admin pages by key), one
  record's page, the statistics dashboard: server wall time in-process, SQL time and
  query count; and an export's first 1,000 rows (every site; the big site's last 30
  days). REPEAT rounds, the two sizes in turn in each, the median kept;
- erasure of one visitor; sealing (the history, month by month, and a new backlog of
  BACKLOG records on the full log); the retention purge of the oldest month (every
  site's retention set so that exactly it falls out); verify_audit over the whole log.

Prints one table, what | N/10 | N | ratio, flagging each figure over its bar (DESIGN.md,
issue 14; bars at 10,000,000 records): admin pages > 300 ms, a month's purge > 1 s, N
more than 2 x N/10; then, for each page over its bar at N, EXPLAIN (ANALYZE, BUFFERS) of
its slowest SELECT. Results go to bench/results/records_at_scale.json.

    .venv/bin/python bench/records_at_scale                     # N = 10,000,000: long
    .venv/bin/python bench/records_at_scale --records 1000000
    .venv/bin/python bench/records_at_scale --pages-only        # no sealing, purge, verify
    .venv/bin/python bench/records_at_scale --pg-option shared_preload_libraries=pg_partman_bgw
    .venv/bin/python bench/records_at_scale --keep      # leave the cluster running after
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PYTHON = str(ROOT / ".venv" / "bin" / "python")
PAGE_BAR_MS = 300.0
PURGE_BAR_MS = 1000.0
RATIO_BAR = 2.0
PLAN_LINES = 30  # of each EXPLAIN printed; the whole plan is in the JSON
EXPLAINED = 2  # slowest SELECTs of a page over its bar that are explained
EXPLAINED_FROM_MS = 30.0  # and only those that took at least this long
# Cluster settings beyond the harness's (fsync off, full_page_writes off, ...), written to
# postgresql.conf before it starts; --pg-option adds to them.
PG_OPTIONS: dict[str, str] = {}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000_000, help="N (default 10 M)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every page (median)")
    parser.add_argument("--backlog", type=int, default=20_000, help="new rows sealed at the end")
    parser.add_argument(
        "--pg-option", action="append", default=[], metavar="NAME=VALUE",
        help="a PostgreSQL setting for the cluster, e.g. shared_buffers=1GB (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--pages-only", action="store_true",
        help="no sealing, erasure, purge or verify: seed and measure the pages and exports",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="leave PostgreSQL and both databases")
    # The child processes' own arguments.
    parser.add_argument("--child", choices=("prepare", "pages", "finish"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--deep-page", type=int, default=500, help=argparse.SUPPRESS)
    parser.add_argument("--start", help=argparse.SUPPRESS)
    return parser.parse_args()


def child(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from datetime import datetime

    import measure

    if args.child == "prepare":
        result = measure.prepare(args.records, seal=not args.pages_only)
    elif args.child == "pages":
        result = measure.pages(args.records, args.deep_page)
    else:
        result = measure.finish(args.records, datetime.fromisoformat(args.start), args.backlog)
    args.out.write_text(json.dumps(result, indent=2))
    return 0


# --- The parent: PostgreSQL, the children, the table ----------------------------------


class Run:
    """The cluster, a database per size, and the children that measure them."""

    def __init__(self, args: argparse.Namespace, options: dict[str, str]) -> None:
        from tests.harness import PostgresServer

        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="consent-scale-"))
        self.server = PostgresServer()
        self.server.init()
        if options:
            with (self.server.data / "postgresql.conf").open("a") as conf:
                conf.write("\n# bench/records_at_scale\n")
                conf.writelines(f"{name} = '{value}'\n" for name, value in options.items())
        self.server.start()
        self.children = 0

    def sql(self, database: str, statement: str) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.server.url(database), autocommit=True) as connection:
            cursor = connection.execute(statement)
            return cursor.fetchall() if cursor.description else []

    @staticmethod
    def database(records: int) -> str:
        return f"records_{records}"

    def child(self, phase: str, records: int, *extra: str) -> dict:
        from tests.appserver import production_env

        self.children += 1
        out = self.work / f"{phase}-{records}-{self.children}.json"
        command = [
            PYTHON, str(HERE), "--child", phase, "--out", str(out), "--records", str(records),
            *extra, *(["--pages-only"] if self.args.pages_only else []),
        ]  # fmt: skip
        env = production_env(
            self.server.url(self.database(records)),
            ALLOWED_HOSTS="testserver,127.0.0.1,localhost",
            VAR_DIR=str(self.work / "var"),
        )
        subprocess.run(command, cwd=ROOT, env=env, check=True)
        return json.loads(out.read_text())

    def prepare(self, records: int) -> dict:
        self.sql("postgres", f'CREATE DATABASE "{self.database(records)}"')
        return self.child("prepare", records)

    def explain(self, records: int, statement: str) -> str:
        plan = self.sql(self.database(records), f"EXPLAIN (ANALYZE, BUFFERS) {statement}")
        return "\n".join(row[0] for row in plan)

    def stop(self) -> None:
        if self.args.keep:
            print(f"\nPostgreSQL left running: {self.server.url()} (in {self.server.directory})")
            return
        self.server.stop("immediate")
        self.server.remove()
        shutil.rmtree(self.work, ignore_errors=True)


def median_of_rounds(rounds: list[list[dict]]) -> list[dict]:
    """Per page (by its name), the round with the median time; a failure wins, so that
    it is seen."""
    by_what: dict[str, list[dict]] = {}
    for entries in rounds:
        for entry in entries:
            by_what.setdefault(entry["what"], []).append(entry)
    merged = []
    for runs in by_what.values():
        failed = [r for r in runs if r.get("status", 200) != 200]
        middle = failed[0] if failed else sorted(runs, key=lambda r: r["ms"])[len(runs) // 2]
        merged.append(middle | {"runs_ms": [round(r["ms"], 1) for r in runs]})
    return merged


def shape(statement: str) -> str:
    """A statement with its literals taken out: the same query for another value."""
    return re.sub(r"'[^']*'|\b\d+(\.\d+)?\b", "?", statement)


def plans(run: Run, records: int, entries: list[dict]) -> list[dict]:
    """EXPLAIN (ANALYZE, BUFFERS) of the slowest SELECTs (EXPLAINED of each, from
    EXPLAINED_FROM_MS) of every page over its bar: each query shape once, for its slowest
    instance, with the pages whose slowest it was."""
    shapes: dict[str, dict] = {}
    for entry in entries:
        if entry["kind"] != "page" or entry["ms"] <= PAGE_BAR_MS:
            continue
        for ms, statement in entry["selects"][:EXPLAINED]:
            if ms < EXPLAINED_FROM_MS:
                continue
            found = shapes.setdefault(shape(statement), {"ms": 0.0, "pages": []})
            found["pages"].append(entry["what"])
            if ms > found["ms"]:
                found |= {"ms": ms, "sql": statement}
    explained = sorted(shapes.values(), key=lambda s: -s["ms"])
    for found in explained:
        found["plan"] = run.explain(records, found["sql"])
    return explained


def run_sizes(args: argparse.Namespace, options: dict[str, str]) -> dict[int, dict]:
    sizes = [args.records // 10, args.records]
    # The same deep page at both sizes: it must exist in the smaller (100 rows a page).
    deep_page = max(2, min(500, sizes[0] // 200))
    run = Run(args, options)
    results: dict[int, dict] = {}
    try:
        for records in sizes:
            results[records] = run.prepare(records)
        rounds: dict[int, list[list[dict]]] = {records: [] for records in sizes}
        loads: dict[int, list] = {records: [] for records in sizes}
        for _ in range(args.repeat):
            for records in sizes:
                measured = run.child("pages", records, "--deep-page", str(deep_page))
                rounds[records].append(measured["entries"])
                loads[records].append(measured["load"][0])
        for records in sizes:
            results[records]["entries"] += median_of_rounds(rounds[records])
            results[records]["setup"]["load_during_pages"] = loads[records]
        results[sizes[-1]]["plans"] = plans(run, sizes[-1], results[sizes[-1]]["entries"])
        if not args.pages_only:
            for records in sizes:
                start = results[records]["start"]
                finished = run.child("finish", records, "--start", start, "--backlog",
                                     str(args.backlog))  # fmt: skip
                results[records]["entries"] += finished["entries"]
    finally:
        run.stop()
    return results


# --- The table --------------------------------------------------------------------------


def figure(entry: dict | None) -> str:
    if entry is None:
        return "-"
    if "rate" in entry:
        return f"{entry['rate']:,.0f} rows/s"
    text = f"{entry['ms']:,.0f} ms"
    if "sql_ms" in entry:
        text += f" (sql {entry['sql_ms']:,.0f}, {entry['queries']} q)"
    return text


def ratio(small: dict | None, large: dict | None) -> float | None:
    """How many times slower at N than at N/10 (for a rate: inverted)."""
    if not small or not large:
        return None
    if "rate" in large:
        return small["rate"] / large["rate"] if large["rate"] else None
    return large["ms"] / small["ms"] if small["ms"] else None


def problems_of(small: dict | None, large: dict | None) -> list[str]:
    found = []
    for entry in (small, large):
        if entry and entry.get("status", 200) != 200:
            found.append(
                f"HTTP {entry['status']} {entry.get('location', '')} {entry.get('error', '')}"
            )
        if entry and entry.get("ok") is False:
            found.append("FAILED")
    if large and large["kind"] == "page" and large["ms"] > PAGE_BAR_MS:
        found.append(f"> {PAGE_BAR_MS:.0f} ms")
    if large and large["kind"] == "purge" and large["ms"] > PURGE_BAR_MS:
        found.append(f"> {PURGE_BAR_MS / 1000:.0f} s")
    times = ratio(small, large)
    if large and large["kind"] != "seed" and times is not None and times > RATIO_BAR:
        found.append(f"ratio > {RATIO_BAR:.0f} x")
    return sorted(set(found), key=found.index)


def table(results: dict[int, dict]) -> tuple[list[list[str]], list[str], int]:
    """The rows, the details of the non-page figures, and how many rows are flagged."""
    small, large = (results[n] for n in sorted(results))
    small_by_what = {e["what"]: e for e in small["entries"]}
    large_by_what = {e["what"]: e for e in large["entries"]}
    whats = list(large_by_what) + [w for w in small_by_what if w not in large_by_what]
    rows, details, flagged = [], [], 0
    for what in whats:
        a, b = small_by_what.get(what), large_by_what.get(what)
        times = ratio(a, b)
        flags = problems_of(a, b)
        flagged += bool(flags)
        rows.append(
            [
                what,
                figure(a),
                figure(b),
                f"{times:.2f} x" if times is not None else "-",
                ("OVER: " + ", ".join(flags)) if flags else "",
            ]
        )
        if any(e and e.get("detail") for e in (a, b)):
            details.append(
                f"{what}: N/10 {(a or {}).get('detail', '-')}; N {(b or {}).get('detail', '-')}"
            )
    return rows, details, flagged


def describe(s: dict) -> str:
    """What seeding and the machine were like for one size."""
    partitioned = (
        f"{s['partitions']} partitions ({s['default_partition_rows']} rows in the default one)"
        if s["partitions"]
        else "not partitioned"
    )
    load = ", ".join(f"{x:.1f}" for x in s["load_during_pages"])
    return (
        f"seeded {s['records']:,} records in {s['records_s']} s ({s['records_per_s']:,} "
        f"rows/s) and {s['events']:,} audit events in {s['events_s']} s; ANALYZE "
        f"{s['analyze_s']} s, VACUUM (ANALYZE) {s['vacuum_analyze_s']} s; records table "
        f"with indexes {s['record_table_bytes'] / 2**20:,.0f} MB, {partitioned}; "
        f"{s['daily_stats']:,} DailyStat rows; 1-minute load average at each round of pages: "
        f"{load} ({os.cpu_count()} cores)"
    )


def main() -> int:
    args = parse()
    if args.child:
        return child(args)
    from benchapp import stack

    from consent.transparency import heads

    # One signing key for the whole run, inherited by the children.
    os.environ["CONSENT_LOG_KEY"] = heads.private_key_pem(heads.generate_private_key()).decode()
    options = PG_OPTIONS | dict(option.split("=", 1) for option in args.pg_option)
    results = run_sizes(args, options)
    small, large = sorted(results)
    rows, details, flagged = table(results)
    stack.print_table(
        f"Records at scale: server time per admin page (median of {args.repeat} rounds), "
        "purge, sealing, verify",
        rows,
        ["what", f"N/10 = {small:,}", f"N = {large:,}", "N / (N/10)", "bar"],
    )
    print()
    print("\n".join(details))
    for records in (small, large):
        print(f"\nN = {records:,}: {describe(results[records]['setup'])}")
    for found in results[large].get("plans", []):
        lines = found["plan"].splitlines()
        if len(lines) > PLAN_LINES:
            lines = [*lines[:PLAN_LINES], f"... ({len(lines) - PLAN_LINES} more lines in the JSON)"]
        pages = found["pages"]
        print(
            f"\n--- {found['ms']:,.0f} ms, among the slowest queries of {len(pages)} page(s) "
            f"over {PAGE_BAR_MS:.0f} ms ({', '.join(pages[:3])}{', ...' if len(pages) > 3 else ''}):"
            f"\n{found['sql'][:2000]}\n" + "\n".join(lines)
        )
    path = stack.save(
        "records_at_scale",
        {
            "records": large,
            "rounds": args.repeat,
            "pg_options": options,
            "bars": {"page_ms": PAGE_BAR_MS, "purge_ms": PURGE_BAR_MS, "ratio": RATIO_BAR},
            "sizes": {str(n): results[n] for n in (small, large)},
        },
    )
    print(f"\nwritten to {path}; {flagged} figures over their bar")
    failed = any(
        e.get("ok") is False or e.get("status", 200) != 200
        for r in results.values()
        for e in r["entries"]
    )
    if failed:
        print("FAILED: a page did not answer 200, or the purge or verify_audit went wrong")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
