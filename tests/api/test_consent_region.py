"""The region the trusted proxy names, and the privacy model that applied there, are
stored with the decision, shown in its receipt and logged; a signal that overrides the
visitor's click is recorded as a conflict."""

import json
import uuid

import pytest

from consent.models import ConsentRecord, RegionalRule
from consent.transparency import log

URL = "/api/v1/sites/demo/consents"


def post(client, categories, **headers):
    return client.post(
        URL,
        json.dumps(
            {
                "consent_id": str(uuid.uuid4()),
                "policy_version": 1,
                "method": "custom",
                "categories": categories,
            }
        ),
        content_type="application/json",
        **headers,
    )


@pytest.fixture
def regional(site, settings):
    settings.CONSENT_COUNTRY_HEADER = "CF-IPCountry"
    settings.CONSENT_REGION_HEADER = "X-Region"
    RegionalRule.objects.create(site=site, name="EU", regions="DE FR", privacy_model="opt_in")
    RegionalRule.objects.create(site=site, name="US", regions="US-CA", privacy_model="opt_out")
    return site


@pytest.mark.parametrize(
    ("headers", "region", "model"),
    [
        ({"HTTP_CF_IPCOUNTRY": "DE"}, "DE", "opt_in"),
        ({"HTTP_CF_IPCOUNTRY": "US", "HTTP_X_REGION": "CA"}, "US-CA", "opt_out"),
        ({"HTTP_CF_IPCOUNTRY": "US", "HTTP_X_REGION": "NY"}, "US-NY", "opt_in"),
        ({}, "", "opt_in"),
    ],
)
def test_the_region_and_its_model_are_recorded(client, regional, headers, region, model):
    answer = post(client, {"functional": True, "advertising": False}, **headers)
    assert answer.status_code == 201, answer.content
    assert (answer.json()["region"], answer.json()["privacy_model"]) == (region, model)
    record = ConsentRecord.objects.get()
    assert (record.region, record.privacy_model) == (region, model)
    log.seal()
    logged = json.loads(log.leaf_input("consent", ConsentRecord.objects.get()))
    assert logged.get("region", "") == region and logged["privacy_model"] == model


def test_the_region_header_counts_only_when_the_settings_name_it(client, site, settings):
    settings.CONSENT_COUNTRY_HEADER = ""
    RegionalRule.objects.create(site=site, name="US", regions="US", privacy_model="opt_out")
    answer = post(client, {"functional": True, "advertising": True}, HTTP_CF_IPCOUNTRY="US")
    assert (answer.json()["region"], answer.json()["privacy_model"]) == ("", "opt_in")


def test_a_signal_that_overrides_a_click_is_a_conflict(client, site):
    clicked = post(client, {"functional": True, "advertising": True}, HTTP_SEC_GPC="1").json()
    assert clicked["method"] == "gpc"
    assert clicked["signal_conflict"] is True
    assert clicked["categories"] == {"functional": False, "advertising": False, "required": True}
    refused = post(client, {"functional": False, "advertising": False}, HTTP_SEC_GPC="1").json()
    assert refused["signal_conflict"] is False
    agreed = post(client, {"functional": True, "advertising": True}).json()
    assert agreed["signal_conflict"] is False


def test_records_made_before_regions_keep_their_leaves(site):
    """A record without region, model or conflict logs exactly the keys it always did."""
    from django.utils import timezone

    from tests.ops import decide

    record = decide(timezone.now())
    ConsentRecord.objects.filter(pk=record.pk)._sanctioned_update(privacy_model="")
    logged = json.loads(log.leaf_input("consent", ConsentRecord.objects.get(pk=record.pk)))
    assert not {"region", "privacy_model", "signal_conflict"} & set(logged)
