"""Regional rules (issue 16, first part): ISO codes checked in the model, the region read
only from the trusted headers the settings name, a subdivision's rule before its
country's, presets in one click, the Privacy role's call, the GPC date kept by itself."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.forms import inlineformset_factory
from django.urls import reverse
from django.utils import timezone

from consent.admin import RegionalRuleFormSet
from consent.models import AuditEvent, PrivacyModel, RegionalRule, Site
from consent.regions import PRESETS, Region, choose, from_meta, parse_codes
from tests.security.staff import staff_client

SITES = reverse("admin:consent_site_changelist")


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("de fr", ["DE", "FR"]),
        ("US-CA, us-va;US-CA", ["US-CA", "US-VA"]),
        ("  GB\nCH ", ["GB", "CH"]),
        ("", []),
    ],
)
def test_codes_are_read_in_any_separator_and_case(text, codes):
    assert parse_codes(text) == codes


@pytest.mark.parametrize("bad", ["EU", "XX", "US-ZZ", "DEU", "D", "US-", "<b>", "US-CA-1"])
def test_a_code_that_is_no_iso_country_or_subdivision_is_refused(bad):
    with pytest.raises(ValidationError) as caught:
        parse_codes(f"DE {bad}")
    assert bad.upper() in str(caught.value)


def test_the_presets_hold_only_known_codes():
    for _, codes, model in PRESETS:
        assert parse_codes(codes) == codes.split()
        assert model in PrivacyModel.values
    eu = parse_codes(PRESETS[0][1])
    assert len(eu) == 30  # 27 member states, Iceland, Liechtenstein, Norway


def test_no_header_named_no_region(settings):
    settings.CONSENT_COUNTRY_HEADER = ""
    assert from_meta({"HTTP_CF_IPCOUNTRY": "DE"}) == Region()


@pytest.mark.parametrize(
    ("meta", "region"),
    [
        ({"HTTP_CF_IPCOUNTRY": "de"}, Region("DE")),
        ({"HTTP_CF_IPCOUNTRY": "XX"}, Region()),  # Cloudflare: unknown
        ({"HTTP_CF_IPCOUNTRY": "T1"}, Region()),  # Cloudflare: Tor
        ({"HTTP_CF_IPCOUNTRY": "US", "HTTP_X_REGION": "CA"}, Region("US", "US-CA")),
        ({"HTTP_CF_IPCOUNTRY": "US", "HTTP_X_REGION": "US-CA"}, Region("US", "US-CA")),
        ({"HTTP_CF_IPCOUNTRY": "US", "HTTP_X_REGION": "ZZ"}, Region("US")),
        ({"HTTP_CF_IPCOUNTRY": "DE", "HTTP_X_REGION": "CA"}, Region("DE")),
        ({"HTTP_X_REGION": "CA"}, Region()),
        ({"HTTP_CF_IPCOUNTRY": "DE, US"}, Region()),
    ],
)
def test_the_region_comes_from_the_named_headers_only(settings, meta, region):
    settings.CONSENT_COUNTRY_HEADER = "CF-IPCountry"
    settings.CONSENT_REGION_HEADER = "X-Region"
    assert from_meta(meta) == region


def test_a_subdivision_wins_over_its_country_which_wins_over_the_default():
    rules = {"US": "notice", "US-CA": "opt_out", "DE": "opt_in"}
    assert choose(rules, "opt_in", Region("US", "US-CA")) == ("opt_out", "US-CA")
    assert choose(rules, "opt_in", Region("US", "US-NY")) == ("notice", "US")
    assert choose(rules, "notice", Region("FR")) == ("notice", "")
    assert choose(rules, "opt_in", Region()) == ("opt_in", "")


def test_a_rule_keeps_its_codes_checked_and_tidy(site):
    rule = RegionalRule(site=site, name="DACH", regions="de, at;ch", privacy_model="opt_in")
    rule.full_clean()
    assert rule.regions == "DE AT CH"
    with pytest.raises(ValidationError) as caught:
        RegionalRule(site=site, name="x", regions="DE ZZ", privacy_model="opt_in").full_clean()
    assert "regions" in caught.value.message_dict
    with pytest.raises(ValidationError):
        RegionalRule(site=site, name="y", regions=" ", privacy_model="opt_in").full_clean()


def formset(site, *rules):
    data = {
        "regional_rules-TOTAL_FORMS": str(len(rules)),
        "regional_rules-INITIAL_FORMS": "0",
    }
    for n, (name, regions) in enumerate(rules):
        data |= {
            f"regional_rules-{n}-name": name,
            f"regional_rules-{n}-regions": regions,
            f"regional_rules-{n}-privacy_model": "opt_in",
        }
    factory = inlineformset_factory(
        Site, RegionalRule, formset=RegionalRuleFormSet, fields=("name", "regions", "privacy_model")
    )
    return factory(data, instance=site, prefix="regional_rules")


def test_a_region_in_two_rules_of_a_site_is_refused(site):
    assert formset(site, ("EU", "DE FR"), ("UK", "GB")).is_valid()
    clash = formset(site, ("EU", "DE FR"), ("German speaking", "de AT"))
    assert not clash.is_valid()
    assert "DE is in two rules" in str(clash.non_form_errors())


def test_the_presets_are_one_click_and_never_twice(site):
    client = staff_client("privacy", "Privacy", (site,))
    action = {"action": "add_regional_presets", "_selected_action": [site.pk]}
    client.post(SITES, action)
    names = sorted(site.regional_rules.values_list("name", flat=True))
    assert names == sorted(name for name, _, _ in PRESETS)
    assert site.regional_rules.get(name="US states with privacy laws").privacy_model == "opt_out"
    client.post(SITES, action)
    assert site.regional_rules.count() == len(PRESETS)
    created = AuditEvent.objects.filter(object_type="consent.RegionalRule", action="create")
    assert created.count() == len(PRESETS)
    assert set(created.values_list("actor", flat=True)) == {"privacy"}


def test_marketing_ops_see_the_rules_but_do_not_change_them(site):
    RegionalRule.objects.create(site=site, name="EU", regions="DE", privacy_model="opt_in")
    client = staff_client("marketing", "Marketing ops", (site,))
    page = client.get(reverse("admin:consent_site_change", args=[site.pk]))
    assert page.status_code == 200
    assert "regional_rules-0-regions" not in page.content.decode()  # read-only
    assert "EU" in page.content.decode()
    client.post(SITES, {"action": "add_regional_presets", "_selected_action": [site.pk]})
    assert site.regional_rules.count() == 1


def test_the_gpc_date_moves_when_the_rules_change(site):
    long_ago = date(2025, 1, 2)
    Site.objects.filter(pk=site.pk).update(gpc_updated_on=long_ago)
    site.refresh_from_db()
    rule = RegionalRule.objects.create(site=site, name="EU", regions="DE", privacy_model="opt_in")
    site.refresh_from_db()
    assert site.gpc_updated_on == timezone.localdate()

    Site.objects.filter(pk=site.pk).update(gpc_updated_on=long_ago)
    rule.delete()
    site.refresh_from_db()
    assert site.gpc_updated_on == timezone.localdate()

    Site.objects.filter(pk=site.pk).update(gpc_updated_on=long_ago)
    site.refresh_from_db()
    site.name = "Renamed"
    site.save()
    assert Site.objects.get(pk=site.pk).gpc_updated_on == long_ago  # not a GPC change
    site.default_privacy_model = "opt_out"
    site.save()
    assert Site.objects.get(pk=site.pk).gpc_updated_on == timezone.localdate()
    assert timezone.localdate() - long_ago > timedelta(days=1)
