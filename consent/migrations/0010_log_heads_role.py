"""The Privacy role sees the transparency log's signed heads, as it saw the hash chain;
Marketing ops do not."""

import importlib

from django.db import migrations

_0008 = importlib.import_module("consent.migrations.0008_privacy_role")


def forward(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    privacy, _ = Group.objects.get_or_create(name="Privacy")
    privacy.permissions.add(*_0008._permissions(apps, ("view_treehead",)))


def backward(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name="Privacy"):
        group.permissions.remove(*_0008._permissions(apps, ("view_treehead",)))


class Migration(migrations.Migration):
    dependencies = [("consent", "0009_transparency_log")]
    operations = [migrations.RunPython(forward, backward)]
