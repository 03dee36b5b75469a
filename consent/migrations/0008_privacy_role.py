"""Roles that match the work: a Privacy group, and Marketing ops without what affects
evidence.

Marketing ops edit what visitors are told on their sites (vendors, cookies, banner
texts, policy versions, a site's banner settings), read statistics, records (consent ids
shortened) and audit events, and run cookie scans. They no longer change categories
(shared by every site: a site's own wording is in its banner texts), see the audit
chain, or request and download exports (exports hold whole consent ids).

Privacy changes what affects evidence (retention, allowed origins, category slugs),
sees whole consent ids and finds a visitor by one, exports records (access,
portability) and erases a visitor's records. Both see only the sites granted to them.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MARKETING_OPS_REVOKED = ("change_category", "view_chainlink", "view_exportjob", "add_exportjob")

PRIVACY = (
    "view_site",
    "change_site",
    "change_evidence_settings",
    "view_category",
    "change_category",
    "change_category_slug",
    "view_vendor",
    "view_cookiedefinition",
    "view_bannertext",
    "view_policyversion",
    "view_consentrecord",
    "view_consent_id",
    "erase_consentrecord",
    "view_auditevent",
    "view_chainlink",
    "view_exportjob",
    "add_exportjob",
    "delete_exportjob",
    "view_dailystat",
)


def _permissions(apps, codenames):
    app_config = apps.get_app_config("consent")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Permission = apps.get_model("auth", "Permission")
    found = list(
        Permission.objects.filter(content_type__app_label="consent", codename__in=codenames)
    )
    missing = set(codenames) - {p.codename for p in found}
    if missing:
        raise RuntimeError(f"permissions missing: {sorted(missing)}")
    return found


def forward(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    marketing, _ = Group.objects.get_or_create(name="Marketing ops")
    marketing.permissions.remove(*_permissions(apps, MARKETING_OPS_REVOKED))
    privacy, _ = Group.objects.get_or_create(name="Privacy")
    privacy.permissions.add(*_permissions(apps, PRIVACY))


def backward(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name="Privacy").delete()
    marketing, _ = Group.objects.get_or_create(name="Marketing ops")
    marketing.permissions.add(*_permissions(apps, MARKETING_OPS_REVOKED))


class Migration(migrations.Migration):
    dependencies = [("consent", "0007_evidence_grammar_roles")]
    operations = [migrations.RunPython(forward, backward)]
