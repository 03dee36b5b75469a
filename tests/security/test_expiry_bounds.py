"""Issue 11, item 2: whatever one request holds, the response expires a bounded number of
cookies in a bounded number of header bytes; the rest go on the next pages.

The attack: a refusal plus N cookies matching one pattern (``_ga_*``) made N x (host
labels) expiries: with a wildcard ALLOWED_HOSTS and a 1,000-label Host, one 8.7 KB
request gave 600,600 Set-Cookie headers. Now at most CONSENT_EXPIRE_MAX_COOKIES cookies
(50) and CONSENT_EXPIRE_MAX_BYTES bytes (4,096) of Set-Cookie per response, each cookie
on its host and parent domains up to the registrable domain by the Public Suffix List.
"""

import http.client
import re

import pytest

from tests.security.pages import fetch, shop_server
from tests.sites import stored_choice

REFUSAL = "consent=" + stored_choice(method="reject_all", functional=False, advertising=False)
MANY = [f"_ga_{number:04d}=GS1.1" for number in range(3000)]
LONG_HOST = "a." * 996 + "shop.example.co.uk"  # 1,000 labels
MAX_BYTES = 4096
MAX_COOKIES = 50
EXPIRY = re.compile(
    r'(?P<name>_ga_\d{4})=""; (Domain=(?P<domain>[^;]+); )?'
    r"expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/"
)


@pytest.fixture
def server(site, transactional_db, tmp_path, monkeypatch):
    # Before the fix a response had far more headers than http.client accepts (100).
    monkeypatch.setattr(http.client, "_MAXHEADERS", 10_000_000)
    server = shop_server(tmp_path, ALLOWED_HOSTS="*")
    yield server
    server.stop()


def expiries(page) -> list[re.Match]:
    found = [EXPIRY.fullmatch(header) for header in page.set_cookies()]
    assert all(found), page.set_cookies()
    return found


def names(page) -> list[str]:
    return list(dict.fromkeys(match["name"] for match in expiries(page)))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_three_thousand_refused_cookies_are_expired_a_bounded_batch_per_page(server):
    first = fetch(server.port, "/demo/", host="shop.example", cookies=[REFUSAL, *MANY])

    assert first.status == 200, server.output()
    assert 0 < len(names(first)) <= MAX_COOKIES
    assert first.set_cookie_bytes() <= MAX_BYTES
    # Host-only and the registrable domain, which here is the host itself.
    assert {m["domain"] for m in expiries(first)} == {None, "shop.example"}
    # The first ones the browser sent, each on every domain it can have.
    done = names(first)
    assert done == [cookie.split("=")[0] for cookie in MANY[: len(done)]]
    assert len(first.set_cookies()) == 2 * len(done)

    # The browser drops what it was told to; the next page expires the next batch.
    left = [cookie for cookie in MANY if cookie.split("=")[0] not in done]
    second = fetch(server.port, "/demo/", host="shop.example", cookies=[REFUSAL, *left])
    assert second.status == 200
    assert names(second) == [cookie.split("=")[0] for cookie in left[: len(names(second))]]
    assert second.set_cookie_bytes() <= MAX_BYTES


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_thousand_label_host_stays_within_the_registrable_domain_and_the_byte_cap(server):
    page = fetch(server.port, "/demo/", host=LONG_HOST, cookies=[REFUSAL, *MANY])

    assert page.status == 200, server.output()
    assert page.set_cookie_bytes() <= MAX_BYTES
    domains = [m["domain"] for m in expiries(page)]
    # The likeliest first: host-only, the registrable domain, the host.
    assert domains[:3] == [None, "example.co.uk", LONG_HOST]
    for domain in domains[1:]:
        assert domain == "example.co.uk" or domain.endswith(".example.co.uk"), domain
    assert "co.uk" not in domains and "uk" not in domains


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_ip_host_gets_host_only_expiries(server):
    page = fetch(server.port, "/demo/", host="127.0.0.1", cookies=[REFUSAL, *MANY])

    assert page.status == 200, server.output()
    assert {m["domain"] for m in expiries(page)} == {None}
    assert len(page.set_cookies()) == len(names(page)) <= MAX_COOKIES
    assert page.set_cookie_bytes() <= MAX_BYTES


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("host", "domains"),
    [
        (
            "www.shop.example.co.uk",
            {"", "example.co.uk", "shop.example.co.uk", "www.shop.example.co.uk"},
        ),
        ("shop.example.com", {"", "example.com", "shop.example.com"}),
        # github.io is a public suffix (the list's private section): never a cookie domain.
        ("user.github.io", {"", "user.github.io"}),
        ("github.io", {""}),
        ("co.uk", {""}),
        ("localhost", {""}),
        ("192.0.2.7", {""}),
        ("[2001:db8::1]", {""}),
    ],
)
def test_domain_variants_stop_at_the_registrable_domain(client, site, settings, host, domains):
    settings.ALLOWED_HOSTS = ["*"]
    response = client.get("/demo/", HTTP_HOST=host, HTTP_COOKIE=f"{REFUSAL}; _ga_0001=GS1.1")

    assert response.status_code == 200
    assert {m["domain"] for m in response.cookies.values()} == domains


@pytest.mark.django_db
def test_the_caps_are_settings(client, site, settings):
    settings.CONSENT_EXPIRE_MAX_COOKIES = 3
    cookie = "; ".join([REFUSAL, *MANY[:10]])
    assert sorted(m.key for m in client.get("/demo/", HTTP_COOKIE=cookie).cookies.values()) == [
        "_ga_0000",
        "_ga_0001",
        "_ga_0002",
    ]

    settings.CONSENT_EXPIRE_MAX_COOKIES = 50
    settings.CONSENT_EXPIRE_MAX_BYTES = 200
    headers = [m.OutputString() for m in client.get("/demo/", HTTP_COOKIE=cookie).cookies.values()]
    assert sum(len(f"Set-Cookie: {h}\r\n") for h in headers) <= 200
    assert len(headers) == 2
