"""{% load consent %}: the embed with its nonce, server-side gating, the preferences link."""

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.test import RequestFactory

from consent.middleware import VisitorConsent
from tests.sites import stored_choice

pytestmark = pytest.mark.urls("tests.sites.urls")


@pytest.fixture(autouse=True)
def _whole_site_enforced(settings):
    """tests.sites is a Django site that installs the app: every page is its own."""
    settings.CONSENT_ENFORCED_PATHS = ["/"]


def render(source: str, cookie: str = "", **headers) -> str:
    request = RequestFactory().get(
        "/", HTTP_COOKIE=f"consent={cookie}" if cookie else "", **headers
    )
    request.consent = VisitorConsent(request)
    return Template("{% load consent %}" + source).render(Context({"request": request}))


GATED = '{% ifconsent "advertising" %}<script src="https://connect.facebook.net/fbevents.js"></script>{% else %}no ads{% endifconsent %}'


def test_ifconsent_renders_the_tracker_with_consent(site):
    assert (
        render(GATED, stored_choice(advertising=True))
        == '<script src="https://connect.facebook.net/fbevents.js"></script>'
    )


def test_ifconsent_renders_the_else_branch_without_consent(site):
    assert render(GATED) == "no ads"
    assert render(GATED, stored_choice(functional=True, advertising=False)) == "no ads"


def test_ifconsent_renders_nothing_under_gpc(site):
    assert render(GATED, stored_choice(advertising=True), HTTP_SEC_GPC="1") == "no ads"


def test_ifconsent_without_else_renders_nothing(site):
    assert render('{% ifconsent "functional" %}stats{% endifconsent %}') == ""


def test_ifconsent_takes_a_variable(site):
    template = Template("{% load consent %}{% ifconsent slug %}yes{% endifconsent %}")
    request = RequestFactory().get("/", HTTP_COOKIE="consent=" + stored_choice(functional=True))
    request.consent = VisitorConsent(request)
    assert template.render(Context({"request": request, "slug": "functional"})) == "yes"


def test_ifconsent_renders_nothing_optional_without_the_middleware():
    template = Template(
        '{% load consent %}{% ifconsent "required" %}yes{% else %}no{% endifconsent %}'
    )
    assert template.render(Context({})) == "no"


def test_ifconsent_needs_exactly_one_category():
    with pytest.raises(TemplateSyntaxError, match="takes one category"):
        Template("{% load consent %}{% ifconsent %}x{% endifconsent %}")


def test_consent_script_outputs_the_embed_with_the_requests_nonce(client, site):
    response = client.get("/t/page/")
    nonce = response.wsgi_request.csp_nonce
    assert f'<script src="/c/demo.js" nonce="{nonce}"></script>' in response.text
    assert f"'nonce-{nonce}'" in response.headers["Content-Security-Policy"]


def test_consent_script_uses_the_public_url_and_a_given_site_key(settings):
    settings.CONSENT_PUBLIC_URL = "https://consent.example.com"
    html = Template('{% load consent %}{% consent_script "shop-2" %}').render(Context({}))
    assert html == '<script src="https://consent.example.com/c/shop-2.js"></script>'


def test_consent_preferences_link_reopens_the_panel(site):
    assert (
        render("{% consent_preferences_link %}")
        == '<a href="#" data-consent-open>Cookie Preferences</a>'
    )
    assert render('{% consent_preferences_link "Cookie settings" %}') == (
        '<a href="#" data-consent-open>Cookie settings</a>'
    )


def test_consent_preferences_link_escapes_its_text(site):
    template = Template("{% load consent %}{% consent_preferences_link label %}")
    assert template.render(Context({"label": "Cookies <b>"})) == (
        '<a href="#" data-consent-open>Cookies &lt;b&gt;</a>'
    )


def test_where_opt_out_applies_the_link_is_your_privacy_choices_with_its_icon(site, settings):
    from consent.models import RegionalRule

    settings.CONSENT_COUNTRY_HEADER = "CF-IPCountry"
    settings.CONSENT_REGION_HEADER = "X-Region"
    RegionalRule.objects.create(site=site, name="US", regions="US-CA", privacy_model="opt_out")
    californian = render(
        "{% consent_preferences_link %}", HTTP_CF_IPCOUNTRY="US", HTTP_X_REGION="CA"
    )
    assert californian.startswith('<a href="#" data-consent-open><svg ')
    assert californian.endswith("</svg> Your Privacy Choices</a>")
    assert render("{% consent_preferences_link %}", HTTP_CF_IPCOUNTRY="DE") == (
        '<a href="#" data-consent-open>Cookie Preferences</a>'
    )
