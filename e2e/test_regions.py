"""Visitors under different laws, in Chromium, the region named by the trusted proxy's
headers (set by the test, as Cloudflare would: CF-IPCountry, and the subdivision in
X-Region): an EU visitor is asked first and nothing optional runs; a Californian gets a
notice and the "Your Privacy Choices" link, advertising runs until they opt out, and GPC is
that opt-out, applied before any tag runs, shown as honoured, and reported by the GPP API
(__gpp, US National section); the GPP strings are read back with the IAB's own library.

Also the checks of the academic GPC compliance crawler (the GPP string and
/.well-known/gpc.json before and after GPC), a refusal remembered for its period (the
page's clock moved on), and axe on the notice and the link, light and dark."""

import datetime
import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import own_platform, wait_until
from .test_accessibility import axe_violations

ORACLE = (
    Path(__file__).resolve().parent.parent / "banner_static" / "node_modules" / "@iabgpp" / "cmpapi"
)
PREPARE = """
from consent.models import RegionalRule, Site
from consent.regions import PRESETS
site = Site.objects.get(key="demo")
for name, codes, model in PRESETS:
    RegionalRule.objects.create(site=site, name=name, regions=codes, privacy_model=model)
"""
EU = {"CF-IPCountry": "DE"}
CA = {"CF-IPCountry": "US", "X-Region": "CA"}
GPC_ON = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
TAGS = ("analytics", "inline", "ads", "pixel")
# __gpp's answer to a command, as a promise (the API calls back).
GPP = """([command, parameter]) => new Promise(done =>
    __gpp(command, (data, success) => done({data, success}), parameter))"""


@pytest.fixture(scope="module")
def regional():
    """A platform whose demo site has the presets: EU/EEA, UK, Switzerland opt-in; the US
    states with privacy laws opt-out; opt-in elsewhere."""
    with own_platform(
        PREPARE, CONSENT_COUNTRY_HEADER="CF-IPCountry", CONSENT_REGION_HEADER="X-Region"
    ) as platform:
        yield platform


@pytest.fixture
def visit(browser, regional):
    contexts = []

    def open_(headers: dict, gpc: bool = False, **options):
        headers = {**headers, **({"Sec-GPC": "1"} if gpc else {})}
        context = browser.new_context(extra_http_headers=headers, **options)
        contexts.append(context)
        if gpc:
            context.add_init_script(GPC_ON)
        page = context.new_page()
        page.goto(regional.url + "/demo/")
        page.wait_for_load_state("load")
        return page

    yield open_
    for context in contexts:
        context.close()


def statuses(page) -> dict[str, str]:
    return {tag: page.locator(f"#status-{tag}").text_content() for tag in TAGS}


def cookie_names(page) -> set[str]:
    return {c["name"] for c in page.context.cookies()}


def gpp(page, command: str, parameter=None) -> dict:
    return page.evaluate(GPP, [command, parameter])


def decoded(gpp_string: str) -> dict:
    """The US National section as the IAB's reference library reads the string."""
    assert ORACLE.exists(), "the GPP oracle is missing: npm ci --prefix banner_static"
    script = f"""
        const {{ GppModel }} = require({json.dumps(str(ORACLE))});
        const model = new GppModel({json.dumps(gpp_string)});
        console.log(JSON.stringify({{
            sections: model.getSectionIds(),
            usnat: model.getSection("usnat"),
        }}));
    """
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_an_eu_visitor_is_asked_first_and_nothing_optional_runs(visit):
    page = visit(EU)
    banner = page.get_by_role("dialog", name="Cookie preferences", exact=True)
    expect(banner).to_be_visible()
    expect(banner.get_by_role("button", name="Reject all")).to_be_visible()
    page.wait_for_timeout(300)  # the tags would have run by now
    assert set(statuses(page).values()) == {"blocked"}
    assert not {"_ga", "_fbp"} & cookie_names(page)
    # No GPP and no notice code in the opt-in variant.
    assert page.evaluate("typeof window.__gpp") == "undefined"
    expect(page.get_by_role("link", name="Cookie Preferences")).to_be_visible()


