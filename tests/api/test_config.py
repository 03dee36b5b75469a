import pytest

pytestmark = pytest.mark.django_db
URL = "/api/v1/sites/demo/config"


def test_it_returns_the_site_configuration(client, site):
    response = client.get(URL)
    assert response.status_code == 200
    config = response.json()
    assert config["policyVersion"] == 1
    assert config["cookie"] == {
        "name": "consent",
        "domain": "",
        "consentDays": 365,
        "refusalDays": 182,
    }
    functional = next(c for c in config["categories"] if c["slug"] == "functional")
    assert {v["name"] for v in functional["vendors"]} == {"Google Analytics", "YouTube"}
    ga = next(c for c in functional["cookies"] if c["name"] == "_ga")
    assert ga == {
        "name": "_ga",
        "path": "/",
        "days": 730,
        "vendor": "Google Analytics",
        "purpose": "Distinguishes visitors for usage statistics.",
    }
    ysc = next(c for c in functional["cookies"] if c["name"] == "YSC")
    assert ysc["days"] is None


def test_it_answers_304_to_a_matching_etag(client, site):
    etag = client.get(URL)["ETag"]
    assert client.get(URL, headers={"If-None-Match": etag}).status_code == 304


def test_it_costs_no_query_on_a_warm_cache(client, site, django_assert_num_queries):
    client.get(URL)
    with django_assert_num_queries(0):
        client.get(URL)


def test_it_answers_404_for_an_unknown_site(client, site):
    response = client.get("/api/v1/sites/unknown/config")
    assert response.status_code == 404
    assert response.json()["detail"] == "No site with this key."
