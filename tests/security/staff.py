"""Staff users of the console as the roles make them: a group, and the sites granted."""

import uuid

from django.contrib.auth.models import Group, Permission, User
from django.test import Client

from consent import records
from consent.bundles import get_bundle
from consent.models import ConsentRecord, Site
from consent.rules import Signals


def staff_client(
    username: str, group: str | None = None, sites: tuple[Site, ...] = (), perms: tuple = ()
) -> Client:
    """A logged-in test client for a new staff user in ``group``, granted ``sites``, with
    any extra ``perms`` ("consent.change_category")."""
    user = User.objects.create_user(username, password="x", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    for site in sites:
        site.staff.add(user)
    client = Client()
    client.force_login(user)
    return client


def superuser_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="x"))
    return client


def decide(site: Site, consent_id: uuid.UUID | None = None, **choices: bool) -> ConsentRecord:
    """One decision recorded for ``site``, as the consent API records it."""
    record, _ = records.record_consent(
        get_bundle(site.key),
        categories={"functional": True, "advertising": False} | choices,
        policy_version=1,
        method="custom",
        signals=Signals(),
        consent_id=consent_id,
        language="en",
        page_url="https://shop.example/",
        ip="203.0.113.9",
    )
    return record