def test_a_californian_gets_the_notice_the_link_and_advertising_until_opting_out(visit, regional):
    page = visit(CA)
    notice = page.get_by_role("dialog", name="Your privacy", exact=True)
    expect(notice).to_be_visible()
    # The law's link, with its icon, in the page, and in the notice; nothing asked first.
    link = page.get_by_role("link", name="Your Privacy Choices")
    expect(link).to_be_visible()
    assert link.locator("svg").count() == 1
    expect(notice.get_by_role("button", name="Your Privacy Choices")).to_be_visible()
    page.wait_for_function("() => document.getElementById('status-ads').textContent === 'ran'")
    assert wait_until(page, lambda: {"_ga", "_fbp"} <= cookie_names(page), "the tags' cookies")

    ping = gpp(page, "ping")["data"]
    assert ping["gppVersion"] == "1.1" and ping["cmpId"] == 1
    assert ping["signalStatus"] == "ready" and ping["applicableSections"] == [7]
    assert decoded(ping["gppString"])["usnat"]["SaleOptOut"] == 2  # did not opt out

    notice.get_by_role("button", name="Opt out").click()
    expect(notice).to_be_hidden()
    # The notice gone, the link floats at the page's corner, with the icon.
    choices = page.get_by_role("button", name="Your Privacy Choices")
    expect(choices).to_be_visible()
    assert choices.locator("svg").count() == 1
    # Advertising's cookies go at once; functional stays as it was.
    assert wait_until(page, lambda: "_fbp" not in cookie_names(page), "_fbp deleted")
    assert "_ga" in cookie_names(page)
    assert gpp(page, "getField", "usnat.SaleOptOut")["data"] == 1
    usnat = decoded(gpp(page, "ping")["data"]["gppString"])["usnat"]
    assert (usnat["SaleOptOut"], usnat["SharingOptOut"], usnat["TargetedAdvertisingOptOut"]) == (
        1,
        1,
        1,
    )

    # Recorded with the region and the model that applied.
    consent_id = page.evaluate("Consent.get().id")
    current = regional.wait_for_receipt(consent_id)["current"]
    assert (current["region"], current["privacy_model"]) == ("US-CA", "opt_out")
    assert current["categories"]["advertising"] is False
    # The next page: advertising stays off, the notice does not come back.
    page.reload()
    page.wait_for_load_state("load")
    expect(notice).to_be_hidden()
    page.wait_for_timeout(300)
    assert statuses(page)["ads"] == "blocked"


def test_a_californian_with_gpc_is_opted_out_before_any_tag_runs(visit, regional):
    page = visit(CA, gpc=True)
    page.wait_for_timeout(300)
    assert statuses(page)["ads"] == statuses(page)["pixel"] == "blocked"
    assert not {"_fbp", "_ga"} & cookie_names(page)
    expect(page.get_by_role("dialog", name="Your privacy", exact=True)).to_be_hidden()
    # Shown as honoured (CCPA regulations §7025(c)(6)), on the link itself.
    choices = page.get_by_role("button", name="Your Privacy Choices").last
    expect(choices).to_contain_text("Opt-Out Request Honored")
    choices.click()
    expect(page.get_by_text("Opt-Out Request Honored").last).to_be_visible()

    fields = {
        name: gpp(page, "getField", f"usnat.{name}")["data"]
        for name in ("SaleOptOut", "SharingOptOut", "TargetedAdvertisingOptOut", "Gpc")
    }
    assert fields == {
        "SaleOptOut": 1,
        "SharingOptOut": 1,
        "TargetedAdvertisingOptOut": 1,
        "Gpc": True,
    }
    assert gpp(page, "hasSection", "usnat")["data"] is True
    assert decoded(gpp(page, "ping")["data"]["gppString"])["usnat"]["Gpc"] is True
    current = regional.wait_for_receipt(page.evaluate("Consent.get().id"))["current"]
    assert (current["method"], current["privacy_model"]) == ("gpc", "opt_out")


