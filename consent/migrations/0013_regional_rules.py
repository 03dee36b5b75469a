"""Regional rules: which privacy model (opt-in, opt-out, notice) applies where, per site."""

import importlib

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

_0008 = importlib.import_module("consent.migrations.0008_privacy_role")
EDIT = ("add_regionalrule", "change_regionalrule", "delete_regionalrule", "view_regionalrule")


def roles(apps, schema_editor):
    """Which law applies where is the Privacy role's call; Marketing ops see it."""
    Group = apps.get_model("auth", "Group")
    privacy, _ = Group.objects.get_or_create(name="Privacy")
    privacy.permissions.add(*_0008._permissions(apps, EDIT))
    marketing, _ = Group.objects.get_or_create(name="Marketing ops")
    marketing.permissions.add(*_0008._permissions(apps, ("view_regionalrule",)))


def no_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=("Privacy", "Marketing ops")):
        group.permissions.remove(*_0008._permissions(apps, EDIT))


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0012_site_auto_blocking"),
    ]

    operations = [
        migrations.AddField(
            model_name="site",
            name="default_privacy_model",
            field=models.CharField(
                choices=[
                    ("opt_in", "Opt-in: ask first; nothing optional before consent (GDPR)"),
                    (
                        "opt_out",
                        "Opt-out: a notice and a Your Privacy Choices link; advertising on until the visitor or a signal opts out (US state laws)",
                    ),
                    ("notice", "Notice only: say what is used; no choice asked"),
                ],
                default="opt_in",
                help_text="For visitors no regional rule covers, and for every visitor when the platform is told no region (CONSENT_COUNTRY_HEADER unset).",
                max_length=8,
                verbose_name="privacy model elsewhere",
            ),
        ),
        migrations.AddField(
            model_name="site",
            name="gpc_updated_on",
            field=models.DateField(
                default=django.utils.timezone.localdate,
                help_text="The date /.well-known/gpc.json reports; moved to today whenever the regional rules or the model elsewhere change.",
                verbose_name="GPC handling last changed",
            ),
        ),
        migrations.CreateModel(
            name="RegionalRule",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(help_text="e.g. EU/EEA", max_length=100)),
                (
                    "regions",
                    models.TextField(
                        help_text="ISO 3166 codes separated by spaces or commas: countries (DE, GB) and subdivisions (US-CA)."
                    ),
                ),
                (
                    "privacy_model",
                    models.CharField(
                        choices=[
                            ("opt_in", "Opt-in: ask first; nothing optional before consent (GDPR)"),
                            (
                                "opt_out",
                                "Opt-out: a notice and a Your Privacy Choices link; advertising on until the visitor or a signal opts out (US state laws)",
                            ),
                            ("notice", "Notice only: say what is used; no choice asked"),
                        ],
                        max_length=8,
                    ),
                ),
                (
                    "site",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="regional_rules",
                        to="consent.site",
                    ),
                ),
            ],
            options={
                "ordering": ["site", "name"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("site", "name"), name="regional_rule_unique_name"
                    )
                ],
            },
        ),
        migrations.RunPython(roles, no_roles),
    ]
