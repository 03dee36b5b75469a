"""ADPC (Advanced Data Protection Control): ``ADPC: withdraw=*`` or ``object=*`` refuses
every optional category like GPC, the decision records it as its method (and a conflict
with the visitor's click), enforced pages link the site's consent requests, and the
platform publishes them."""

import json
import uuid

import pytest

from consent.models import ConsentRecord
from consent.rules import Method, Signals, is_adpc_refusal


@pytest.mark.parametrize(
    ("header", "refuses"),
    [
        ("withdraw=*", True),
        ("object=*", True),
        ("consent=functional, withdraw=*", True),
        ("WITHDRAW = *", True),
        ("withdraw=functional", False),
        ("consent=*", False),
        ("", False),
        ("withdraw=*" + " " * 2000, False),  # longer than any real header: ignored
    ],
)
def test_only_a_withdrawal_or_objection_of_everything_refuses(header, refuses):
    assert is_adpc_refusal(header) is refuses
    assert Signals.from_meta({"HTTP_ADPC": header}).opt_out is refuses


def test_a_decision_under_adpc_refuses_everything_and_says_why(client, site):
    answer = client.post(
        "/api/v1/sites/demo/consents",
        json.dumps(
            {
                "consent_id": str(uuid.uuid4()),
                "policy_version": 1,
                "method": "accept_all",
                "categories": {"functional": True, "advertising": True},
            }
        ),
        content_type="application/json",
        HTTP_ADPC="withdraw=*",
    ).json()
    assert answer["method"] == Method.ADPC
    assert answer["signal_conflict"] is True
    assert ConsentRecord.objects.get().categories == {
        "functional": False,
        "advertising": False,
        "required": True,
    }


def test_enforced_pages_link_the_consent_requests_and_vary_on_adpc(client, site):
    page = client.get("/demo/")
    assert page.status_code == 200
    assert page["Link"] == '</api/v1/sites/demo/adpc>; rel="consent-requests"'
    assert "ADPC" in client.get("/demo/server-cookies/", HTTP_ADPC="object=*")["Vary"]


def test_the_platform_publishes_the_sites_consent_requests(client, site, settings):
    answer = client.get("/api/v1/sites/demo/adpc")
    assert answer.status_code == 200
    requests = answer.json()["consentRequests"]
    assert set(requests) == {"functional", "advertising"}
    assert requests["advertising"].startswith("Advertising")
    assert answer["Access-Control-Allow-Origin"] == "*"
    assert client.get("/api/v1/sites/nosuchsite/adpc").status_code == 404
    assert client.get("/.well-known/adpc.json").status_code == 404  # no site on this host
    site.allowed_origins = "http://testserver"
    site.save()
    assert client.get("/.well-known/adpc.json").json() == answer.json()
