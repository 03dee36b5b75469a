"""The platform behind a real PgBouncer in transaction pooling mode (``--postgres`` only).

Every process here reaches PostgreSQL only through the pooler, with the settings
production uses behind one (``DB_POOLER_TRANSACTION_MODE=1``): gunicorn taking 200
concurrent clients, the sealer, ``verify_audit`` and an export. The pooler hands a
client's consecutive transactions to different server connections (tests/pgbouncer.py),
so whatever leans on a server session fails here every time.
"""

import csv
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection, transaction

from consent.models import AuditEvent, ConsentRecord, ExportJob, JobStatus, TreeHead
from consent.transparency import log
from tests.appserver import Clients, production_env, start_gunicorn, wait_until
from tests.harness import ROOT, PostgresServer
from tests.ops import decide
from tests.pgbouncer import PgBouncer
from tests.test_load import (
    CLIENTS,
    REQUESTS_PER_CLIENT,
    assert_every_201_has_its_row_and_no_row_lacks_one,
)

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

POOL_SIZE = 5
DECISIONS = 30


@pytest.fixture
def database(transactional_db) -> str:
    """The test database's name: the pooler serves it under the same name."""
    return connection.settings_dict["NAME"]


@pytest.fixture
def pgbouncer(postgres_server: PostgresServer, database) -> Iterator[PgBouncer]:
    bouncer = PgBouncer(postgres_server.port, pool_size=POOL_SIZE)
    bouncer.start()
    yield bouncer
    # Before the test database is flushed or dropped: no server connection is left on it.
    bouncer.stop()
    bouncer.remove()


