"""Schemathesis against /api/schema/: whatever it sends, no 5xx and every response as the
schema documents it."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from config.wsgi import application
from consent.api.throttles import ReceiptThrottle, SiteClientThrottle

# The schema cannot say which categories and policy versions a site has, nor that
# accept_all needs every category true, so a body valid by the schema may rightly be a 400:
# that one check is off. A body too large is rightly a 413. Every other check stays on,
# "no 5xx" and "every response as documented" included.
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {"enabled": False},
            "negative_data_rejection": {
                "expected-statuses": [400, 403, 404, 405, 406, 413, 415, 429]
            },
        }
    }
)
schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG)


@pytest.fixture
def in_test_transaction():
    """Calls through WSGI would close the test's database connection at the end of each
    request; Django's own test client stops that the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def unthrottled(monkeypatch):
    """One fuzzing client sends hundreds of requests a minute; the throttle is tested apart."""
    monkeypatch.setattr(SiteClientThrottle, "THROTTLE_RATES", {"consent": "1000000/min"})
    monkeypatch.setattr(ReceiptThrottle, "THROTTLE_RATES", {"receipt": "1000000/min"})


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_never_fails_and_always_answers_as_documented(
    case, site, unthrottled, in_test_transaction
):
    if "site_key" in (case.path_parameters or {}):
        case.path_parameters["site_key"] = "demo"
    case.call_and_validate()
