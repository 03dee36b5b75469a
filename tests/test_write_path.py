"""The consent write path: what it costs the database once the row is stored."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

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
