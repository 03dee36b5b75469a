"""Marketing ops request exports, read statistics and run cookie scans.

They never change or delete an export, a statistic or a scan's findings: those are
written by the tasks alone.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MARKETING_OPS = {
    "exportjob": ("view", "add"),
    "dailystat": ("view",),
    "cookiescan": ("view", "add"),
    "scanfinding": ("view",),
}


def grant(apps, schema_editor):
    app_config = apps.get_app_config("consent")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Marketing ops")
    for model, actions in MARKETING_OPS.items():
        for action in actions:
            group.permissions.add(
                Permission.objects.get(
                    content_type__app_label="consent", codename=f"{action}_{model}"
                )
            )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="Marketing ops").first()
    if group is None:
        return
    group.permissions.remove(
        *Permission.objects.filter(
            content_type__app_label="consent", content_type__model__in=list(MARKETING_OPS)
        )
    )


class Migration(migrations.Migration):
    dependencies = [("consent", "0003_operations")]
    operations = [migrations.RunPython(grant, revoke)]
