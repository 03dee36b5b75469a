"""What every benchmark needs: PostgreSQL and Redis started for the run, the platform
migrated and seeded, gunicorn, wrk, and a table of numbers side by side.

``interleaved`` measures targets in turns; a target may also name the servers whose CPU
its requests cost (a ``cpu.Meter``) and count the rows its work leaves in the database,
read before and after each of its rounds: then it reports server CPU per request and rows
written per answered request beside its req/s."""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.appserver import AppServer, production_env, start_gunicorn  # noqa: E402
from tests.harness import PostgresServer, RedisServer  # noqa: E402

from .cpu import Meter, postmaster_pid  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CONNECTIONS = int(os.environ.get("CONNECTIONS", "32"))
PYTHON = str(ROOT / ".venv" / "bin" / "python")


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


class Stack:
    """PostgreSQL and Redis in a temporary directory, the platform migrated and seeded."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="consent-bench-"))
        self.postgres = PostgresServer()
        self.redis = RedisServer()
        self.servers: list[AppServer] = []
        self._connections: list = []

    def database_url(self, name: str = "consent") -> str:
        return self.postgres.url(name)

    def env(self, **extra: str) -> dict[str, str]:
        return (
            production_env(
                self.database_url(),
                self.redis.url,
                DJANGO_SETTINGS_MODULE="benchapp.settings",
                PYTHONPATH=str(ROOT / "bench"),
                VAR_DIR=str(self.directory / "var"),
                # Visitors come through one proxy (wrk sets X-Forwarded-For per request) and
                # are throttled at the production default.
                NUM_PROXIES="1",
                CONSENT_THROTTLE_RATE="60/min",
                # One site takes every decision of the run: its ceiling counts but never
                # refuses (the production default is for one site's real visitors).
                CONSENT_SITE_THROTTLE_RATE="100000000/min",
            )
            | extra
        )

    def manage(self, *args: str) -> str:
        return run([PYTHON, "manage.py", *args], cwd=ROOT, env=self.env()).stdout

    def start(self) -> "Stack":
        self.postgres.init()
        self.postgres.start()
        self.redis.start()
        self.create_database("consent")
        self.manage("migrate", "--verbosity", "0")
        self.manage("seed_demo", "--no-users", "--origin", "https://shop.example")
        return self

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.postgres.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')

    def sql(self, statement: str, database: str = "consent") -> list[tuple]:
        import psycopg

        with psycopg.connect(self.postgres.url(database), autocommit=True) as connection:
            cursor = connection.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def rows(self, database: str, tables: list[str]) -> Callable[[], int]:
        """A counter of the rows in ``tables``, on one connection kept open for the run
        (a backend that comes and goes would add its own start-up to the CPU measured)."""
        import psycopg
        from psycopg import sql

        if not tables:
            return lambda: 0
        connection = psycopg.connect(self.postgres.url(database), autocommit=True)
        self._connections.append(connection)
        counts = [sql.SQL("(SELECT count(*) FROM {})").format(sql.Identifier(t)) for t in tables]
        statement = sql.SQL("SELECT ") + sql.SQL(" + ").join(counts)

        def count() -> int:
            return connection.execute(statement).fetchone()[0]

        return count

    def postmaster_pid(self) -> int:
        return postmaster_pid(self.postgres.data)

    def gunicorn(self, env: dict[str, str] | None = None, **options) -> AppServer:
        log = self.directory / f"gunicorn-{len(self.servers)}.log"
        server = start_gunicorn(env or self.env(), log, **options)
        self.servers.append(server)
        return server

    def stop(self) -> None:
        for connection in self._connections:
            connection.close()
        for server in self.servers:
            server.stop()
        self.redis.kill()
        self.postgres.stop("immediate")
        self.postgres.remove()
        shutil.rmtree(self.redis.directory, ignore_errors=True)
        shutil.rmtree(self.directory, ignore_errors=True)


@contextmanager
def stack():
    started = Stack()
    try:
        yield started.start()
    finally:
        started.stop()


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is not installed: apt-get install wrk")
    print("installing wrk (apt-get install wrk) ...", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or sys.exit("wrk did not install")


def lua_post(body: dict | str, headers: dict[str, str], directory: Path) -> Path:
    """A wrk script that POSTs ``body`` (a dict: as JSON; a str: as it is) with
    ``headers``, each request from another visitor: a random X-Forwarded-For, which the
    server trusts (NUM_PROXIES=1), so the per-client throttle counts visitors as it does
    in production, not one giant client."""
    text = body if isinstance(body, str) else json.dumps(body)
    script = directory / f"post-{abs(hash((text, tuple(sorted(headers.items())))))}.lua"
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(text)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    lines += [
        "request = function()",
        '  wrk.headers["X-Forwarded-For"] = "10." .. math.random(0, 255) .. "." ..',
        '    math.random(0, 255) .. "." .. math.random(1, 254)',
        "  return wrk.format()",
        "end",
    ]
    script.write_text("\n".join(lines) + "\n")
    return script


def _milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, seconds: int, script: Path | None = None, headers: dict | None = None) -> dict:
    args = [
        ensure_wrk(),
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    if script:
        args += ["-s", str(script)]
    out = run([*args, url]).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.MULTILINE))
    if set(latency) != {"50", "99"}:
        raise RuntimeError(f"wrk measured nothing at {url}:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)$", out, re.MULTILINE)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        # Every response wrk read in the run, whatever its status.
        "requests": int(re.search(r"(\d+) requests in ", out).group(1)),
        "p50_ms": _milliseconds(latency["50"]),
        "p99_ms": _milliseconds(latency["99"]),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def measured_round(
    seconds: int,
    url: str,
    script: Path | None = None,
    headers: dict | None = None,
    cpu: Meter | None = None,
    rows: Callable[[], int] | None = None,
) -> dict:
    """One wrk run at ``url``. With ``cpu``: the CPU seconds its servers used meanwhile,
    per server. With ``rows``: the rows its work added (counted just before and after,
    outside the CPU reading). Requests still in flight when wrk stops (at most one per
    connection) are not in wrk's count, though their rows and some of their CPU are: a
    bias of CONNECTIONS over the thousands of requests of a round."""
    rows_before = rows() if rows else 0
    cpu_before = cpu.read() if cpu else {}
    result = wrk(url, seconds, script, headers)
    cpu_after = cpu.read() if cpu else {}
    if rows:
        result["rows"] = rows() - rows_before
    if cpu:
        result["cpu_s"] = {name: cpu_after[name] - cpu_before[name] for name in cpu_before}
    return result


def interleaved(targets: dict[str, dict], rounds: int, seconds: int) -> dict[str, dict]:
    """Each target in turn, ``rounds`` times: drift on a shared machine hits all alike.
    ``targets``: name -> keyword arguments for ``measured_round`` (``url``, ``script``,
    ``headers``; optionally ``cpu`` and ``rows``).

    Per target: the median req/s, p50 and p99 of its rounds; with ``cpu``, the median of
    its rounds' server CPU milliseconds per request answered (``cpu_ms_per_request``) and
    per server; with ``rows``, all its rows written / all its 2xx answers
    (``rows_per_answer``)."""
    runs: dict[str, list[dict]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, kwargs in targets.items():
            runs[name].append(measured_round(seconds, **kwargs))
    summary = {}
    for name, results in runs.items():
        answered = sum(r["requests"] - r["non_2xx"] for r in results)
        summary[name] = {
            "rps": statistics.median(r["rps"] for r in results),
            "p50_ms": statistics.median(r["p50_ms"] for r in results),
            "p99_ms": statistics.median(r["p99_ms"] for r in results),
            "requests": sum(r["requests"] for r in results),
            "non_2xx": sum(r["non_2xx"] for r in results),
            "socket_errors": "; ".join(filter(None, (r["socket_errors"] for r in results))),
            "runs": [round(r["rps"]) for r in results],
        }
        if "cpu_s" in results[0]:
            per_request = [
                {k: 1000 * v / max(r["requests"], 1) for k, v in r["cpu_s"].items()}
                for r in results
            ]
            total = [sum(p.values()) for p in per_request]
            summary[name] |= {
                "cpu_ms_per_request": round(statistics.median(total), 3),
                "cpu_ms_per_request_by_server": {
                    k: round(statistics.median(p[k] for p in per_request), 3)
                    for k in per_request[0]
                },
                "cpu_ms_per_request_runs": [round(t, 3) for t in total],
            }
        if "rows" in results[0]:
            written = sum(r["rows"] for r in results)
            summary[name] |= {
                "rows_written": written,
                "rows_per_answer": round(written / answered, 3) if answered else 0.0,
            }
    return summary


def warm(url: str, script: Path | None = None, headers: dict | None = None) -> None:
    """Load first: every worker booted, caches filled, connections open, code hot."""
    wrk(url, 5, script, headers)


def print_table(title: str, rows: list[list], header: list[str]) -> None:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))


def save(name: str, results: dict) -> Path:
    """Keeps the latest figures in bench/results/NAME.json, for the README table."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    meta = {"measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count()}
    path.write_text(json.dumps(meta | results, indent=2) + "\n")
    return path
