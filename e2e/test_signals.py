"""GPC and DNT: every optional category off, no banner, the decision recorded once."""

import pytest

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
    visit.page.wait_for_timeout(300)

    assert not visit.banner().is_visible()
    assert visit.ran() == []
    assert visit.tracker_requests() == []
    assert not {"_ga", "_ga_TEST", "_fbp", "_gcl_au"} & set(visit.cookies())
    assert f"&m={signal}&functional=0&advertising=0" in visit.cookies()["consent"]
    receipt = visit.platform.wait_for_receipt(visit.consent_id())["current"]
    assert receipt["method"] == signal
    assert receipt[signal] is True
    assert receipt["categories"] == {"required": True, "functional": False, "advertising": False}

    # The preferences say the request was honoured, and offer nothing to switch on.
    visit.page.get_by_role("link", name="Cookie Preferences").click()
    preferences = visit.preferences()
    assert preferences.get_by_text("Opt-out request honoured").is_visible()
    for name in ("Functional", "Advertising"):
        switch = preferences.get_by_role("switch", name=name)
        assert not switch.is_checked() and switch.is_disabled()
    visit.page.keyboard.press("Escape")

    # Nothing can opt back in behind the signal's back, and it is recorded only once.
    visit.page.evaluate("Consent.acceptAll()")
    visit.page.reload()
    visit.page.wait_for_timeout(300)
    assert visit.ran() == []
    assert not visit.banner().is_visible()
    assert len(visit.platform.receipt(visit.consent_id())["history"]) == 1


def test_gpc_overrides_a_stored_opt_in_and_deletes_its_cookies(open_page):
    visit = open_page()
    visit.page.get_by_role("button", name="Accept all").click()
    visit.wait_for_ran(5)
    consent_id = visit.consent_id()
    # Once acknowledged, the decision leaves the retry queue (see test_records).
    visit.platform.wait_for_receipt(consent_id)
    while visit.queued():
        visit.page.wait_for_timeout(50)

    headers, init_script = SIGNALS["gpc"]
    later = open_page(
        storage_state=visit.page.context.storage_state(),
        extra_http_headers=headers,
        init_script=init_script,
    )
    later.page.wait_for_timeout(300)
    assert later.ran() == []
    assert later.tracker_requests() == []
    cookies = later.cookies_after_deletion({"_ga", "_ga_TEST", "_fbp", "_gcl_au"})
    assert not {"_ga", "_ga_TEST", "_fbp", "_gcl_au"} & set(cookies)
    assert f"id={consent_id}&" in cookies["consent"]
    history = visit.platform.wait_for_receipt(consent_id, records=2)["history"]
    assert [r["method"] for r in history] == ["gpc", "accept_all"]
