"""Placeholders for blocked embeds: in the held iframe's own box, the vendor and its
category in the visitor's language, "Load this once" and "Always allow <category>";
usable from the keyboard, read by assistive technology, themed like the banner, and
nothing on the page moves when the embed loads. For auto-blocked embeds (the YouTube video
and Facebook post the tag manager adds) and markup-gated ones (the map) alike."""

import pytest
from playwright.sync_api import expect

from .conftest import AXE, wait_until

VIDEO = "iframe[title='YouTube video player']"
POST = "iframe[title='Facebook post']"
MAP = "iframe[title='Map of the workshop']"
# Every layout shift, even right after input (which CLS would forgive).
WATCH_SHIFTS = """
    window.__shifts = [];
    new PerformanceObserver(list => {
        for (const entry of list.getEntries()) {
            window.__shifts.push({value: entry.value, startTime: entry.startTime});
        }
    }).observe({type: "layout-shift", buffered: true});
"""
# Moves the page on purpose: a shift reported after any caused before it.
SHIFT_THE_PAGE = """() => {
    window.__shiftedAt = performance.now();
    const spacer = document.createElement("div");
    spacer.setAttribute("style", "height: 20px");
    document.body.prepend(spacer);
}"""


def shift_the_page(page) -> float:
    """Moves the page and waits until that is reported; the time it was reported at."""
    page.evaluate(SHIFT_THE_PAGE)
    page.wait_for_function("() => window.__shifts.some(s => s.startTime >= window.__shiftedAt)")
    return page.evaluate("Math.max(...window.__shifts.map(s => s.startTime))")


@pytest.fixture
def tag_manager(autoblock_site):
    return autoblock_site.url + "/tag-manager.html"


def placeholder(visit, selector, load_once="Load this once"):
    """The placeholder inside a held iframe, once the banner has filled it."""
    frame = visit.page.frame_locator(selector)
    expect(frame.get_by_role("button", name=load_once)).to_be_visible()
    return frame


def test_a_held_embed_says_what_it_is_in_its_own_box(open_vendor_page, tag_manager):
    visit = open_vendor_page(tag_manager)
    visit.settle()
    video = placeholder(visit, VIDEO)
    expect(video.get_by_text("YouTube · Functional")).to_be_visible()
    expect(video.get_by_role("button", name="Always allow Functional")).to_be_visible()
    post = placeholder(visit, POST)
    expect(post.get_by_text("Meta Pixel · Advertising")).to_be_visible()
    expect(post.get_by_role("button", name="Always allow Advertising")).to_be_visible()
    # The iframe keeps the size its markup gives it.
    box = visit.page.locator(VIDEO).bounding_box()
    assert (box["width"], box["height"]) == (560, 315)
    # A markup-gated one, named by the vendor whose host it loads from.
    expect(placeholder(visit, MAP).get_by_text("Google Maps · Functional")).to_be_visible()


def test_the_placeholder_speaks_the_visitors_language(open_vendor_page, autoblock_site):
    visit = open_vendor_page(autoblock_site.url + "/tag-manager.html?lang=de")
    visit.settle()
    video = placeholder(visit, VIDEO, load_once="Einmal laden")
    expect(video.get_by_text("YouTube · Funktional")).to_be_visible()
    expect(video.get_by_role("button", name="Funktional immer erlauben")).to_be_visible()
    assert video.locator("html").get_attribute("lang") == "de"


def test_load_this_once_loads_that_embed_only_and_moves_nothing(open_vendor_page, tag_manager):
    visit = open_vendor_page(tag_manager, init_script=WATCH_SHIFTS)
    visit.settle()
    # Every shift the page's own loading caused is reported before the click.
    last_before = shift_the_page(visit.page)
    before = {s: visit.page.locator(s).bounding_box() for s in (VIDEO, POST)}
    heading = visit.page.get_by_role("heading", name="Cups").bounding_box()

    placeholder(visit, VIDEO).get_by_role("button", name="Load this once").click()
    wait_until(visit.page, lambda: visit.reached("www.youtube.com"), "the YouTube embed")
    visit.wait_for(
        "() => document.querySelector(\"iframe[title='YouTube video player']\").contentDocument === null"
    )

    assert (
        visit.page.locator(VIDEO).get_attribute("src").startswith("https://www.youtube.com/embed/")
    )
    assert {s: visit.page.locator(s).bounding_box() for s in (VIDEO, POST)} == before
    assert visit.page.get_by_role("heading", name="Cups").bounding_box() == heading
    shift_the_page(visit.page)
    shifts = visit.page.evaluate(
        "(after) => window.__shifts.filter(s => s.startTime > after && s.startTime < window.__shiftedAt)",
        last_before,
    )
    assert shifts == []
    # Nothing was decided: the other embed waits, the banner still asks.
    assert visit.reached("www.facebook.com") == []
    placeholder(visit, POST)
    assert visit.page.evaluate("Consent.get().decided") is False
    expect(visit.page.get_by_role("dialog", name="Cookie preferences", exact=True)).to_be_visible()


