"""The consent write path: what it costs the database and what it answers."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent import records
from consent.api.serializers import ReceiptSerializer
from consent.models import ConsentRecord, Method
from consent.policy import Signals
from consent.siteconfig import get_bundle
from tests.appserver import CONSENT_BODY, SITE_ORIGIN

pytestmark = pytest.mark.django_db
URL = "/api/v1/sites/demo/consents"


def test_the_receipt_needs_no_query_once_the_row_is_stored(site, client):
    """A database lost right after the INSERT must not turn a stored decision into a 503,
    which the banner would then send again."""
    headers = {"Origin": SITE_ORIGIN}
    client.post(URL, CONSENT_BODY, content_type="application/json", headers=headers)
    with CaptureQueriesContext(connection) as captured:
        response = client.post(URL, CONSENT_BODY, content_type="application/json", headers=headers)
    assert response.status_code == 201
    # The test's own transaction adds a savepoint around the INSERT; a request has none.
    statements = [
        q["sql"].split()[0]
        for q in captured.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]
    assert statements == ["INSERT"]


@pytest.mark.parametrize("signals", [Signals(), Signals(gpc=True)])
def test_the_receipt_is_what_the_documented_serializer_renders(site, signals):
    record = records.record_consent(
        get_bundle("demo"),
        categories={"functional": True, "advertising": True},
        policy_version=1,
        method=Method.ACCEPT_ALL,
        signals=signals,
        consent_id=uuid.uuid4(),
        language="de-AT",
        page_url="https://shop.example/a?b=c",
        ip="203.0.113.9",
    )
    stored = ConsentRecord.objects.select_related("site").get(pk=record.pk)
    assert records.receipt(record) == ReceiptSerializer(stored).data
