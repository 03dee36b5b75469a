"""Migration 0009: the old hash chain is verified once; its records and events become the
log's first leaves; a chain that does not verify stops the migration."""

import hashlib
import importlib
import os
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from consent.models import AuditEvent, ConsentRecord
from consent.transparency import log, verify

BEFORE = [("consent", "0008_privacy_role")]
# Every migration: the tests then use today's models, whose columns later ones add.
AFTER = MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes("consent")
MIGRATION = importlib.import_module("consent.migrations.0009_transparency_log")

# serialized_rollback: the roles and categories the migrations made are back for the tests
# after this one, which empties the tables.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.fixture
def old_schema():
    apps = migrate(BEFORE)
    yield apps
    # Whatever the test left in the old tables, later tests get today's schema.
    os.environ["CONSENT_MIGRATE_UNVERIFIED_CHAIN"] = "1"
    try:
        migrate(AFTER)
    finally:
        del os.environ["CONSENT_MIGRATE_UNVERIFIED_CHAIN"]


def old_data(apps, records: int = 4) -> None:
    """Records, an event and their chain, as the old code wrote and sealed them."""
    Site = apps.get_model("consent", "Site")
    Record = apps.get_model("consent", "ConsentRecord")
    Event = apps.get_model("consent", "AuditEvent")
    ChainLink = apps.get_model("consent", "ChainLink")
    site = Site.objects.create(name="Old shop", key="old-shop")
    now = timezone.now()
    rows = [
        (
            "record",
            Record.objects.create(
                consent_id=uuid.uuid4(),
                site_id=site.pk,
                policy_version=1,
                texts_hash="0" * 64,
                categories={"required": True, "functional": i % 2 == 0},
                method="custom",
                created_at=now,
                expires_at=now,
            ),
        )
        for i in range(records)
    ]
    rows.append(("event", Event.objects.create(actor="admin", action="change", object_type="x")))
    prev = MIGRATION.GENESIS
    for seq, (kind, row) in enumerate(rows, start=1):
        digest = MIGRATION._digest(row)
        link = hashlib.sha256(f"{prev}|{kind}|{row.pk}|{digest}".encode()).hexdigest()
        ChainLink.objects.create(
            seq=seq, kind=kind, row_id=row.pk, digest=digest, prev_hash=prev, hash=link
        )
        prev = link


def test_a_verified_chain_becomes_the_first_leaves(old_schema):
    old_data(old_schema)

    migrate(AFTER)

    assert "consent_chainlink" not in connection.introspection.table_names()
    salts = [bytes(r.salt) for r in ConsentRecord.objects.all()] + [
        bytes(e.salt) for e in AuditEvent.objects.all()
    ]
    assert len(salts) == 5 and len(set(salts)) == 5, "every row has a salt of its own"
    sealed = log.seal()
    assert sealed.leaves == 5 and sealed.head is not None and sealed.head.tree_size == 5
    assert verify.verify().finding is None
    call_command("verify_audit")


def test_a_chain_that_does_not_verify_stops_the_migration(old_schema, monkeypatch):
    old_data(old_schema)
    Record = old_schema.get_model("consent", "ConsentRecord")
    Record.objects.filter(pk=Record.objects.order_by("pk")[1].pk).update(method="accept_all")

    with pytest.raises(RuntimeError, match="differs from what was sealed"):
        migrate(AFTER)

    monkeypatch.setenv("CONSENT_MIGRATE_UNVERIFIED_CHAIN", "1")
    migrate(AFTER)  # told to: it goes on, and the log starts from what the database holds
    assert log.seal().leaves == 5


def test_a_forged_erase_event_excuses_no_missing_record(old_schema):
    """The old chain's known hole: sealed records deleted, and an erase event that was never
    sealed naming every id. The migration must not take that event's word."""
    old_data(old_schema)
    Record = old_schema.get_model("consent", "ConsentRecord")
    Event = old_schema.get_model("consent", "AuditEvent")
    Record.objects.filter(pk=Record.objects.order_by("pk").first().pk).delete()
    Event.objects.create(
        actor="admin",
        action="erase",
        object_type="consent.ConsentRecord",
        data={"kind": "record", "removed_ids": "1-999999999"},
    )

    with pytest.raises(RuntimeError, match="is gone and no erasure names it"):
        migrate(AFTER)
