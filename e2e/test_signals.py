"""GPC and DNT: every optional category off, no banner, the decision recorded once."""

import pytest
from playwright.sync_api import expect

SIGNALS = {
    "gpc": (
        {"Sec-GPC": "1"},
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})",
    ),
    "dnt": (
        {"DNT": "1"},
        "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})",
    ),
}


@pytest.mark.parametrize("signal", SIGNALS)
def test_an_opt_out_signal_suppresses_every_optional_tag_without_a_banner(open_page, signal):
    headers, init_script = SIGNALS[signal]
    visit = open_page(extra_http_headers=headers, init_script=init_script)

    assert visit.ran_once_settled() == []
    expect(visit.banner()).to_be_hidden()
    assert visit.tracker_requests() == []
    cookies = visit.wait_for_cookies({"consent"})
    assert not {"_ga", "_ga_TEST", "_fbp", "_gcl_au"} & set(cookies)
    assert f"&m={signal}&functional=0&advertising=0" in cookies["consent"]
    receipt = visit.platform.wait_for_receipt(visit.consent_id())["current"]
    assert receipt["method"] == signal
    assert receipt[signal] is True
    assert receipt["categories"] == {"required": True, "functional": False, "advertising": False}

    # The preferences say the request was honoured, and offer nothing to switch on.
    visit.page.get_by_role("link", name="Cookie Preferences").click()
    preferences = visit.preferences()
    expect(preferences.get_by_text("Opt-out request honoured")).to_be_visible()
    for name in ("Functional", "Advertising"):
        switch = preferences.get_by_role("switch", name=name)
        assert not switch.is_checked() and switch.is_disabled()
    visit.page.keyboard.press("Escape")

    # Nothing can opt back in behind the signal's back, and it is recorded only once: a
    # decision posted on the way would stay queued until the platform had recorded it.
    visit.page.evaluate("Consent.acceptAll()")
    visit.page.reload()
    assert visit.ran_once_settled() == []
    expect(visit.banner()).to_be_hidden()
    visit.wait_for_queue_to_empty()
    assert len(visit.platform.receipt(visit.consent_id())["history"]) == 1


def test_gpc_overrides_a_stored_opt_in_and_deletes_its_cookies(open_page):
    visit = open_page()
    visit.page.get_by_role("button", name="Accept all").click()
    visit.wait_for_ran(5)
    consent_id = visit.consent_id()
    # Once acknowledged, the decision leaves the retry queue (see test_records).
    visit.platform.wait_for_receipt(consent_id)
    visit.wait_for_queue_to_empty()

    headers, init_script = SIGNALS["gpc"]
    later = open_page(
        storage_state=visit.page.context.storage_state(),
        extra_http_headers=headers,
        init_script=init_script,
    )
    assert later.ran_once_settled() == []
    assert later.tracker_requests() == []
    cookies = later.cookies_after_deletion({"_ga", "_ga_TEST", "_fbp", "_gcl_au"})
    assert not {"_ga", "_ga_TEST", "_fbp", "_gcl_au"} & set(cookies)
    assert f"id={consent_id}&" in cookies["consent"]
    history = visit.platform.wait_for_receipt(consent_id, records=2)["history"]
    assert [r["method"] for r in history] == ["gpc", "accept_all"]