def test_an_eu_visitor_with_gpc_gets_refusal_and_no_banner(visit):
    page = visit(EU, gpc=True)
    page.wait_for_timeout(300)
    expect(page.get_by_role("dialog", name="Cookie preferences", exact=True)).to_be_hidden()
    assert set(statuses(page).values()) == {"blocked"}
    assert page.evaluate("Consent.get().method") == "gpc"


@pytest.mark.parametrize("headers", [EU, CA], ids=["EU", "US-CA"])
def test_an_adpc_refusal_is_honoured_like_gpc(visit, regional, headers):
    """ADPC (Advanced Data Protection Control): the browser sends `ADPC: withdraw=*`; the
    script it gets says so, and the banner refuses as under GPC, before any tag runs."""
    page = visit({**headers, "ADPC": "withdraw=*"})
    page.wait_for_timeout(300)
    assert set(statuses(page).values()) == {"blocked"}
    assert not {"_fbp", "_ga"} & cookie_names(page)
    expect(page.get_by_role("dialog", name="Cookie preferences", exact=True)).to_be_hidden()
    expect(page.get_by_role("dialog", name="Your privacy", exact=True)).to_be_hidden()
    assert page.evaluate("Consent.get().signal") == "adpc"
    current = regional.wait_for_receipt(page.evaluate("Consent.get().id"))["current"]
    assert current["method"] == "adpc"
    assert current["categories"] == {"required": True, "functional": False, "advertising": False}


def test_the_gpc_crawlers_checks(visit, regional):
    """What the academic GPC compliance crawler reads, without and with GPC: the GPP
    string in the page and the site's /.well-known/gpc.json."""
    with urllib.request.urlopen(regional.url + "/.well-known/gpc.json") as answer:
        well_known = json.load(answer)
    assert well_known["gpc"] is True
    datetime.date.fromisoformat(well_known["lastUpdate"])

    without = decoded(gpp(visit(CA), "ping")["data"]["gppString"])
    with_gpc = decoded(gpp(visit(CA, gpc=True), "ping")["data"]["gppString"])
    assert without["sections"] == with_gpc["sections"] == [7]
    assert (without["usnat"]["SaleOptOut"], without["usnat"]["Gpc"]) == (2, False)
    # The opt-out is visible in every field of the string the signal concerns.
    for field in ("SaleOptOut", "SharingOptOut", "TargetedAdvertisingOptOut"):
        assert with_gpc["usnat"][field] == 1, field
    assert with_gpc["usnat"]["Gpc"] is True


def test_a_refusal_is_not_asked_again_for_its_period(visit):
    page = visit(EU)
    now = datetime.datetime.now(datetime.UTC)
    page.clock.install(time=now)
    page.reload()
    banner = page.get_by_role("dialog", name="Cookie preferences", exact=True)
    banner.get_by_role("button", name="Reject all").click()
    expect(banner).to_be_hidden()

    # 181 days on (refusals last the site's 182): still not asked.
    page.clock.set_system_time(now + datetime.timedelta(days=181))
    page.reload()
    page.wait_for_load_state("load")
    expect(banner).to_be_hidden()
    assert page.evaluate("Consent.get().method") == "reject_all"
    # 183 days on: asked again, nothing optional allowed meanwhile.
    page.clock.set_system_time(now + datetime.timedelta(days=183))
    page.reload()
    expect(banner).to_be_visible()
    assert page.evaluate("Consent.get().decided") is False


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violations_in_the_notice_and_the_link(visit, artifacts, scheme):
    # axe is added to the page by the test: the demo's CSP would refuse it.
    page = visit(CA, color_scheme=scheme, viewport={"width": 1280, "height": 800}, bypass_csp=True)
    expect(page.get_by_role("dialog", name="Your privacy", exact=True)).to_be_visible()
    page.screenshot(path=artifacts / f"notice-{scheme}.png")
    assert axe_violations(page) == []
    page.get_by_role("button", name="OK").click()
    expect(page.get_by_role("button", name="Your Privacy Choices").last).to_be_visible()
    page.screenshot(path=artifacts / f"privacy-choices-{scheme}.png")
    assert axe_violations(page) == []
