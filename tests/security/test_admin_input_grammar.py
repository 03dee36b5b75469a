"""Issue 11, item 1: a Marketing ops user types hostile values into the admin's forms.

Every field that reaches a header, a cookie attribute, a URL or a CSP is held to a
grammar in the model: the form shows an error and nothing is saved. (The guard where
headers are written, for rows stored before these rules, is tested with the middleware.)
"""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from consent import records
from consent.bundles import get_bundle
from consent.models import BannerText, Category, CookieDefinition, Site, Vendor
from consent.rules import Signals
from tests.security.forms import submit

pytestmark = pytest.mark.django_db

CRLF_HEADER = "/\r\nSet-Cookie: admin=pwned\r\n\r\n<script>alert(1)</script>"


@pytest.fixture
def marketing(site, marketing_client, marketing_user):
    site.staff.add(marketing_user)
    return marketing_client


def change_url(obj) -> str:
    return reverse(f"admin:consent_{obj._meta.model_name}_change", args=[obj.pk])


@pytest.fixture
def cookie(site) -> CookieDefinition:
    return CookieDefinition.objects.filter(site=site).order_by("pk").first()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("path", CRLF_HEADER),
        ("path", "/shop; Domain=evil.example"),
        ("path", "/a,b"),
        ("path", "/a b"),
        ("path", "shop"),
        ("domain", ".example.com\r\nX-Injected: 1"),
        ("domain", "example.com; Secure"),
        ("domain", "exa mple.com"),
        ("domain", "example.com,evil.com"),
        ("name", "_ga\r\nSet-Cookie: x=1"),
        ("name", "a b"),
        ("name", "a;b"),
        ("name", "a=b"),
        ("name", '"quoted"'),
    ],
)
def test_a_cookie_attribute_with_a_header_splitting_value_is_refused(
    marketing, cookie, field, value
):
    before = CookieDefinition.objects.filter(pk=cookie.pk).values().get()
    status, errors, _ = submit(marketing, change_url(cookie), **{field: value})
    assert status == 200
    assert field in errors
    assert CookieDefinition.objects.filter(pk=cookie.pk).values().get() == before


def test_well_formed_cookie_attributes_are_saved(marketing, cookie):
    status, errors, _ = submit(
        marketing, change_url(cookie), name="_shop_*", domain=".shop.example", path="/checkout"
    )
    assert (status, errors) == (302, {})
    cookie.refresh_from_db()
    assert (cookie.name, cookie.domain, cookie.path) == ("_shop_*", ".shop.example", "/checkout")


@pytest.mark.parametrize(
    "hosts",
    [
        "'unsafe-inline'",
        "*",
        "evil.example; script-src *",
        "https://evil.example",
        "evil.example/path",
        "data:",
        "-evil.example",
    ],
)
def test_a_vendor_host_that_would_widen_a_csp_is_refused(marketing, site, hosts):
    vendor = Vendor.objects.filter(site=site).order_by("pk").first()
    status, errors, _ = submit(marketing, change_url(vendor), hosts=hosts)
    assert status == 200
    assert "hosts" in errors
    assert Vendor.objects.get(pk=vendor.pk).hosts == vendor.hosts


def test_well_formed_vendor_hosts_are_saved(marketing, site):
    vendor = Vendor.objects.filter(site=site).order_by("pk").first()
    hosts = "cdn.example.com\n*.doubleclick.net\nstatic.example.com:8443"
    status, errors, _ = submit(marketing, change_url(vendor), hosts=hosts)
    assert (status, errors) == (302, {})
    assert Vendor.objects.get(pk=vendor.pk).host_list() == hosts.split()


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(document.cookie)", "data:text/html,<script>1</script>", "ftp://x.example/"],
)
def test_a_privacy_policy_link_that_is_not_http_is_refused(marketing, site, url):
    vendor = Vendor.objects.filter(site=site).order_by("pk").first()
    status, errors, _ = submit(marketing, change_url(vendor), privacy_policy_url=url)
    assert status == 200
    assert "privacy_policy_url" in errors
    assert Vendor.objects.get(pk=vendor.pk).privacy_policy_url == vendor.privacy_policy_url


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cookie_name", "consent\r\nSet-Cookie: x=1"),
        ("cookie_name", "con sent"),
        ("cookie_name", "consent*"),
        ("cookie_name", "sessionid"),
        ("cookie_name", "csrftoken"),
        ("cookie_domain", ".shop.example; HttpOnly"),
        ("cookie_domain", ".shop.example\n.evil.example"),
        ("default_language", "en<script>"),
        ("default_language", "en\nde"),
        ("privacy_policy_url", "javascript:alert(1)"),
    ],
)
def test_a_site_setting_that_reaches_the_banner_or_a_header_is_refused(
    marketing, site, field, value
):
    before = Site.objects.filter(pk=site.pk).values().get()
    status, errors, _ = submit(marketing, change_url(site), **{field: value})
    assert status == 200
    assert field in errors
    assert Site.objects.filter(pk=site.pk).values().get() == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("language", "de\r\nX: 1"),
        ("language", "<b>"),
        ("category_texts", '{"__proto__": {"name": "x"}}'),
        ("category_texts", '{"functional": {"name": {"nested": 1}}}'),
        ("category_texts", '{"functional": {"onclick": "alert(1)"}}'),
        ("category_texts", '["functional"]'),
    ],
)
def test_a_banner_text_setting_outside_its_grammar_is_refused(marketing, site, field, value):
    text = BannerText.objects.filter(site=site).order_by("pk").first()
    before = BannerText.objects.filter(pk=text.pk).values().get()
    status, errors, _ = submit(marketing, change_url(text), **{field: value})
    assert status == 200
    assert field in errors
    assert BannerText.objects.filter(pk=text.pk).values().get() == before


@pytest.fixture
def superuser(client):
    client.force_login(User.objects.create_superuser("root", password="pw"))
    return client


@pytest.mark.parametrize("slug", ["__proto__", "constructor", "id", "m", "Functional", "a b", "x"])
def test_an_unsafe_category_slug_is_refused(superuser, site, slug):
    category = Category.objects.get(slug="functional")
    status, errors, _ = submit(superuser, change_url(category), slug=slug)
    assert status == 200
    assert "slug" in errors
    assert Category.objects.get(pk=category.pk).slug == "functional"


def test_a_category_slug_is_fixed_once_a_record_uses_it(superuser, site):
    category = Category.objects.get(slug="advertising")
    status, errors, _ = submit(superuser, change_url(category), slug="ads")
    assert (status, errors) == (302, {}), "renaming an unused slug is allowed"
    records.record_consent(
        get_bundle("demo", fresh=True),
        categories={"functional": True, "ads": False},
        policy_version=1,
        method="custom",
        signals=Signals(),
        language="en",
        page_url="https://shop.example/",
    )
    status, errors, _ = submit(superuser, change_url(category), slug="marketing")
    assert status == 200
    assert "slug" in errors
    assert Category.objects.get(pk=category.pk).slug == "ads"