def test_always_allow_records_the_choice_and_loads_every_embed_of_the_category(
    open_vendor_page, tag_manager
):
    visit = open_vendor_page(tag_manager, viewport={"width": 1280, "height": 1600})
    visit.settle()
    placeholder(visit, MAP).get_by_role("button", name="Always allow Functional").click()

    wait_until(visit.page, lambda: visit.reached("maps.google.com"), "the map")
    wait_until(visit.page, lambda: visit.reached("www.youtube.com"), "the video")
    choice = visit.page.evaluate("Consent.get()")
    assert choice["method"] == "custom"
    assert choice["categories"] == {"required": True, "functional": True, "advertising": False}
    record = visit.platform.wait_for_receipt(visit.consent_id())["current"]
    assert record["categories"] == {"required": True, "functional": True, "advertising": False}
    expect(visit.page.get_by_role("dialog", name="Cookie preferences", exact=True)).to_be_hidden()
    # An advertising vendor's embed and script are still held.
    placeholder(visit, POST)
    assert visit.reached("www.facebook.com") == []
    assert visit.reached("connect.facebook.net") == []


def test_a_keyboard_user_loads_an_embed_and_stays_on_it(open_vendor_page, tag_manager):
    visit = open_vendor_page(tag_manager)
    visit.settle()
    placeholder(visit, VIDEO)
    page = visit.page
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate(
            "() => document.activeElement.matches(\"iframe[title='YouTube video player']\")"
            " && document.activeElement.contentDocument.activeElement.textContent === 'Load this once'"
        ):
            break
    else:
        raise AssertionError("Tab never reached the placeholder's Load this once")
    page.keyboard.press("Enter")
    wait_until(page, lambda: visit.reached("www.youtube.com"), "the YouTube embed")
    # Focus stays where the visitor was: on the embed they asked for.
    assert page.evaluate("document.activeElement.title") == "YouTube video player"


def test_assistive_technology_reads_what_the_placeholder_says(open_vendor_page, tag_manager):
    visit = open_vendor_page(tag_manager)
    visit.settle()
    video = placeholder(visit, VIDEO)
    assert video.locator("body").aria_snapshot() == (
        "- paragraph:\n"
        "  - strong: YouTube\n"
        "  - text: · Functional\n"
        '- button "Load this once"\n'
        '- button "Always allow Functional"'
    )
    # The frame is named by the embed's own title.
    assert visit.page.get_by_title("YouTube video player").count() == 1


def test_under_gpc_only_loading_once_is_offered(open_vendor_page, tag_manager):
    visit = open_vendor_page(
        tag_manager,
        extra_http_headers={"Sec-GPC": "1"},
        init_script="Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})",
    )
    visit.settle()
    video = placeholder(visit, VIDEO)
    expect(video.get_by_role("button")).to_have_count(1)
    video.get_by_role("button", name="Load this once").click()
    wait_until(visit.page, lambda: visit.reached("www.youtube.com"), "the YouTube embed")
    assert visit.page.evaluate("Consent.get().categories.functional") is False


def axe_violations(page) -> list:
    assert AXE.exists(), "axe-core is missing: npm ci --prefix e2e"
    for frame in page.frames:
        frame.add_script_tag(path=str(AXE))
    return page.evaluate("""() => axe.run(document, {resultTypes: ["violations"]}).then(
        r => r.violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target)})))""")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violations_in_placeholders(open_vendor_page, tag_manager, artifacts, scheme):
    visit = open_vendor_page(
        tag_manager, color_scheme=scheme, viewport={"width": 1280, "height": 1600}
    )
    visit.settle()
    for embed in (VIDEO, POST, MAP):
        placeholder(visit, embed)
    visit.page.get_by_role("button", name="Reject all").click()
    visit.page.locator(VIDEO).screenshot(path=artifacts / f"placeholder-{scheme}.png")
    assert axe_violations(visit.page) == []
    # The placeholder takes the banner's colours.
    background = (
        visit.page.frame_locator(VIDEO)
        .locator(".dialog")
        .evaluate("e => getComputedStyle(e).backgroundColor")
    )
    assert background == ("rgb(255, 255, 255)" if scheme == "light" else "rgb(31, 31, 34)")
