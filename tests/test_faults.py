"""Faults in production mode, with real servers: Redis killed, PostgreSQL restarted, a
Celery worker killed mid-task. What must hold: no acknowledged decision is lost, no 500,
and work resumes by itself once the service is back."""

import subprocess
import sys
import time
from dataclasses import replace

import psycopg
import pytest
from django.db import transaction

from consent.models import ConsentRecord
from consent.transparency import log, verify
from tests.appserver import (
    CONSENT_BODY,
    SITE_ORIGIN,
    Clients,
    Outcome,
    get,
    post_consent,
    production_env,
    start_gunicorn,
    wait_until,
)
from tests.harness import (
    ROOT,
    PostgresServer,
    RedisServer,
    database_url_for_workers,
    start_celery_worker,
)
from tests.test_load import assert_every_201_has_its_row_and_no_row_lacks_one

pytestmark = pytest.mark.services


def sealed_records() -> int:
    return ConsentRecord.objects.exclude(leaf_index=None).count()


def assert_sealed_once_each() -> None:
    """Every record is in the log, each at its own leaf, and the log verifies."""
    assert log.unsealed_count() == 0
    assert sealed_records() == ConsentRecord.objects.count()
    assert verify.verify().finding is None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_killing_redis_degrades_cache_and_throttles_but_never_the_writes(site, tmp_path):
    redis = RedisServer()
    redis.start()
    database = database_url_for_workers()
    server = start_gunicorn(production_env(database, redis.url), tmp_path / "gunicorn.log")
    worker = start_celery_worker(redis.url, database, tmp_path / "worker.log")
    revived = replace(redis, process=None)
    try:
        assert get(server.port, "/c/demo.js").status == 200
        clients = Clients(server.port, clients=40, per_client=10).start()
        clients.wait_for(100)
        redis.kill()
        killed_after = clients.answered
        script_while_down = get(server.port, "/c/demo.js")
        outcomes = clients.join()

        assert killed_after < len(outcomes), "the run ended before Redis was killed"
        assert [o.error for o in outcomes if o.error] == []
        assert {o.answer.status for o in outcomes} == {201}, server.output()
        assert_every_201_has_its_row_and_no_row_lacks_one(outcomes)
        assert script_while_down.status == 200

        # Redis back, empty as after a crash: writes go on and Celery work sent now runs.
        revived.start()
        assert post_consent(server.port, CONSENT_BODY).status == 201
        worker.client().send_task("consent.tasks.seal_audit_log")
        wait_until(
            lambda: sealed_records() == ConsentRecord.objects.count(),
            timeout=60,
            message="the task sent after Redis came back did not run\n" + worker.output(),
        )
        assert_sealed_once_each()
    finally:
        worker.kill()
        server.stop()
        revived.kill()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_task_whose_worker_is_killed_runs_again_on_a_new_worker(site, redis_server, tmp_path):
    for _ in range(5):
        ConsentRecord.objects.create(
            site=site,
            policy_version=1,
            texts_hash="0" * 64,
            categories={},
            method="custom",
            expires_at="2100-01-01T00:00Z",
        )
    database = database_url_for_workers()
    # A dead worker's unacknowledged task goes back to the queue after this many seconds.
    handover = {"CELERY_VISIBILITY_TIMEOUT": "2"}
    first = start_celery_worker(redis_server.url, database, tmp_path / "first.log", handover)
    try:
        # Hold the log's lock (PostgreSQL: the advisory lock; SQLite: the write lock of an
        # IMMEDIATE transaction), so the task is certainly mid-way when its worker dies.
        with transaction.atomic():
            log.lock()
            first.client().send_task("consent.tasks.seal_audit_log")
            wait_until(lambda: "seal_audit_log" in first.output(), 30, first.output())
            time.sleep(1)
            first.kill()
        assert "succeeded" not in first.output()
        assert sealed_records() == 0

        time.sleep(2.5)
        second = start_celery_worker(redis_server.url, database, tmp_path / "second.log", handover)
        try:
            wait_until(lambda: sealed_records() == 5, 60, second.output())
            time.sleep(1)
            assert second.output().count("succeeded") == 1
        finally:
            second.kill()
    finally:
        first.kill()
    assert_sealed_once_each()


@pytest.fixture
def restartable_postgres(postgres_server, tmp_path):
    """A PostgreSQL of this test's own, migrated and seeded, so restarting it disturbs no
    other test's connection."""
    server = PostgresServer()
    server.init()
    server.start()
    try:
        with psycopg.connect(server.url(), autocommit=True) as connection:
            connection.execute("CREATE DATABASE consent")
        env = production_env(server.url("consent"))
        for command in (
            ["migrate", "--verbosity", "0"],
            ["seed_demo", "--no-users", "--origin", SITE_ORIGIN, "--verbosity", "0"],
        ):
            subprocess.run(
                [sys.executable, "manage.py", *command],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
        yield server
    finally:
        server.stop("immediate")
        server.remove()


def stored_records(server: PostgresServer) -> dict[int, str]:
    with psycopg.connect(server.url("consent")) as connection:
        rows = connection.execute("SELECT id, consent_id FROM consent_consentrecord").fetchall()
    return {pk: str(consent_id) for pk, consent_id in rows}


def test_a_postgresql_restart_is_a_503_with_retry_after_and_then_writes_resume(
    restartable_postgres, tmp_path
):
    server = start_gunicorn(
        production_env(restartable_postgres.url("consent")), tmp_path / "gunicorn.log"
    )
    try:
        clients = Clients(server.port, clients=20, per_client=40).start()
        clients.wait_for(100)
        restartable_postgres.stop("fast")
        clients.wait_for(clients.answered + 100)
        restartable_postgres.start()
        outcomes = clients.join()

        assert [o.error for o in outcomes if o.error] == []
        statuses = [o.answer.status for o in outcomes]
        assert set(statuses) == {201, 503}, server.output()
        unavailable = [o for o in outcomes if o.answer.status == 503]
        assert {o.answer.headers.get("retry-after") for o in unavailable} == {"5"}

        # The banner keeps what got a 503 and sends it again later: the server takes it.
        retried = [
            Outcome(o.sent, post_consent(server.port, CONSENT_BODY | {"consent_id": o.sent}))
            for o in unavailable
            if o.sent
        ]
        assert {o.answer.status for o in retried} == {201}, server.output()

        acknowledged = {
            o.answer.body["record_id"]: o.answer.body["consent_id"]
            for o in outcomes + retried
            if o.answer.status == 201
        }
        assert stored_records(restartable_postgres) == acknowledged
    finally:
        server.stop()
