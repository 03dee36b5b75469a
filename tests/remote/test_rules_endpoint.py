"""GET /api/v1/sites/{key}/rules: what a Django site apart from the platform enforces."""

import dataclasses
import json

import pytest
from django.core.cache import cache

from consent import bundles
from consent.bundles import get_bundle
from consent.models import Category, CookieDefinition, Vendor

pytestmark = pytest.mark.django_db
URL = "/api/v1/sites/demo/rules"


def test_it_publishes_the_sites_cookie_definitions_and_every_vendors_hosts(client, site):
    response = client.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    rules = response.json()
    assert rules["site"] == "demo"
    assert rules["policyVersion"] == 1
    assert rules["cookieName"] == "consent"
    assert rules["categories"] == [
        {"slug": "required", "required": True},
        {"slug": "functional"},
        {"slug": "advertising"},
    ]
    assert {"name": "_ga_*", "category": "functional", "domain": "", "path": "/"} in rules[
        "cookies"
    ]
    assert {
        "name": "IDE",
        "category": "advertising",
        "domain": ".doubleclick.net",
        "path": "/",
    } in (rules["cookies"])
    # Every vendor's hosts, whether or not the site blocks automatically (the banner's
    # config carries them only then): the CSP of a site apart from the platform needs them.
    assert not site.auto_blocking
    assert "connect.facebook.net" in rules["hosts"]["advertising"]
    assert "www.googletagmanager.com" in rules["hosts"]["functional"]


def test_it_is_always_revalidated_and_answers_304_to_its_etag(client, site):
    response = client.get(URL)
    assert response["Cache-Control"] == "no-cache"
    assert response["ETag"].startswith('"r-')
    again = client.get(URL, headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304
    assert again["ETag"] == response["ETag"]


def test_an_admin_change_gives_a_new_document_and_etag(client, site):
    before = client.get(URL)
    vendor = Vendor.objects.get(site=site, name="Meta Pixel")
    vendor.hosts += "\npixel.example.net"
    vendor.save()
    CookieDefinition.objects.create(
        site=site, name="promo", category=Category.objects.get(slug="advertising")
    )

    after = client.get(URL, headers={"If-None-Match": before["ETag"]})
    assert after.status_code == 200
    assert after["ETag"] != before["ETag"]
    rules = after.json()
    assert "pixel.example.net" in rules["hosts"]["advertising"]
    assert {"name": "promo", "category": "advertising", "domain": "", "path": "/"} in rules[
        "cookies"
    ]


def test_it_costs_no_query_on_a_warm_cache(client, site, django_assert_num_queries):
    client.get(URL)
    with django_assert_num_queries(0):
        assert client.get(URL).status_code == 200


def test_it_answers_404_for_an_unknown_site(client, site):
    response = client.get("/api/v1/sites/unknown/rules")
    assert response.status_code == 404
    assert response.json()["detail"] == "No site with this key."


def test_a_row_no_site_would_accept_is_left_out_not_a_failure(client, site, caplog):
    # Rows written before the admin held values to a grammar (update() skips validation).
    CookieDefinition.objects.filter(site=site, name="_fbp").update(name="_fbp bad")
    Vendor.objects.filter(site=site, name="Meta Pixel").update(hosts="x" * 400)

    response = client.get(URL)
    assert response.status_code == 200
    rules = response.json()
    assert "_fbp bad" not in {cookie["name"] for cookie in rules["cookies"]}
    assert "x" * 400 not in rules["hosts"]["advertising"]
    assert "is not published to sites" in caplog.text
    assert client.get("/c/demo.js").status_code == 200


def test_the_document_is_what_the_platforms_own_middleware_enforces(client, site):
    ruleset = get_bundle("demo").ruleset
    response = client.get(URL)
    assert response.content == ruleset.document
    assert json.loads(ruleset.document)["cookies"][0]["name"] == ruleset.rules[0].name


def test_a_bundle_cached_by_an_older_release_is_rebuilt_with_its_rules(client, site):
    bundle = get_bundle("demo")
    old = dataclasses.replace(bundle, ruleset=None)
    del old.__dict__["rules_built"]  # as unpickled from a release without the field
    cache.set(bundles.cache_key("demo"), old)
    cache.delete(bundles.stamp_key("demo"))
    bundles.forget_local()

    response = client.get(URL)
    assert response.status_code == 200
    assert response.content == bundle.ruleset.document


def test_rules_the_database_holds_but_no_validation_let_in_fail_closed(client, site):
    """A cookie name written by SQL that the admin would refuse: the banner is still
    served, the rules endpoint answers 503 (remote sites keep their last good copy) and
    the platform's own middleware blocks every optional cookie."""
    from consent.bundles import invalidate
    from consent.models import Site

    Site.objects.filter(pk=site.pk).update(cookie_name="consent;<script>")
    invalidate(site.key)
    assert client.get(f"/c/{site.key}.js").status_code == 200
    answer = client.get(f"/api/v1/sites/{site.key}/rules")
    assert answer.status_code == 503
    assert answer.json()["code"] == "rules_invalid"
    page = client.get("/demo/server-cookies/", HTTP_COOKIE="consent=anything")
    assert page.status_code == 200
    assert set(page.cookies) <= {"sessionid", "csrftoken", "messages", "django_language"}
