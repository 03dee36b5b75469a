"""Issue 11, item 1 in a real browser: every admin-editable text field holds a hostile
value (markup, a closing quote and <script>, a javascript: URL, CR/LF, quotes), written
straight into the database as rows from before the admin validated its input would be.
A superuser then opens every changelist and change page of those models, the statistics
and scan pages, and the demo shop. No injected script runs, no dialog opens, no link
goes to javascript:, and no Content-Security-Policy violation or script error is
reported: the values are shown as text everywhere, and our own code needs nothing the
strict policy forbids.
"""

import json

import pytest

from e2e.conftest import own_platform

PASSWORD = "correct horse battery staple"
MARKUP = '<img src=x onerror="window.__pwned=1">'
BREAKOUT = '"><script>window.__pwned=2</script>'
JS_URL = "javascript:window.__pwned=3//"
CRLF = "x\r\nSet-Cookie: pwned=1\r\n\r\n<script>window.__pwned=4</script>"
QUOTES = "'\"`);window.__pwned=5;//"
HOSTILE = MARKUP + BREAKOUT + QUOTES + CRLF
SLUGS = ["__proto__", "constructor", "toString", MARKUP]

PREPARE = f"""
from datetime import date
from django.contrib.auth.models import User
from consent.models import *

MARKUP, BREAKOUT, JS_URL, CRLF, QUOTES, HOSTILE = {[MARKUP, BREAKOUT, JS_URL, CRLF, QUOTES, HOSTILE]!r}
SLUGS = {SLUGS!r}
site = Site.objects.get(key="demo")
Site.objects.filter(pk=site.pk).update(
    name=HOSTILE,
    allowed_origins=site.allowed_origins + "\\n" + JS_URL + "\\n" + CRLF,
    default_language=BREAKOUT,
    cookie_name="consent;" + BREAKOUT,
    cookie_domain=CRLF,
    privacy_policy_url=JS_URL,
)
Site.objects.bulk_create([Site(name=HOSTILE + " 2", key="evil-" + "x" * 8, allowed_origins=JS_URL,
    default_language=MARKUP, cookie_name=QUOTES, cookie_domain=CRLF, privacy_policy_url=JS_URL)])
Category.objects.update(name=HOSTILE, description=HOSTILE)
Category.objects.bulk_create(
    [Category(slug=slug, name=HOSTILE, description=HOSTILE, order=9) for slug in SLUGS]
)
for number, vendor in enumerate(Vendor.objects.filter(site=site)):
    Vendor.objects.filter(pk=vendor.pk).update(
        name=HOSTILE + str(number),
        description=HOSTILE,
        privacy_policy_url=JS_URL,
        hosts=vendor.hosts + "\\n'unsafe-inline'\\n*\\n" + BREAKOUT + "\\nx.example;" + CRLF,
    )
optional = Category.objects.filter(slug="constructor").get()
Vendor.objects.bulk_create(
    [Vendor(site=site, name=MARKUP, category=optional, description=HOSTILE,
            privacy_policy_url=JS_URL, hosts="'unsafe-eval'\\n" + QUOTES)]
)
CookieDefinition.objects.update(domain=CRLF, path="/" + CRLF, purpose=HOSTILE)
for definition in CookieDefinition.objects.all():
    CookieDefinition.objects.filter(pk=definition.pk).update(name=definition.name + BREAKOUT)
CookieDefinition.objects.bulk_create(
    [CookieDefinition(site=site, name=HOSTILE, category=optional, domain=QUOTES,
                      path=CRLF, purpose=MARKUP)]
)
words = dict(title=HOSTILE, body=HOSTILE, accept_all=MARKUP, reject_all=BREAKOUT,
             customise=QUOTES, save_choices=CRLF, preferences=JS_URL,
             notice_title=HOSTILE, notice_body=MARKUP, opt_out_body=BREAKOUT, ok=QUOTES,
             opt_out=CRLF, privacy_choices=JS_URL)
category_texts = {{slug: {{"name": MARKUP, "description": BREAKOUT}} for slug in SLUGS}}
category_texts["functional"] = {{"name": HOSTILE, "description": JS_URL}}
BannerText.objects.update(category_texts=category_texts, **words)
missing = {{"en", BREAKOUT}} - set(site.texts.values_list("language", flat=True))
BannerText.objects.bulk_create(
    [BannerText(site=site, language=language, category_texts=category_texts, **words)
     for language in missing]
)
PolicyVersion.objects.filter(site=site).update(summary=HOSTILE, published_by=HOSTILE)
DailyStat.objects.bulk_create(
    [DailyStat(site=site, date=date.today(), method=Method.CUSTOM, total=3,
               allowed={{slug: 1 for slug in [*SLUGS, "functional"]}}, gpc=1)]
)
scan = CookieScan.objects.create(site=site, urls="https://shop.example/", status="done")
ScanFinding.objects.bulk_create(
    [ScanFinding(scan=scan, kind=kind, phase="before", page_url=JS_URL, name=HOSTILE,
                 domain=CRLF, path=BREAKOUT, same_site=QUOTES)
     for kind in ("cookie", "request")]
)
User.objects.create_superuser("root", password={PASSWORD!r})
"""

