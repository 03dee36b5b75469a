"""Keyboard use, axe-core, small screens, zoom and layout stability, with screenshots."""

import pytest
from playwright.sync_api import expect

from .conftest import AXE

# The element that really has focus, looking into the banner's shadow root.
FOCUSED = """() => {
    let active = document.activeElement;
    while (active && active.shadowRoot && active.shadowRoot.activeElement) {
        active = active.shadowRoot.activeElement;
    }
    // (The preferences layer is there once it has been loaded.)
    const dialog = document.querySelector("consent-ui").shadowRoot.querySelector("[aria-modal]");
    return {
        label: active.getAttribute("aria-label")
            || (active.labels && active.labels.length ? active.labels[0] : active).textContent.trim(),
        role: active.getAttribute("role") || active.tagName.toLowerCase(),
        inDialog: !!dialog && dialog.contains(active),
        checked: active.checked,
    };
}"""


def focused(page) -> dict:
    return page.evaluate(FOCUSED)


def tab_to(page, label: str, limit: int = 30) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if focused(page)["label"] == label:
            return
    raise AssertionError(f"Tab never reached {label!r}")


def test_keyboard_only_visitor_can_customise_and_come_back(open_page):
    visit = open_page()
    page = visit.page
    # The banner takes focus when it appears, so the first Tab lands in it.
    assert focused(page)["role"] == "dialog"
    page.keyboard.press("Tab")
    assert focused(page)["label"] == "Privacy policy"
    for label in ("Accept all", "Reject all", "Customise"):
        page.keyboard.press("Tab")
        assert focused(page)["label"] == label

    page.keyboard.press("Enter")
    expect(visit.preferences()).to_be_visible()
    assert focused(page)["inDialog"]
    # Tab and Shift+Tab never leave the modal layer.
    for _ in range(25):
        page.keyboard.press("Tab")
        assert focused(page)["inDialog"]
    for _ in range(25):
        page.keyboard.press("Shift+Tab")
        assert focused(page)["inDialog"]

    page.keyboard.press("Escape")
    assert not visit.preferences().is_visible()
    assert focused(page)["label"] == "Customise"
    assert visit.banner().is_visible()

    page.keyboard.press("Enter")
    tab_to(page, "Functional")
    assert focused(page)["role"] == "switch"
    page.keyboard.press("Space")
    assert focused(page)["checked"] is True
    tab_to(page, "Save choices")
    page.keyboard.press("Enter")
    assert visit.ran_once_settled() == ["ga", "inline-functional"]
    assert not visit.banner().is_visible()
    # Focus is not lost with the layers: it lands on the floating button.
    assert focused(page)["label"] == "Cookie Preferences"

    page.keyboard.press("Enter")
    expect(visit.preferences()).to_be_visible()
    page.keyboard.press("Escape")
    assert focused(page)["label"] == "Cookie Preferences"

    page.focus("a[data-consent-open]")
    page.keyboard.press("Enter")
    expect(visit.preferences()).to_be_visible()
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.matches('a[data-consent-open]')")


def axe_violations(page) -> list:
    assert AXE.exists(), "axe-core is missing: npm ci --prefix e2e"
    page.add_script_tag(path=str(AXE))
    return page.evaluate("""() => axe.run(document, {resultTypes: ["violations"]}).then(
        r => r.violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target)})))""")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violations_on_either_layer(open_page, artifacts, scheme):
    visit = open_page(color_scheme=scheme, viewport={"width": 1280, "height": 800})
    page = visit.page
    page.screenshot(path=artifacts / f"layer1-{scheme}.png")
    assert axe_violations(page) == []

    page.get_by_role("button", name="Customise").click()
    expect(visit.preferences()).to_be_visible()
    for summary in visit.preferences().locator("summary").all():
        summary.click()
    page.screenshot(path=artifacts / f"layer2-{scheme}.png")
    assert axe_violations(page) == []

    page.keyboard.press("Escape")
    page.get_by_role("button", name="Reject all").click()
    page.screenshot(path=artifacts / f"decided-{scheme}.png")
    assert axe_violations(page) == []


@pytest.mark.parametrize(
    "name,options",
    [
        ("320px", {"viewport": {"width": 320, "height": 640}}),
        # What 200 % zoom does to a 1280 x 720 window: half the CSS pixels, twice as big.
        ("zoom200", {"viewport": {"width": 640, "height": 360}, "device_scale_factor": 2}),
    ],
)
def test_both_layers_fit_small_screens_and_zoom(open_page, artifacts, name, options):
    visit = open_page(**options)
    page = visit.page
    width = options["viewport"]["width"]
    page.screenshot(path=artifacts / f"layer1-{name}.png")
    for label in ("Accept all", "Reject all", "Customise"):
        button = page.get_by_role("button", name=label)
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, label
    accept = page.get_by_role("button", name="Accept all").bounding_box()
    reject = page.get_by_role("button", name="Reject all").bounding_box()
    assert (accept["width"], accept["height"]) == (reject["width"], reject["height"])

    page.get_by_role("button", name="Customise").click()
    dialog = visit.preferences()
    expect(dialog).to_be_visible()
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    assert dialog.evaluate("d => d.scrollWidth <= d.clientWidth")
    save = dialog.get_by_role("button", name="Save choices")
    save.scroll_into_view_if_needed()
    assert save.is_visible()
    page.screenshot(path=artifacts / f"layer2-{name}.png")


# Moves the page's content down on purpose, once the banner is done: the layout shift it
# causes is reported after any the banner caused, so once it is in, so are they.
SHIFT_THE_PAGE = """() => {
    window.__shiftedAt = performance.now();
    const spacer = document.createElement("div");
    spacer.setAttribute("style", "height: 200px");
    document.body.prepend(spacer);
}"""


def test_the_banner_causes_no_layout_shift(open_page):
    visit = open_page(
        init_script="""
        window.__shifts = [];
        new PerformanceObserver(list => {
            for (const entry of list.getEntries()) {
                window.__shifts.push({value: entry.value, startTime: entry.startTime});
            }
        }).observe({type: "layout-shift", buffered: true});
    """
    )
    page = visit.page
    page.evaluate("Consent.open()")
    page.keyboard.press("Escape")
    page.evaluate("Consent.acceptAll()")
    visit.wait_for_ran(5)
    page.evaluate(SHIFT_THE_PAGE)
    page.wait_for_function(
        "() => window.__shifts.some(shift => shift.startTime >= window.__shiftedAt)"
    )
    # Every shift counts here, even those right after input that CLS would forgive.
    shifts = page.evaluate("window.__shifts.filter(shift => shift.startTime < window.__shiftedAt)")
    assert shifts == []
