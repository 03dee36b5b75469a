"""What no answer means where the visitor is: under opt-in nothing optional before a yes;
under the opt-out and notice-only models every category until the visitor or a signal
says no. The script, the page's Set-Cookie filtering and its CSP follow the rule of the
region the trusted proxy names, and every answer that depends on it varies on its
headers."""

import gzip
import json

import pytest

from consent.bundles import get_bundle
from consent.models import BannerText, RegionalRule, Site
from consent.rules import Signals, is_allowed
from consent.ruleset import InvalidRules, SiteRuleSet
from tests.sites import set_cookie_names, stored_choice

pytestmark = pytest.mark.urls("tests.sites.urls")

REQUIRED = ["csrftoken", "sessionid"]
EVERY_KNOWN = ["_fbp", "_ga", "_gcl_au", "_gid", *REQUIRED]
DE = {"HTTP_CF_IPCOUNTRY": "DE"}
CA = {"HTTP_CF_IPCOUNTRY": "US", "HTTP_X_REGION": "CA"}
NY = {"HTTP_CF_IPCOUNTRY": "US", "HTTP_X_REGION": "NY"}


@pytest.fixture
def regional(site, settings):
    settings.CONSENT_COUNTRY_HEADER = "CF-IPCountry"
    settings.CONSENT_REGION_HEADER = "X-Region"
    settings.CONSENT_ENFORCED_PATHS = ["/"]
    RegionalRule.objects.create(site=site, name="EU", regions="DE FR", privacy_model="opt_in")
    RegionalRule.objects.create(site=site, name="US", regions="US-CA", privacy_model="opt_out")
    RegionalRule.objects.create(site=site, name="Notice", regions="BR", privacy_model="notice")
    return site


def config_of(script: bytes) -> dict:
    """The config the script starts the banner with (its last call's argument)."""
    start = script.rindex(b"})(") + 3
    return json.loads(script[start:].rstrip().removesuffix(b");"))


def test_no_answer_means_no_under_opt_in_and_yes_under_the_others():
    none = Signals()
    assert not is_allowed("advertising", None, none)
    assert is_allowed("advertising", None, none, default=True)
    # A stored answer counts whatever the model; a signal beats both.
    assert not is_allowed("advertising", {"advertising": False}, none, default=True)
    assert is_allowed("advertising", {"advertising": True}, none)
    assert not is_allowed("advertising", None, Signals(gpc=True), default=True)
    assert is_allowed("required", None, Signals(gpc=True))


@pytest.mark.parametrize(
    ("headers", "model"),
    [(DE, None), (NY, None), ({}, None), (CA, "opt_out"), ({"HTTP_CF_IPCOUNTRY": "BR"}, "notice")],
)
def test_the_script_is_the_variant_of_the_visitors_region(client, regional, headers, model):
    response = client.get("/c/demo.js", **headers)
    assert response.status_code == 200
    assert {"CF-IPCountry", "X-Region"} <= {v.strip() for v in response["Vary"].split(",")}
    config = config_of(response.content)
    assert config.get("model") == model
    texts = config["texts"]["en"]
    if model is None:
        # Opt-in visitors download neither the notice's words nor its code.
        assert "noticeBody" not in texts
        assert b"__gpp" not in response.content
        assert b"consent:notice" not in response.content
    else:
        assert texts["noticeTitle"] == "Your privacy"
        assert b"consent:notice" in response.content
        # The GPP API and the "Your Privacy Choices" link: only where opt-out applies.
        assert (b"__gpp" in response.content) == ("choices" in texts) == (model == "opt_out")
        # The notice takes the question's place.
        assert "title" not in texts and "body" not in texts
    if model == "opt_out":
        assert texts["honoured"] == "Opt-Out Request Honored"  # CCPA regs §7025(c)(6)


def test_a_site_words_the_notice_its_own_way_per_language(client, regional):
    """BannerText's notice fields replace the built-in words in the models that say them;
    blank ones keep the built-in words, and opt-in visitors get none of them."""
    BannerText.objects.filter(site=regional, language="en").update(
        notice_title="Privacy at the shop",
        opt_out_body="We sell nothing. Opt out of ads here.",
        notice_body="",
        privacy_choices="Do Not Sell or Share My Personal Information",
        opt_out="Stop",
    )
    regional.save()  # a change to the site's texts rebuilds its bundle (as the admin does)
    opt_out = config_of(client.get("/c/demo.js", **CA).content)["texts"]
    notice = config_of(client.get("/c/demo.js", HTTP_CF_IPCOUNTRY="BR").content)["texts"]
    opt_in = config_of(client.get("/c/demo.js", **DE).content)["texts"]
    assert opt_out["en"]["noticeTitle"] == notice["en"]["noticeTitle"] == "Privacy at the shop"
    assert opt_out["en"]["noticeBody"] == "We sell nothing. Opt out of ads here."
    assert opt_out["en"]["choices"] == "Do Not Sell or Share My Personal Information"
    assert opt_out["en"]["optOut"] == "Stop"
    assert opt_out["en"]["ok"] == "OK"
    assert notice["en"]["noticeBody"].startswith("We use cookies to run this site")
    assert "choices" not in notice["en"] and "optOut" not in notice["en"]
    # Other languages keep theirs.
    assert opt_out["de"]["choices"] == "Ihre Datenschutzoptionen"
    assert "noticeTitle" not in opt_in["en"]
    assert b"Privacy at the shop" not in client.get("/c/demo.js", **DE).content


