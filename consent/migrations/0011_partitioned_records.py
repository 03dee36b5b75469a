"""Consent records partitioned by month on PostgreSQL (consent.partitions, pg_partman).

A unique index of a partitioned table must hold its partition key, so the two unique
columns of records go first: a resent decision is found by lookup (records.record_consent)
and a leaf claimed twice by verify_audit. Then, where the server has pg_partman, the
table becomes a partitioned one, rows and all; elsewhere (SQLite, PostgreSQL without
pg_partman) it stays one table and the system check consent.W010 says so on PostgreSQL.
"""

from django.db import migrations, models


def partition(apps, schema_editor):
    from consent import partitions

    partitions.partition(schema_editor.connection)


def unpartition(apps, schema_editor):
    from consent import partitions

    partitions.unpartition(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0010_log_heads_role"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="consentrecord",
            index=models.Index(fields=["consent_id", "decision_id"], name="record_decision"),
        ),
        migrations.RemoveConstraint(
            model_name="consentrecord",
            name="record_unique_decision",
        ),
        migrations.AlterField(
            model_name="consentrecord",
            name="leaf_index",
            field=models.BigIntegerField(editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name="consentrecord",
            index=models.Index(fields=["leaf_index"], name="record_leaf"),
        ),
        migrations.RunPython(partition, unpartition),
    ]
