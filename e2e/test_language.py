"""The banner speaks the page's language, then the browser's, else the site's default."""


def test_the_page_language_wins_matched_by_its_base_language(open_page, site):
    visit = open_page(site.url + "de-AT/", locale="fr-FR")
    dialog = visit.page.get_by_role("dialog", name="Cookie-Einstellungen", exact=True)
    assert dialog.is_visible()
    assert dialog.get_by_role("button", name="Alle akzeptieren").is_visible()

    dialog.get_by_role("button", name="Alle ablehnen").click()
    record = visit.platform.wait_for_receipt(visit.consent_id())["current"]
    assert record["language"] == "de"


def test_the_browser_language_comes_next(open_page, site):
    visit = open_page(site.url + "ja/", locale="es-MX")
    dialog = visit.page.get_by_role("dialog", name="Preferencias de cookies", exact=True)
    assert dialog.get_by_role("button", name="Rechazar todas").is_visible()


def test_the_site_default_when_nothing_matches(open_page, site):
    visit = open_page(site.url + "ja/", locale="ja-JP")
    assert visit.banner().get_by_role("button", name="Reject all").is_visible()
