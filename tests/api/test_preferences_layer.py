"""/c/SITE_KEY/preferences.js: the preferences layer and what only it shows (consent.layers),
loaded by the banner the first time a visitor opens that layer."""

import gzip
import json

import pytest

from consent.models import CookieDefinition, RegionalRule, Site, Vendor

pytestmark = pytest.mark.django_db
URL = "/c/demo/preferences.js"


def called_with(body: bytes) -> dict:
    """The JSON a served file calls its build with: `(function(config){...})(JSON);`."""
    start = body.rindex(b"})(") + 3
    return json.loads(body[start : body.rindex(b");")])


def full_config(client) -> dict:
    return client.get("/api/v1/sites/demo/config").json()


def test_the_script_points_to_the_layer_and_carries_no_descriptions(client, site):
    script = called_with(client.get("/c/demo.js").content)
    assert script["preferences"] == URL
    for category in script["categories"]:
        assert all(set(vendor) <= {"name", "hosts"} for vendor in category["vendors"])
        assert all(set(cookie) <= {"name", "domain", "path"} for cookie in category["cookies"])
    for words in script["texts"].values():
        assert "vendors" not in words and "save" not in words
        assert all(set(w) == {"name"} for w in words["categories"].values())


def test_nothing_the_banner_showed_is_lost_between_the_two_files(client, site):
    """Every vendor's and cookie's detail, and every category's words, is in the layer's
    data; every cookie's name, domain and path (to delete it) in the script's."""
    full = full_config(client)
    script = called_with(client.get("/c/demo.js").content)
    layer = called_with(client.get(URL).content)
    assert [c["slug"] for c in layer["categories"]] == [c["slug"] for c in full["categories"]]
    for whole, shown, kept in zip(
        full["categories"], layer["categories"], script["categories"], strict=True
    ):
        assert shown["vendors"] == [
            {k: v for k, v in vendor.items() if k != "hosts"} for vendor in whole["vendors"]
        ]
        assert [c["name"] for c in shown["cookies"]] == [c["name"] for c in whole["cookies"]]
        assert [(c.get("days"), c.get("purpose"), c.get("vendor")) for c in shown["cookies"]] == [
            (c.get("days"), c.get("purpose"), c.get("vendor")) for c in whole["cookies"]
        ]
        assert [(c["name"], c.get("domain"), c.get("path", "/")) for c in kept["cookies"]] == [
            (c["name"], c.get("domain"), c["path"]) for c in whole["cookies"]
        ]
    for language, words in full["texts"].items():
        merged = {**script["texts"][language], **layer["texts"][language]}
        assert {k: v for k, v in merged.items() if k != "categories"} == {
            k: v for k, v in words.items() if k != "categories"
        }
        for slug, category_words in words["categories"].items():
            assert script["texts"][language]["categories"][slug]["name"] == category_words["name"]
            assert (
                layer["texts"][language]["categories"][slug]["description"]
                == category_words["description"]
            )


def test_auto_blocking_sends_the_vendors_hosts_with_the_script(client, site):
    Site.objects.filter(pk=site.pk).update(auto_blocking=True)
    site.refresh_from_db()
    site.save()  # invalidates the bundle
    script = called_with(client.get("/c/demo.js").content)
    sent = {v["name"]: v["hosts"] for c in script["categories"] for v in c["vendors"]}
    assert sent["YouTube"] == Vendor.objects.get(site=site, name="YouTube").host_list()
    assert all(
        "hosts" not in v
        for c in called_with(client.get(URL).content)["categories"]
        for v in c["vendors"]
    )


def test_it_is_cacheable_gzipped_and_costs_no_query_warm(client, site, django_assert_num_queries):
    plain = client.get(URL)
    assert plain.status_code == 200
    assert plain["Content-Type"] == "text/javascript; charset=utf-8"
    assert plain["Cache-Control"].startswith("public, max-age=")
    assert "Set-Cookie" not in plain and "Content-Security-Policy" not in plain
    assert client.get(URL, headers={"If-None-Match": plain["ETag"]}).status_code == 304
    with django_assert_num_queries(0):
        zipped = client.get(URL, headers={"Accept-Encoding": "gzip"})
    assert zipped["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.content) == plain.content


def test_an_unknown_site_is_a_404_script(client, site):
    response = client.get("/c/nope/preferences.js")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/javascript")


def test_a_change_to_what_only_the_layer_shows_changes_it_at_once(client, site):
    before = client.get(URL)
    cookie = CookieDefinition.objects.filter(site=site, name="_ga").get()
    cookie.purpose = "Counts visits"
    cookie.save()
    after = client.get(URL, headers={"If-None-Match": before["ETag"]})
    assert after.status_code == 200
    assert "Counts visits" in after.content.decode()


def test_it_is_one_file_for_every_region(client, site, settings):
    settings.CONSENT_COUNTRY_HEADER = "CF-IPCountry"
    RegionalRule.objects.create(site=site, regions="US", privacy_model="opt_out")
    site.save()
    eu = client.get(URL, headers={"CF-IPCountry": "DE"})
    us = client.get(URL, headers={"CF-IPCountry": "US"})
    assert eu.content == us.content
    assert "CF-IPCountry" not in eu.get("Vary", "")


def test_a_closing_script_tag_in_a_description_cannot_break_out(client, site):
    vendor = Vendor.objects.get(site=site, name="YouTube")
    vendor.description = "</script><script>alert(1)</script>"
    vendor.save()
    body = client.get(URL).content
    assert b"</script>" not in body
    assert called_with(body)["categories"][1]["vendors"][1]["description"] == vendor.description


@pytest.mark.parametrize("change", ["cookie purpose", "regional rule"])
def test_a_change_outside_the_default_script_reaches_every_process(
    client, site, settings, monkeypatch, change
):
    """Another process makes a change that leaves the default script as it was (what only
    the preferences layer shows; another region's variant) and rebuilds the shared bundle
    before this process rechecks its copy: the stamp is new with every build."""
    from django.core.cache import cache

    from consent import bundles

    settings.CONSENT_COUNTRY_HEADER = "CF-IPCountry"
    monkeypatch.setattr(bundles, "RECHECK_SECONDS", 0)
    client.get(URL)  # this process holds the bundle
    held = bundles._bundles.get("demo")
    # The change, by the other process (bulk writes: no signal here).
    if change == "cookie purpose":
        CookieDefinition.objects.filter(site=site, name="_ga").update(purpose="Counts visits")
    else:
        RegionalRule.objects.bulk_create(
            [RegionalRule(site=site, name="US", regions="US", privacy_model="opt_out")]
        )
    # Its invalidation, and its next request, which builds the shared copy again ...
    cache.delete_many([bundles.cache_key("demo"), bundles.stamp_key("demo")])
    bundles.get_bundle("demo", fresh=True)
    bundles._bundles.put("demo", held)  # ... while this process still holds the old one.
    if change == "cookie purpose":
        assert "Counts visits" in client.get(URL).content.decode()
    else:
        script = client.get("/c/demo.js", headers={"CF-IPCountry": "US"}).content
        assert called_with(script)["model"] == "opt_out"
