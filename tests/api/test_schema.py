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
