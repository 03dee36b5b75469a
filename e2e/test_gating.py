"""Gated tags: nothing before consent, then exactly what the visitor allowed, in order."""

import re

from playwright.sync_api import expect

ALL_TAGS = ["ga", "inline-functional", "ads", "inline-advertising", "late-advertising"]
FUNCTIONAL_TAGS = ["ga", "inline-functional"]


def test_nothing_gated_runs_or_leaves_the_browser_before_consent(open_page):
    visit = open_page()
    visit.page.wait_for_load_state("networkidle")

    expect(visit.banner()).to_be_visible()
    assert visit.ran_once_settled() == []
    assert visit.tracker_requests() == []
    assert visit.page.locator("iframe").get_attribute("src") is None
    assert visit.page.locator("img").get_attribute("src") is None
    assert not {"_ga", "_ga_TEST", "_fbp", "_gcl_au", "consent"} & set(visit.cookies())
    # The one request to the platform before the banner shows is the script itself.
    platform = [url for url in visit.requests if url.startswith(visit.platform.url)]
    assert platform == [visit.platform.url + "/c/demo.js"]


def test_consent_mode_default_comes_before_any_tag(open_page):
    visit = open_page()
    data_layer = visit.page.evaluate("dataLayer.map(args => Array.from(args))")
    assert data_layer == [
        [
            "consent",
            "default",
            {
                "security_storage": "granted",
                "analytics_storage": "denied",
                "functionality_storage": "denied",
                "personalization_storage": "denied",
                "ad_storage": "denied",
                "ad_user_data": "denied",
                "ad_personalization": "denied",
                "wait_for_update": 500,
            },
        ]
    ]


def test_accept_all_runs_every_gated_tag_once_in_document_order(open_page):
    visit = open_page()
    visit.page.get_by_role("button", name="Accept all").click()
    visit.wait_for_ran(5)

    assert visit.ran() == ALL_TAGS
    assert visit.page.locator("iframe").get_attribute("src") == visit.site.tracker + "/video.html"
    assert visit.page.locator("img").get_attribute("src") == visit.site.tracker + "/p.gif"
    assert not visit.banner().is_visible()
    cookie = visit.wait_for_cookies({"consent"})["consent"]
    assert re.fullmatch(
        r"id=[0-9a-f-]{36}&v=1&t=\d+&m=accept_all&functional=1&advertising=1", cookie
    )
    update = visit.page.evaluate("Array.from(dataLayer[dataLayer.length - 1])")
    assert update[:2] == ["consent", "update"]
    assert set(update[2].values()) == {"granted"}

    # The next page view runs them again, once each, without asking.
    visit.page.reload()
    assert visit.ran_once_settled() == ALL_TAGS
    expect(visit.banner()).to_be_hidden()


def test_reject_all_runs_nothing(open_page):
    visit = open_page()
    visit.page.get_by_role("button", name="Reject all").click()
    visit.page.reload()

    assert visit.ran_once_settled() == []
    assert visit.tracker_requests() == []
    expect(visit.banner()).to_be_hidden()
    assert "&m=reject_all&functional=0&advertising=0" in visit.cookies()["consent"]
    record = visit.platform.wait_for_receipt(visit.consent_id())["current"]
    assert record["method"] == "reject_all"
    assert record["categories"] == {"required": True, "functional": False, "advertising": False}


def test_custom_choice_runs_exactly_the_chosen_category(open_page):
    visit = open_page()
    visit.page.get_by_role("button", name="Customise").click()
    preferences = visit.preferences()
    assert not preferences.get_by_role("switch", name="Functional").is_checked()
    assert not preferences.get_by_role("switch", name="Advertising").is_checked()
    required = preferences.get_by_role("switch", name="Required")
    assert required.is_checked() and required.is_disabled()

    preferences.get_by_role("switch", name="Functional").check()
    preferences.get_by_role("button", name="Save choices").click()

    assert visit.ran_once_settled() == FUNCTIONAL_TAGS
    # The iframe's request is the last the functional tags make.
    tracked = visit.wait_for_tracker_request("/video.html")
    assert visit.site.tracker + "/ga.js" in tracked
    assert not any(url.endswith(("/ads.js", "/p.gif")) for url in tracked)
    assert visit.page.locator("img").get_attribute("src") is None
    cookies = visit.wait_for_cookies({"_ga", "_ga_TEST"})
    assert not {"_fbp", "_gcl_au"} & set(cookies)
    record = visit.platform.wait_for_receipt(visit.consent_id())["current"]
    assert record["method"] == "custom"
    assert record["categories"] == {"required": True, "functional": True, "advertising": False}


def test_tags_added_after_consent_run_when_allowed_and_not_otherwise(open_page):
    visit = open_page()
    visit.page.evaluate("Consent.set({functional: true, advertising: false})")
    visit.page.evaluate("""() => {
        for (const category of ["functional", "advertising"]) {
            const tag = document.createElement("script");
            tag.type = "text/plain";
            tag.dataset.consent = category;
            tag.textContent = `window.__ran.push("added-${category}")`;
            document.body.append(tag);
        }
    }""")
    assert visit.ran_once_settled() == [*FUNCTIONAL_TAGS, "added-functional"]


def test_the_banner_works_under_a_strict_content_security_policy(open_page, site):
    visit = open_page(site.csp_url)
    visit.page.evaluate("""() => {
        window.__violations = [];
        document.addEventListener("securitypolicyviolation",
            e => window.__violations.push(e.violatedDirective + " " + e.blockedURI));
    }""")
    assert visit.banner().is_visible()
    visit.page.get_by_role("button", name="Accept all").click()
    visit.wait_for_ran(5)
    visit.page.get_by_role("link", name="Cookie Preferences").click()
    expect(visit.preferences()).to_be_visible()
    assert visit.ran() == ALL_TAGS
    assert visit.page.evaluate("window.__violations") == []
    visit.platform.wait_for_receipt(visit.consent_id())
