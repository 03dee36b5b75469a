"""Every decision reaches the platform, even when the first attempt fails."""

from playwright.sync_api import expect


def test_a_failed_post_is_kept_and_lands_on_the_next_page_view(open_page):
    visit = open_page()
    endpoint = f"{visit.platform.url}/api/v1/sites/demo/consents"
    visit.page.route(endpoint, lambda route: route.abort())
    with visit.page.expect_event("requestfailed", lambda request: request.url == endpoint):
        visit.page.get_by_role("button", name="Reject all").click()
    consent_id = visit.consent_id()

    assert len(visit.queued()) == 1
    assert visit.platform.receipt(consent_id) is None

    visit.page.unroute(endpoint)
    visit.page.reload()
    receipt = visit.platform.wait_for_receipt(consent_id)
    assert receipt["current"]["method"] == "reject_all"
    assert len(receipt["history"]) == 1
    visit.wait_for_queue_to_empty()


def test_a_decision_whose_answer_was_lost_is_recorded_once(open_page):
    visit = open_page()
    endpoint = f"{visit.platform.url}/api/v1/sites/demo/consents"

    def deliver_then_lose_the_answer(route):
        route.fetch()  # the platform stores the record...
        route.abort()  # ...but the page never hears back, as when the tab closes

    visit.page.route(endpoint, deliver_then_lose_the_answer)
    with visit.page.expect_event("requestfailed", lambda request: request.url == endpoint):
        visit.page.get_by_role("button", name="Accept all").click()
    consent_id = visit.consent_id()
    assert visit.platform.wait_for_receipt(consent_id)["current"]["method"] == "accept_all"
    assert len(visit.queued()) == 1

    # The next view sends it again; it leaves the queue once the platform answered.
    visit.page.unroute(endpoint)
    visit.page.reload()
    visit.wait_for_queue_to_empty()
    assert len(visit.platform.receipt(consent_id)["history"]) == 1


def test_a_new_policy_version_asks_again_and_keeps_the_consent_id(open_page):
    visit = open_page()
    visit.page.get_by_role("button", name="Accept all").click()
    consent_id = visit.consent_id()
    visit.platform.wait_for_receipt(consent_id)
    # A choice stored for another policy version, as if the site published version 2.
    visit.page.evaluate("""() => {
        document.cookie = document.cookie.split("; ").find(c => c.startsWith("consent="))
            .replace("&v=1&", "&v=0&") + "; path=/; max-age=3600";
    }""")
    visit.page.reload()

    expect(visit.banner()).to_be_visible()
    assert visit.ran_once_settled() == []
    visit.page.get_by_role("button", name="Reject all").click()
    assert visit.consent_id() == consent_id
    history = visit.platform.wait_for_receipt(consent_id, records=2)["history"]
    assert [r["method"] for r in history] == ["reject_all", "accept_all"]
