"""AuditEvents for every change to what visitors are told.

Signals catch every write path (admin, shell, data migrations, management commands); the
admin names the acting user through ``acting_as``. Anything else is logged as "system".
"""

import contextlib
import contextvars
import json
from collections.abc import Iterator

from django.core import serializers
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save

from . import models as m

_actor: contextvars.ContextVar[str] = contextvars.ContextVar("consent_actor", default="system")

AUDITED_MODELS = (
    m.Site,
    m.Category,
    m.Vendor,
    m.CookieDefinition,
    m.PolicyVersion,
    m.BannerText,
    m.RegionalRule,
)


@contextlib.contextmanager
def acting_as(actor: str) -> Iterator[None]:
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> str:
    return _actor.get()


def snapshot(instance: models.Model) -> dict:
    """Every field of the row, as JSON-safe values."""
    (data,) = serializers.serialize("python", [instance])
    return json.loads(json.dumps(data["fields"], cls=DjangoJSONEncoder))


def site_key_of(instance: models.Model) -> str:
    if isinstance(instance, m.Site):
        return instance.key
    site = getattr(instance, "site", None)
    return site.key if site is not None else ""


def log_event(
    action: str, instance: models.Model | None = None, *, actor: str | None = None, **fields
) -> m.AuditEvent:
    """One event; ``actor`` defaults to whoever ``acting_as`` names."""
    if instance is not None:
        fields.setdefault("object_type", instance._meta.label)
        fields.setdefault("object_id", str(instance.pk))
        fields.setdefault("object_repr", str(instance)[:200])
        fields.setdefault("site_key", site_key_of(instance))
    return m.AuditEvent.objects.create(actor=actor or current_actor(), action=action, **fields)


def _remember_before(sender, instance, raw=False, **kwargs):
    if raw or instance.pk is None:
        instance._audit_before = None
        return
    stored = sender.objects.filter(pk=instance.pk).first()
    instance._audit_before = snapshot(stored) if stored is not None else None


def _log_save(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    before = getattr(instance, "_audit_before", None)
    after = snapshot(instance)
    if not created and before == after:
        return
    log_event("create" if created else "update", instance, before=before, after=after)


def _log_delete(sender, instance, **kwargs):
    log_event("delete", instance, before=snapshot(instance))


def connect() -> None:
    for model in AUDITED_MODELS:
        uid = f"consent-audit-{model.__name__}"
        pre_save.connect(_remember_before, sender=model, dispatch_uid=uid)
        post_save.connect(_log_save, sender=model, dispatch_uid=uid)
        post_delete.connect(_log_delete, sender=model, dispatch_uid=uid)
