import gzip
import json

import pytest

from consent.models import BannerText, Category, PolicyVersion, RegionalRule, Vendor

pytestmark = pytest.mark.django_db
URL = "/c/demo.js"


def inlined_config(body: bytes) -> dict:
    start = body.index(b'({"endpoint"')
    return json.loads(body[start + 1 : body.rindex(b");")])


def test_it_serves_the_banner_with_the_config_inlined(client, site):
    response = client.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    config = inlined_config(response.content)
    # The site is named by the URL; the config endpoint says it, the script does not.
    assert "site" not in config
    assert config["endpoint"] == "/api/v1/sites/demo/consents"
    assert [c["slug"] for c in config["categories"]] == ["required", "functional", "advertising"]
    assert set(config["texts"]) == {"en", "de", "fr", "es"}


def test_it_costs_no_query_on_a_warm_cache(client, site, django_assert_num_queries):
    client.get(URL)
    with django_assert_num_queries(0):
        assert client.get(URL).status_code == 200


def test_it_is_cacheable_with_an_etag(client, site):
    response = client.get(URL)
    assert response["Cache-Control"].startswith("public, max-age=")
    assert response["ETag"].startswith('"s-')
    again = client.get(URL, headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_it_answers_404_for_an_unknown_site(client, site):
    response = client.get("/c/nope.js")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/javascript")


def test_an_unknown_site_is_remembered_without_asking_the_database_again(
    client, site, django_assert_num_queries
):
    client.get("/c/nope.js")
    with django_assert_num_queries(0):
        assert client.get("/c/nope.js").status_code == 404


@pytest.mark.parametrize("change", ["vendor", "category", "text", "policy", "site"])
def test_an_admin_change_invalidates_it_at_once(client, site, change):
    before = client.get(URL)
    if change == "vendor":
        Vendor.objects.filter(site=site, name="YouTube").get().delete()
    elif change == "category":
        category = Category.objects.get(slug="functional")
        category.name = "Preferences"
        category.save()
    elif change == "text":
        text = BannerText.objects.get(site=site, language="en")
        text.title = "Your privacy"
        text.save()
    elif change == "policy":
        PolicyVersion.objects.create(site=site, summary="New vendor")
    else:
        site.privacy_policy_url = "https://shop.example/privacy-2"
        site.save()
    after = client.get(URL, headers={"If-None-Match": before["ETag"]})
    assert after.status_code == 200
    assert after["ETag"] != before["ETag"]


def test_it_reflects_a_new_policy_version(client, site):
    PolicyVersion.objects.create(site=site, summary="Added an advertising vendor")
    assert inlined_config(client.get(URL).content)["policyVersion"] == 2


def test_text_overrides_replace_the_built_in_words(client, site):
    text = BannerText.objects.get(site=site, language="de")
    text.accept_all = "Alles erlauben"
    text.category_texts = {"advertising": {"name": "Reklame"}}
    text.save()
    texts = inlined_config(client.get(URL).content)["texts"]
    assert texts["de"]["acceptAll"] == "Alles erlauben"
    assert texts["de"]["categories"]["advertising"]["name"] == "Reklame"
    assert texts["en"]["acceptAll"] == "Accept all"


def test_a_closing_script_tag_in_texts_cannot_break_out(client, site):
    text = BannerText.objects.get(site=site, language="en")
    text.title = "</script><script>alert(1)</script>"
    text.save()
    body = client.get(URL).content
    assert b"</script>" not in body


@pytest.mark.parametrize("country", ["DE", "US", "BR"])  # opt-in, opt-out + GPP, notice
def test_an_english_only_site_stays_within_the_size_bar_in_every_region(
    client, site, settings, country
):
    settings.CONSENT_COUNTRY_HEADER = "CF-IPCountry"
    BannerText.objects.filter(site=site).exclude(language="en").delete()
    RegionalRule.objects.create(site=site, name="US", regions="US", privacy_model="opt_out")
    RegionalRule.objects.create(site=site, name="BR", regions="BR", privacy_model="notice")
    site.save()
    body = client.get(URL, headers={"CF-IPCountry": country}).content
    assert len(gzip.compress(body, 9)) <= 8192


def test_it_is_served_gzipped_to_browsers_that_accept_it(client, site):
    plain = client.get(URL)
    zipped = client.get(URL, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert zipped["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.content) == plain.content
    assert zipped["ETag"] != plain["ETag"]
    assert (
        client.get(
            URL, headers={"Accept-Encoding": "gzip", "If-None-Match": zipped["ETag"]}
        ).status_code
        == 304
    )


def test_it_is_answered_before_sessions_csrf_and_csp(client, site):
    response = client.get(URL)
    assert response.status_code == 200
    assert "Content-Security-Policy" not in response
    assert "Set-Cookie" not in response
    assert "Vary" in response and "Cookie" not in response["Vary"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_change_made_by_another_process_is_served_once_rechecked(client, site, monkeypatch):
    from django.core.cache import cache

    from consent import bundles
    from consent.bundles import cache_key, stamp_key

    monkeypatch.setattr(bundles, "RECHECK_SECONDS", 0)
    before = client.get(URL)  # this process now holds the bundle
    PolicyVersion.objects.bulk_create([PolicyVersion(site=site, version=2, summary="x")])
    cache.delete_many([cache_key("demo"), stamp_key("demo")])  # the other process's invalidation
    assert inlined_config(client.get(URL).content)["policyVersion"] == 2
    assert client.get(URL)["ETag"] != before["ETag"]


def test_a_warm_request_asks_the_shared_cache_at_most_for_the_stamp(client, site, monkeypatch):
    from django.core.cache import cache

    from consent import bundles

    client.get(URL)
    asked = []
    real_get = cache.get
    monkeypatch.setattr(
        cache, "get", lambda key, *a, **k: asked.append(key) or real_get(key, *a, **k)
    )
    assert client.get(URL).status_code == 200
    assert asked == []  # checked within RECHECK_SECONDS: nothing asked
    monkeypatch.setattr(bundles, "RECHECK_SECONDS", 0)
    assert client.get(URL).status_code == 200
    assert asked == ["bundle-stamp:demo"]