def pooled_env(bouncer: PgBouncer, database: str, **extra: str) -> dict[str, str]:
    return production_env(bouncer.url(database), DB_POOLER_TRANSACTION_MODE="1") | extra


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def own_backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@contextmanager
def peak_backends(server: PostgresServer, database: str) -> Iterator[list[int]]:
    """Samples, until the block ends, how many server processes PostgreSQL runs for
    ``database`` besides this test's own connection; yields the list of samples."""
    own = own_backend_pid()
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        with psycopg.connect(server.url("postgres"), autocommit=True) as watcher:
            while not done.is_set():
                (count,) = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                    [database, own],
                ).fetchone()
                samples.append(count)
                done.wait(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join(10)


def unsealed_rows() -> int:
    return sum(
        model.objects.filter(leaf_index=None).exclude(salt=None).count()
        for model in (ConsentRecord, AuditEvent)
    )


def make_decisions(count: int) -> list[ConsentRecord]:
    start = datetime.now(UTC) - timedelta(hours=1)
    return [decide(start + timedelta(seconds=i)) for i in range(count)]


def test_the_pooler_hands_one_client_a_new_server_connection_per_transaction(pgbouncer, database):
    """The premise of every other test here: under session pooling (or without the
    pooler) one client keeps one server process."""
    servers = pgbouncer.fill_pool(database)
    with psycopg.connect(pgbouncer.url(database), autocommit=True, prepare_threshold=None) as c:
        seen = [c.execute("SELECT pg_backend_pid()").fetchone()[0] for _ in range(POOL_SIZE)]

    assert pgbouncer.pool(database)["pool_mode"] == "transaction"
    assert len(servers) == POOL_SIZE
    assert set(seen) == servers


def test_200_concurrent_clients_through_the_pooler_lose_nothing(
    site, pgbouncer, database, postgres_server, tmp_path
):
    server = start_gunicorn(pooled_env(pgbouncer, database), tmp_path / "gunicorn.log", workers=2)
    try:
        before = pgbouncer.stats(database)
        with peak_backends(postgres_server, database) as backends:
            outcomes = Clients(server.port, CLIENTS, REQUESTS_PER_CLIENT).run()
        after = pgbouncer.stats(database)
        # Django keeps each thread's connection (DB_CONN_MAX_AGE): the pooler's clients.
        clients = [c for c in pgbouncer.admin("SHOW CLIENTS") if c["database"] == database]
    finally:
        server.stop()

    assert len(outcomes) == CLIENTS * REQUESTS_PER_CLIENT
    assert [o.error for o in outcomes if o.error] == [], server.output()
    assert {o.answer.status for o in outcomes} == {201}, server.output()
    assert_every_201_has_its_row_and_no_row_lacks_one(outcomes)
    # Every transaction that stored decisions went through the pooler (decisions that
    # overlap in a process share one: consent.groupcommit), and more clients shared
    # fewer servers.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT xmin::text) FROM consent_consentrecord")
        (commits,) = cursor.fetchone()
    assert 0 < commits <= len(outcomes)
    assert after["total_xact_count"] - before["total_xact_count"] >= commits
    assert after["total_query_count"] - before["total_query_count"] >= commits
    assert len(clients) > POOL_SIZE
    assert backends, "pg_stat_activity was never sampled"
    assert 1 <= max(backends) <= POOL_SIZE, backends


def test_sealing_verifying_and_exporting_run_through_the_pooler(
    site, pgbouncer, database, tmp_path
):
    made = make_decisions(DECISIONS)
    expected = unsealed_rows()
    job = ExportJob.objects.create(format=ExportJob.Format.CSV)
    pgbouncer.fill_pool(database)
    env = pooled_env(pgbouncer, database, CONSENT_EXPORT_DIR=str(tmp_path / "exports"))
    before = pgbouncer.stats(database)

    sealed = manage(env, "seal_audit")
    verified = manage(env, "verify_audit")
    exported = manage(
        env, "shell", "--no-imports", "-c", f"from consent import exports; exports.run({job.pk})"
    )

    assert sealed.returncode == 0, sealed.stderr
    assert sealed.stdout.strip() == f"sealed {expected} rows; tree size {expected}"
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith(f"transparency log verified: {expected} leaves,")
    assert exported.returncode == 0, exported.stderr
    job.refresh_from_db()
    assert job.status == JobStatus.DONE, job.error
    with (tmp_path / "exports" / job.file_name).open(newline="") as export:
        rows = list(csv.DictReader(export))
    assert [int(row["record_id"]) for row in rows] == [r.pk for r in made]
    assert [row["consent_id"] for row in rows] == [str(r.consent_id) for r in made]
    assert pgbouncer.stats(database)["total_xact_count"] > before["total_xact_count"]


def waiting_for_the_log_lock(database: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
            "AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
            [database],
        )
        return cursor.fetchone()[0]


def test_two_sealers_at_once_through_the_pooler_append_each_row_once(
    site, pgbouncer, database, tmp_path
):
    """The sealer's lock is pg_advisory_xact_lock: it lives exactly as long as the
    transaction that holds it, which is as long as the pooler lends it a server."""
    make_decisions(DECISIONS)
    expected = unsealed_rows()
    pgbouncer.fill_pool(database)
    env = pooled_env(pgbouncer, database)
    command = [sys.executable, "manage.py", "seal_audit"]
    options = {"cwd": ROOT, "env": env, "stdout": subprocess.PIPE, "text": True}

    sealers: list[subprocess.Popen] = []
    try:
        with transaction.atomic():
            log.lock()  # held here, directly on PostgreSQL, until both sealers wait for it
            sealers = [subprocess.Popen(command, **options) for _ in range(2)]
            wait_until(
                lambda: (
                    waiting_for_the_log_lock(database) == 2
                    or any(sealer.poll() is not None for sealer in sealers)
                ),
                60,
                "both sealers waiting for the log's lock",
            )
            assert [sealer.poll() for sealer in sealers] == [None, None], "a sealer did not wait"
        outputs = sorted(sealer.communicate(timeout=60)[0].strip() for sealer in sealers)
    finally:
        for sealer in sealers:
            if sealer.poll() is None:
                sealer.kill()
                sealer.wait()

    assert [sealer.returncode for sealer in sealers] == [0, 0]
    assert outputs == ["sealed 0 rows", f"sealed {expected} rows; tree size {expected}"]
    assert list(TreeHead.objects.values_list("tree_size", flat=True)) == [expected]
    leaves = [
        index
        for model in (ConsentRecord, AuditEvent)
        for index in model.objects.exclude(leaf_index=None).values_list("leaf_index", flat=True)
    ]
    assert sorted(leaves) == list(range(expected))
    verified = manage(env, "verify_audit")
    assert verified.returncode == 0, verified.stderr


ITERATE = "from consent.models import ConsentRecord as R; print(sum(1 for _ in R.objects.iterator(chunk_size=5)))"


def test_querysets_iterate_through_the_pooler_in_pooler_mode(site, pgbouncer, database):
    make_decisions(12)
    pgbouncer.fill_pool(database)

    counted = manage(pooled_env(pgbouncer, database), "shell", "--no-imports", "-c", ITERATE)

    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.strip() == "12"


def test_without_pooler_mode_a_server_side_cursor_is_lost_between_transactions(
    site, pgbouncer, database
):
    """Why DB_POOLER_TRANSACTION_MODE exists: ``iterator()`` would otherwise declare a
    cursor on one server connection and fetch from it on another."""
    make_decisions(12)
    pgbouncer.fill_pool(database)
    env = pooled_env(pgbouncer, database, DB_POOLER_TRANSACTION_MODE="0")

    counted = manage(env, "shell", "--no-imports", "-c", ITERATE)

    assert counted.returncode != 0
    # psycopg names the server-side cursor's portal after it.
    assert '"_django_curs_' in counted.stderr
    assert "does not exist" in counted.stderr
