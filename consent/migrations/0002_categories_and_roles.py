"""The three categories every site starts with, and the Marketing ops group."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CATEGORIES = [
    (
        "required",
        "Required",
        True,
        0,
        "Essential for the website to function (e.g., secure log-in or remembering where you "
        "are at in the order process). You cannot opt-out of required cookies.",
    ),
    (
        "functional",
        "Functional",
        False,
        1,
        "Used to remember your choices (e.g., language or region) and analyze site usage to "
        "improve customer experience and site performance. You can opt-out of functional "
        "cookies, however some site features may not work properly.",
    ),
    (
        "advertising",
        "Advertising",
        False,
        2,
        "Used to show you content and ads that are relevant to your interests. You can opt-out "
        "of advertising cookies at any time.",
    ),
]

# Marketing ops edit what visitors are told and read the evidence; they never change or
# delete records or audit events (those have no change/delete permission granted here).
MARKETING_OPS = {
    "category": ("view", "change"),
    "vendor": ("view", "add", "change", "delete"),
    "cookiedefinition": ("view", "add", "change", "delete"),
    "bannertext": ("view", "add", "change", "delete"),
    "policyversion": ("view", "add"),
    "site": ("view", "change"),
    "consentrecord": ("view",),
    "auditevent": ("view",),
    "chainlink": ("view",),
}


def create(apps, schema_editor):
    Category = apps.get_model("consent", "Category")
    for slug, name, required, order, description in CATEGORIES:
        Category.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "required": required,
                "order": order,
                "description": description,
            },
        )
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


def remove(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Marketing ops").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create, remove)]
