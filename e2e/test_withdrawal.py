"""Withdrawing a category deletes its cookies and offers a reload; it is recorded."""


def test_withdrawing_advertising_deletes_its_cookies_and_keeps_the_others(open_page):
    visit = open_page()
    visit.page.get_by_role("button", name="Accept all").click()
    visit.wait_for_ran(5)
    visit.wait_for_cookies({"_ga", "_ga_TEST", "_fbp", "_gcl_au"})

    visit.page.get_by_role("link", name="Cookie Preferences").click()
    preferences = visit.preferences()
    advertising = preferences.get_by_role("switch", name="Advertising")
    assert advertising.is_checked()
    advertising.uncheck()
    preferences.get_by_role("button", name="Save choices").click()

    cookies = visit.cookies_after_deletion({"_fbp", "_gcl_au"})
    # _fbp was set on "/", _gcl_au on "/shop": both path variants are expired.
    assert not {"_fbp", "_gcl_au"} & set(cookies)
    assert {"_ga", "_ga_TEST"} <= set(cookies)
    assert "&m=withdraw&functional=1&advertising=0" in cookies["consent"]
    assert visit.page.get_by_role(
        "button", name="Reload the page to stop what already ran."
    ).is_visible()
    assert visit.page.evaluate("Consent.allowed('advertising')") is False

    history = visit.platform.wait_for_receipt(visit.consent_id(), records=2)
    assert [r["method"] for r in history["history"]] == ["withdraw", "accept_all"]

    visit.page.reload()
    assert visit.ran_once_settled() == ["ga", "inline-functional"]
    assert not {"_fbp", "_gcl_au"} & set(visit.cookies())


def test_rejecting_all_after_accepting_deletes_pattern_cookies_too(open_page):
    visit = open_page()
    visit.page.evaluate("Consent.acceptAll()")
    visit.wait_for_ran(5)
    changes = visit.page.evaluate("""() => new Promise(resolve => {
        document.addEventListener("consent:change", e => resolve(e.detail), {once: true});
        Consent.rejectAll();
    })""")

    assert changes["categories"] == {"required": True, "functional": False, "advertising": False}
    assert changes["method"] == "reject_all"
    cookies = visit.cookies_after_deletion({"_ga", "_ga_TEST", "_fbp", "_gcl_au"})
    assert not {"_ga", "_ga_TEST", "_fbp", "_gcl_au"} & set(cookies)
    assert "consent" in cookies
