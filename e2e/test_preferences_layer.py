"""The preferences layer is its own file (/c/SITE_KEY/preferences.js), loaded the first time
a visitor reaches for it; a visitor can always decide, even where it cannot load."""

from playwright.sync_api import expect

LAYER = "/preferences.js"


def layer_requests(visit) -> list[str]:
    return [url for url in visit.requests if url.endswith(LAYER)]


def test_it_loads_when_the_visitor_reaches_for_it_and_only_once(open_page):
    visit = open_page()
    page = visit.page
    expect(visit.banner()).to_be_visible()
    # Gated tags settled: everything the page loads by itself has been asked for.
    visit.ran_once_settled()
    assert layer_requests(visit) == []

    # Pointing at "Customise" starts the download, before the click.
    with page.expect_request(lambda request: request.url.endswith(LAYER)):
        page.get_by_role("button", name="Customise").hover()
    page.get_by_role("button", name="Customise").click()
    preferences = visit.preferences()
    expect(preferences).to_be_visible()
    expect(preferences.get_by_role("switch", name="Functional")).not_to_be_checked()
    # What only this layer shows came with it.
    for summary in preferences.locator("summary").all():
        summary.click()
    expect(preferences.get_by_text("Distinguishes visitors for usage statistics.")).to_be_visible()
    expect(preferences.get_by_text("Plays embedded videos.")).to_be_visible()

    page.keyboard.press("Escape")
    expect(preferences).to_be_hidden()
    page.get_by_role("button", name="Customise").click()
    expect(preferences).to_be_visible()
    assert len(layer_requests(visit)) == 1


def test_a_visitor_can_still_decide_when_the_layer_cannot_load(open_page):
    visit = open_page()
    page = visit.page
    page.route("**/preferences.js", lambda route: route.abort())
    page.get_by_role("button", name="Accept all").click()
    visit.wait_for_ran(5)

    # The floating button: the first layer shows instead, with focus, and decides.
    page.get_by_role("button", name="Cookie Preferences").click()
    banner = visit.banner()
    expect(banner).to_be_visible()
    expect(banner).to_be_focused()
    expect(visit.preferences()).to_have_count(0)
    banner.get_by_role("button", name="Reject all").click()
    expect(banner).to_be_hidden()
    assert page.evaluate("Consent.get().method") == "reject_all"
    assert page.evaluate("Consent.allowed('advertising')") is False

    # Once the file can be fetched again, the next try loads it.
    page.unroute("**/preferences.js")
    page.get_by_role("button", name="Cookie Preferences").click()
    expect(visit.preferences()).to_be_visible()
    expect(visit.preferences().get_by_role("switch", name="Advertising")).not_to_be_checked()


def test_deciding_on_the_first_layer_does_not_download_it(open_page):
    visit = open_page()
    page = visit.page
    page.get_by_role("button", name="Reject all").focus()
    page.keyboard.press("Enter")
    # Focus lands on the floating button, which opens the layer: that alone loads nothing.
    expect(page.get_by_role("button", name="Cookie Preferences")).to_be_focused()
    visit.ran_once_settled()
    assert layer_requests(visit) == []
