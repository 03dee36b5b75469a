"""The transparency log replaces the hash chain (issue 12).

The existing chain is verified once, here, as ``verify_audit`` verified it; a chain that
does not verify stops the migration (CONSENT_MIGRATE_UNVERIFIED_CHAIN=1 goes on anyway,
and says so). Every existing record and event then gets a salt of its own and waits for
the sealer, which makes them the log's first leaves; the ChainLink table goes away.
"""

import hashlib
import json
import os
import secrets
import uuid
from datetime import UTC, datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import migrations, models

import consent.models

GENESIS = "0" * 64
BATCH = 2000


def _digest(row) -> str:
    """The chain's digest of a row, as consent.models.AppendOnlyModel.digest made it."""
    values = {}
    for field in row._meta.concrete_fields:
        value = getattr(row, field.attname)
        if value is None:
            continue
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat(timespec="microseconds")
        values[field.attname] = value
    text = json.dumps(values, sort_keys=True, cls=DjangoJSONEncoder, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _removed(AuditEvent, ChainLink) -> dict[str, list[tuple[int, int]]]:
    """The id ranges that sealed erase and purge events name. An event the chain never
    sealed excuses nothing: forging one was how the chain could be fooled."""
    ranges: dict[str, list[tuple[int, int]]] = {"record": [], "event": []}
    sealed = ChainLink.objects.filter(kind="event").values("row_id")
    for data in AuditEvent.objects.filter(action__in=("erase", "purge"), id__in=sealed).values_list(
        "data", flat=True
    ):
        for part in filter(None, data.get("removed_ids", "").split(",")):
            low, _, high = part.partition("-")
            ranges.setdefault(data.get("kind", "record"), []).append((int(low), int(high or low)))
    return ranges


def verify_chain(apps, schema_editor):
    ChainLink = apps.get_model("consent", "ChainLink")
    kinds = {
        "record": apps.get_model("consent", "ConsentRecord"),
        "event": apps.get_model("consent", "AuditEvent"),
    }
    removed = _removed(kinds["event"], ChainLink)
    prev, last_seq, problem = GENESIS, 0, None
    while problem is None:
        links = list(ChainLink.objects.filter(seq__gt=last_seq).order_by("seq")[:BATCH])
        if not links:
            break
        rows = {
            kind: model.objects.in_bulk([lk.row_id for lk in links if lk.kind == kind])
            for kind, model in kinds.items()
        }
        for link in links:
            expected = hashlib.sha256(
                f"{prev}|{link.kind}|{link.row_id}|{link.digest}".encode()
            ).hexdigest()
            row = rows[link.kind].get(link.row_id)
            if link.seq != last_seq + 1 or link.prev_hash != prev or link.hash != expected:
                problem = f"link {link.seq} does not follow from the one before"
            elif row is None and not any(
                low <= link.row_id <= high for low, high in removed.get(link.kind, [])
            ):
                problem = f"{link.kind} #{link.row_id} is gone and no erasure names it"
            elif row is not None and _digest(row) != link.digest:
                problem = f"{link.kind} #{link.row_id} differs from what was sealed"
            if problem:
                break
            prev, last_seq = link.hash, link.seq
    if problem:
        if os.environ.get("CONSENT_MIGRATE_UNVERIFIED_CHAIN") != "1":
            raise RuntimeError(
                f"The audit chain does not verify ({problem}). Find out why before the "
                "transparency log starts from this data; CONSENT_MIGRATE_UNVERIFIED_CHAIN=1 "
                "migrates anyway."
            )
        print(f"\n  the audit chain did not verify ({problem}); migrating anyway")


def salt_rows(apps, schema_editor):
    """A salt of its own for every existing row (AddField would give them all one)."""
    connection = schema_editor.connection
    for name in ("ConsentRecord", "AuditEvent"):
        model = apps.get_model("consent", name)
        table = connection.ops.quote_name(model._meta.db_table)
        ids = model.objects.order_by("id").values_list("id", flat=True)
        last = 0
        while True:
            batch = list(ids.filter(id__gt=last)[:BATCH])
            if not batch:
                break
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {table} SET salt = %s WHERE id = %s",  # noqa: S608
                    [(secrets.token_bytes(16), row_id) for row_id in batch],
                )
            last = batch[-1]


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0008_privacy_role"),
    ]

    operations = [
        migrations.RunPython(verify_chain, migrations.RunPython.noop),
        migrations.AddField(
            model_name="auditevent",
            name="salt",
            field=models.BinaryField(max_length=16, null=True),
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="salt",
            field=models.BinaryField(max_length=16, null=True),
        ),
        migrations.RunPython(salt_rows, migrations.RunPython.noop),
        migrations.DeleteModel(
            name="ChainLink",
        ),
        migrations.CreateModel(
            name="LogTile",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("level", models.SmallIntegerField()),
                ("index", models.BigIntegerField()),
                ("hashes", models.BinaryField()),
            ],
        ),
        migrations.CreateModel(
            name="TreeHead",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("tree_size", models.BigIntegerField(unique=True)),
                ("root_hash", models.BinaryField(max_length=32)),
                (
                    "timestamp",
                    models.BigIntegerField(help_text="Milliseconds since 1970-01-01 UTC"),
                ),
                ("signature", models.BinaryField(max_length=64)),
                ("key_id", models.CharField(max_length=16)),
            ],
            options={
                "ordering": ["-tree_size"],
            },
        ),
        migrations.AddField(
            model_name="auditevent",
            name="leaf_index",
            field=models.BigIntegerField(editable=False, null=True, unique=True),
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="leaf_index",
            field=models.BigIntegerField(editable=False, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name="consentrecord",
            name="consent_id",
            field=models.UUIDField(default=uuid.uuid4, null=True),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("leaf_index", None)), fields=["id"], name="event_unsealed"
            ),
        ),
        migrations.AddIndex(
            model_name="consentrecord",
            index=models.Index(
                condition=models.Q(("leaf_index", None)), fields=["id"], name="record_unsealed"
            ),
        ),
        migrations.AddConstraint(
            model_name="logtile",
            constraint=models.UniqueConstraint(fields=("level", "index"), name="log_tile_key"),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="salt",
            field=models.BinaryField(default=consent.models.new_salt, max_length=16, null=True),
        ),
        migrations.AlterField(
            model_name="consentrecord",
            name="salt",
            field=models.BinaryField(default=consent.models.new_salt, max_length=16, null=True),
        ),
    ]
