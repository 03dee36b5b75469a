"""The sealer's summary of each month's consent records in the log (SealedMonth,
SealedRun), which the retention purge reads instead of the month's rows.

Nothing is filled in for months sealed before: the purge finds that a month's summary does
not reach its first leaf and reads those months' rows, as it did before.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0015_adpc_method"),
    ]

    operations = [
        migrations.CreateModel(
            name="SealedMonth",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField(help_text="Its first day")),
                ("site_id", models.BigIntegerField()),
                ("records", models.BigIntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("month", "site_id"), name="sealed_month_key")
                ],
            },
        ),
        migrations.CreateModel(
            name="SealedRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField(help_text="Its first day")),
                ("first_leaf", models.BigIntegerField()),
                ("last_leaf", models.BigIntegerField()),
            ],
            options={
                "indexes": [models.Index(fields=["month", "last_leaf"], name="sealed_run_end")],
            },
        ),
    ]
