"""{% consent_script %}: one request for the banner on a site apart from the platform;
the script itself in the page, with no request, where the site already holds it."""

import pytest
from django.template import Context, Template

from consent.bundles import get_bundle
from consent.models import BannerText

pytestmark = pytest.mark.django_db

INLINE = "{% load consent %}{% consent_script inline=True %}"


def test_a_site_apart_from_the_platform_loads_the_platforms_script(settings, site):
    settings.CONSENT_PLATFORM_URL = "https://consent.example.com/"
    settings.CONSENT_PUBLIC_URL = "https://elsewhere.example"
    for tag in ("{% consent_script %}", "{% consent_script inline=True %}"):
        html = Template("{% load consent %}" + tag).render(Context({}))
        assert html == '<script src="https://consent.example.com/c/demo.js"></script>'


def test_a_site_sharing_the_platforms_database_can_inline_the_script(site):
    html = Template(INLINE).render(Context({}))
    assert html == "<script>" + get_bundle("demo").script.decode() + "</script>"


def test_the_inline_script_carries_the_requests_nonce(client, site, settings):
    settings.CONSENT_ENFORCED_PATHS = ["/"]
    response = client.get("/demo/")
    nonce = response.wsgi_request.csp_nonce
    html = Template(INLINE).render(Context({"request": response.wsgi_request}))
    assert html.startswith(f'<script nonce="{nonce}">')


@pytest.mark.parametrize("words", ["<!-- offer", "a <SCRIPT> tag"])
def test_texts_that_could_confuse_the_element_keep_the_script_external(site, words):
    BannerText.objects.update_or_create(site=site, language="en", defaults={"title": words})
    html = Template(INLINE).render(Context({}))
    assert html == '<script src="/c/demo.js"></script>'


def test_a_text_that_would_end_the_element_is_inlined_escaped(site):
    BannerText.objects.update_or_create(site=site, language="en", defaults={"title": "</script>"})
    html = Template(INLINE).render(Context({}))
    assert html.lower().count("</script") == 1  # the element's own end
    assert "<\\/script>" in html


def test_an_unknown_site_is_never_inlined(site):
    html = Template('{% load consent %}{% consent_script "nope" inline=True %}').render(Context({}))
    assert html == '<script src="/c/nope.js"></script>'
