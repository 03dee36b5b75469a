import pytest
import yaml

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_lists_every_public_endpoint(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert set(schema["paths"]) == {
        "/.well-known/consent-log/heads",
        "/.well-known/consent-log/key",
        "/.well-known/adpc.json",
        "/.well-known/gpc.json",
        "/api/v1/consents/{consent_id}",
        "/api/v1/log/proof/consistency",
        "/api/v1/log/proof/inclusion",
        "/api/v1/sites/{site_key}/config",
        "/api/v1/sites/{site_key}/adpc",
        "/api/v1/sites/{site_key}/rules",
        "/api/v1/sites/{site_key}/consents",
    }
    post = schema["paths"]["/api/v1/sites/{site_key}/consents"]["post"]
    assert set(post["responses"]) >= {"201", "400", "403", "404", "413", "429", "503"}


def test_the_docs_page_is_served_under_a_strict_csp(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert (
        "'unsafe-inline'"
        not in response["Content-Security-Policy"].split("script-src")[1].split(";")[0]
    )


def test_the_consent_post_is_documented_from_its_own_rules(client):
    from consent.api.consents import FIELDS

    schema = yaml.safe_load(client.get("/api/schema/").content)
    post = schema["paths"]["/api/v1/sites/{site_key}/consents"]["post"]
    assert post["operationId"] == "record_consent"
    decision = schema["components"]["schemas"]["Decision"]
    assert set(decision["properties"]) == set(FIELDS)
    assert set(decision["required"]) == {"categories", "policy_version", "method"}


def test_a_receipt_has_exactly_the_documented_fields(client, site):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    documented = set(schema["components"]["schemas"]["Receipt"]["properties"])
    answer = client.post(
        "/api/v1/sites/demo/consents",
        {
            "categories": {"functional": True, "advertising": False},
            "policy_version": 1,
            "method": "custom",
        },
        content_type="application/json",
    )
    assert answer.status_code == 201
    assert set(answer.json()) == documented
    history = client.get(f"/api/v1/consents/{answer.json()['consent_id']}").json()
    assert set(history["current"]) == documented
