"""consent.db_routers where there is no replica: the embedded default, and the test
database. The routing itself, against a real standby, is tests/scale/test_replica.py."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.template import engines
from django.template.response import TemplateResponse

from consent.db_routers import ReplicaRouter, reads_from_replica, replica_for_get
from consent.models import ConsentRecord
from tests.ops import decide


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_without_a_replica_the_block_reads_from_the_primary(site):
    record = decide(datetime(2026, 3, 1, tzinfo=UTC))
    assert not connection.in_atomic_block, "outside a transaction, where a replica would serve"

    with reads_from_replica():
        chosen = ReplicaRouter().db_for_read(ConsentRecord)
        found = ConsentRecord.objects.get(pk=record.pk)

    assert chosen == "default"
    assert found.consent_id == record.consent_id


def test_migrations_run_on_the_primary_only():
    router = ReplicaRouter()

    assert router.allow_migrate("default", "consent") is True
    assert router.allow_migrate("replica", "consent") is False


def test_a_get_is_rendered_inside_the_block_and_a_post_is_left_to_the_handler(rf):
    # A TemplateResponse runs the changelist's queries when it is rendered.
    template = engines["django"].from_string("{{ count }}")
    view = replica_for_get(lambda request: TemplateResponse(request, template, {"count": 1}))

    got, posted = view(rf.get("/")), view(rf.post("/"))

    assert got.is_rendered and got.content == b"1"
    assert not posted.is_rendered