MODELS = ["site", "category", "vendor", "cookiedefinition", "bannertext", "policyversion"]

WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(
    [event.violatedDirective, event.blockedURI, event.sourceFile, event.sample].join(" | ")
  );
});
"""

# Every attribute that would run script when the element loads or is clicked, in the
# document and in open shadow roots (the banner's).
DANGEROUS = """() => {
  const URLS = /^(href|src|action|formaction|xlink:href|data|srcdoc)$/i;
  const found = [];
  const visit = (root) => {
    for (const element of root.querySelectorAll("*")) {
      for (const { name, value } of element.attributes) {
        if (/^on/i.test(name) || (URLS.test(name) && /^\\s*javascript:/i.test(value))) {
          found.push(`${element.tagName} ${name}=${value}`);
        }
      }
      if (element.shadowRoot) visit(element.shadowRoot);
    }
  };
  visit(document);
  return found;
}"""


@pytest.fixture(scope="module")
def hostile_platform():
    with own_platform(PREPARE) as platform:
        yield platform


@pytest.fixture
def superuser(browser, hostile_platform):
    """A superuser's page, logged in through the login form, with everything the browser
    reports collected: dialogs, script errors and console errors."""
    context = browser.new_context()
    context.add_init_script(WATCH)
    page = context.new_page()
    seen = {"dialogs": [], "errors": [], "console": [], "failed": []}
    page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.on("console", lambda message: console_error(message, seen))
    # The browser asks every page for /favicon.ico, which the platform does not serve.
    page.on(
        "response",
        lambda response: (
            response.status >= 400
            and not response.url.endswith("/favicon.ico")
            and seen["failed"].append(f"{response.status} {response.url}")
        ),
    )
    page.goto(f"{hostile_platform.url}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{hostile_platform.url}/admin/")
    yield page, seen
    context.close()


def console_error(message, seen: dict) -> None:
    # A failed load is logged as a console error too; those are in seen["failed"].
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        seen["console"].append(message.text)


def assert_nothing_ran(page, seen, url: str) -> None:
    assert page.evaluate("window.__pwned") is None, url
    assert page.evaluate("window.__violations") == [], url
    assert page.evaluate(DANGEROUS) == [], url
    assert seen == {"dialogs": [], "errors": [], "console": [], "failed": []}, url


def admin_pages(page, base: str) -> list[str]:
    """Every changelist and change page of the models holding hostile values."""
    urls = []
    for model in MODELS:
        changelist = f"{base}/admin/consent/{model}/"
        page.goto(changelist)
        urls.append(changelist)
        links = page.eval_on_selector_all(
            f"#result_list a[href*='/admin/consent/{model}/']", "links => links.map(a => a.href)"
        )
        assert links, f"no {model} in the changelist"
        urls.extend(dict.fromkeys(links))
    return urls


def test_a_superuser_browses_the_console_and_no_injected_script_runs(superuser, hostile_platform):
    page, seen = superuser
    base = hostile_platform.url
    page.goto(f"{base}/admin/consent/cookiescan/")
    scans = page.eval_on_selector_all(
        "#result_list a[href*='/cookiescan/']", "links => links.map(a => a.href)"
    )
    pages = [
        f"{base}/admin/",
        *admin_pages(page, base),
        f"{base}/admin/consent/dailystat/",  # the statistics dashboard
        f"{base}/admin/consent/cookiescan/",
        f"{base}/admin/consent/cookiescan/add/",
        *scans,  # the scan report
        f"{base}/admin/consent/consentrecord/",
        f"{base}/admin/consent/auditevent/",
    ]
    shown = 0
    for url in pages:
        response = page.goto(url)
        assert response.status == 200, url
        page.wait_for_load_state("load")
        assert_nothing_ran(page, seen, url)
        shown += MARKUP in page.inner_text("body")
    # The hostile values were there to be run, shown as text.
    assert shown >= len(MODELS) * 2


def test_the_demo_shop_shows_hostile_texts_as_text_and_runs_no_injected_script(
    superuser, hostile_platform
):
    page, seen = superuser
    page.goto(f"{hostile_platform.url}/demo/")
    page.wait_for_function("() => !!window.Consent")

    text = page.evaluate("document.querySelector('consent-ui').shadowRoot.textContent")
    assert MARKUP in text and BREAKOUT in text
    page.evaluate("Consent.open()")
    assert_nothing_ran(page, seen, "/demo/ with the preferences open")

    # Slugs named like Object's properties are categories like any other.
    slugs = json.dumps(SLUGS)
    before = page.evaluate(f"{slugs}.map((slug) => Consent.allowed(slug))")
    page.evaluate("Consent.rejectAll()")
    refused = page.evaluate(f"{slugs}.map((slug) => Consent.allowed(slug))")
    page.evaluate("Consent.acceptAll()")
    accepted = page.evaluate(f"{slugs}.map((slug) => Consent.allowed(slug))")
    assert (before, refused, accepted) == ([False] * 4, [False] * 4, [True] * 4)
    assert page.evaluate("({}).constructor === Object && ({}).polluted === undefined")
    assert_nothing_ran(page, seen, "/demo/ after the decisions")