def test_each_variant_has_its_own_validator_and_compressed_copy(client, regional):
    eu = client.get("/c/demo.js", HTTP_ACCEPT_ENCODING="gzip", **DE)
    us = client.get("/c/demo.js", HTTP_ACCEPT_ENCODING="gzip", **CA)
    assert eu["ETag"] != us["ETag"]
    assert config_of(gzip.decompress(us.content))["model"] == "opt_out"
    # A revalidation from the same region is answered 304; another region's is not.
    assert (
        client.get(
            "/c/demo.js", HTTP_IF_NONE_MATCH=us["ETag"], HTTP_ACCEPT_ENCODING="gzip", **CA
        ).status_code
        == 304
    )
    assert (
        client.get(
            "/c/demo.js", HTTP_IF_NONE_MATCH=us["ETag"], HTTP_ACCEPT_ENCODING="gzip", **DE
        ).status_code
        == 200
    )


def test_a_site_without_regional_rules_serves_one_script_without_region_vary(
    client, site, settings
):
    settings.CONSENT_COUNTRY_HEADER = "CF-IPCountry"
    response = client.get("/c/demo.js", **CA)
    assert "CF-IPCountry" not in response["Vary"]
    assert "model" not in config_of(response.content)


def test_a_site_whose_default_is_opt_out_serves_that_variant_to_everyone(client, site):
    Site.objects.filter(pk=site.pk).update(default_privacy_model="opt_out")
    get_bundle("demo", fresh=True)
    response = client.get("/c/demo.js")
    assert config_of(response.content)["model"] == "opt_out"
    assert "CF-IPCountry" not in response.get("Vary", "")


def test_an_opt_out_visitor_keeps_every_known_cookie_until_they_say_no(client, regional):
    response = client.get("/t/cookies/", **CA)
    assert set_cookie_names(response) == EVERY_KNOWN
    assert {"CF-IPCountry", "X-Region", "Cookie", "Sec-GPC"} <= {
        v.strip() for v in response["Vary"].split(",")
    }
    # The notice-only model likewise; unknown cookies stay blocked in every model.
    assert set_cookie_names(client.get("/t/cookies/", HTTP_CF_IPCOUNTRY="BR")) == EVERY_KNOWN


def test_an_opt_in_visitor_next_door_keeps_none(client, regional):
    assert set_cookie_names(client.get("/t/cookies/", **NY)) == REQUIRED
    assert set_cookie_names(client.get("/t/cookies/", **DE)) == REQUIRED
    assert set_cookie_names(client.get("/t/cookies/")) == REQUIRED


def test_an_opt_out_visitors_no_and_gpc_are_honoured(client, regional):
    assert set_cookie_names(client.get("/t/cookies/", HTTP_SEC_GPC="1", **CA)) == REQUIRED
    client.cookies["consent"] = stored_choice(functional=True, advertising=False)
    assert set_cookie_names(client.get("/t/cookies/", **CA)) == ["_ga", "_gid", *REQUIRED]


def test_an_opt_out_visitors_page_lists_the_allowed_vendors_in_its_policy(client, regional):
    from consent.models import Vendor

    Vendor.objects.filter(site=regional, name="Meta Pixel").update(hosts="connect.facebook.net")
    us = client.get("/t/plain/", **CA)["Content-Security-Policy"]
    eu = client.get("/t/plain/", **DE)["Content-Security-Policy"]
    script_src = lambda policy: next(d for d in policy.split("; ") if d.startswith("script-src"))  # noqa: E731
    assert "connect.facebook.net" in script_src(us)
    assert "connect.facebook.net" not in script_src(eu)


def test_the_rules_document_carries_the_privacy_models_to_remote_sites(regional):
    ruleset = get_bundle("demo", fresh=True).ruleset
    document = json.loads(ruleset.document)
    assert document["privacy"] == {
        "default": "opt_in",
        "rules": {"DE": "opt_in", "FR": "opt_in", "US-CA": "opt_out", "BR": "notice"},
    }
    again = SiteRuleSet.parse(ruleset.document, "demo")
    assert again.regional and again.privacy_rules == ruleset.privacy_rules


def test_an_all_opt_in_site_publishes_no_privacy_section(site):
    assert "privacy" not in json.loads(get_bundle("demo", fresh=True).ruleset.document)


@pytest.mark.parametrize(
    "privacy",
    [
        {"default": "maybe", "rules": {}},
        {"default": "opt_in", "rules": {"US-CA": "sell"}},
        {"default": "opt_in", "rules": {"california": "opt_out"}},
        {"default": "opt_in", "rules": ["US-CA"]},
        "opt_out",
    ],
)
def test_a_privacy_section_no_platform_sends_is_refused(site, privacy):
    document = json.loads(get_bundle("demo", fresh=True).ruleset.document)
    document["privacy"] = privacy
    with pytest.raises(InvalidRules):
        SiteRuleSet.parse(json.dumps(document).encode(), "demo")


@pytest.mark.parametrize("regional_rules", [False, True])
def test_an_adpc_refusal_reaches_the_banner_through_its_script(
    client, site, regional_rules, request
):
    """The banner cannot read request headers: a browser that sent ADPC's withdraw=* gets
    a script that says so (and refuses as under GPC); every script varies on ADPC."""
    if regional_rules:
        request.getfixturevalue("regional")
    headers = CA if regional_rules else {}
    plain = client.get("/c/demo.js", **headers)
    refusing = client.get("/c/demo.js", HTTP_ADPC="withdraw=*", **headers)
    for response in (plain, refusing):
        assert "ADPC" in {v.strip() for v in response["Vary"].split(",")}
    assert "adpc" not in config_of(plain.content)
    assert config_of(refusing.content)["adpc"] is True
    assert plain["ETag"] != refusing["ETag"]
    # The region's model is kept.
    assert config_of(refusing.content).get("model") == ("opt_out" if regional_rules else None)
    # Consent to some purposes only is no refusal.
    assert "adpc" not in config_of(client.get("/c/demo.js", HTTP_ADPC="consent=a b").content)
