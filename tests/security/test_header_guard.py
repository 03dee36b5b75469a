"""Issue 11, item 1: rows stored before the admin validated its fields (written here
straight into the database, as SQL access or an old version would have) never reach a
header. The middleware leaves out the expiry or CSP source that would carry them, logs a
warning, and answers the page as usual.

The attack: a cookie definition's path holding CR/LF split the Set-Cookie header that
expires a refused cookie into headers and a body of the attacker's choosing (a 500 under
gunicorn), and a vendor's hosts went into the CSP as they were.
"""

import logging
import re

import pytest

from consent.models import CookieDefinition, Vendor
from tests.security.pages import fetch, shop_server
from tests.sites import stored_choice

CRLF_PATH = "/\r\nSet-Cookie: admin=pwned\r\n\r\n<script>alert(1)</script>"
REFUSED_ADS = "consent=" + stored_choice(method="custom", functional=True, advertising=False)
ACCEPTED = "consent=" + stored_choice(method="accept_all", functional=True, advertising=True)
GCL_EXPIRY = '_gcl_au=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/'
HOST_SOURCE = re.compile(r"(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?")
HOSTILE_HOSTS = "\n".join(
    [
        "googleads.g.doubleclick.net",
        "'unsafe-inline'",
        "*",
        "data:",
        "https://evil.example",
        "evil.example;script-src-elem",
        "'unsafe-eval';",
        "cdn.example:\u0661\u0662",  # Arabic-Indic digits: not Latin-1, a 500 if sent
        "x.example\x0bX-Injected:1",
    ]
)


@pytest.fixture
def hostile_rows(site):
    """An advertising cookie's path and domain with CR/LF, an advertising vendor's hosts
    with CSP keywords and a directive of their own."""
    CookieDefinition.objects.filter(site=site, name="_fbp").update(
        path=CRLF_PATH, domain=".shop.example\r\nX-Injected: 1"
    )
    Vendor.objects.filter(site=site, name="Google Ads").update(hosts=HOSTILE_HOSTS)
    return site


@pytest.fixture
def server(hostile_rows, transactional_db, tmp_path):
    server = shop_server(tmp_path)
    yield server
    server.stop()


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in filter(None, (part.strip() for part in policy.split(";"))):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_stored_crlf_path_never_splits_the_expiry_header(server):
    page = fetch(server.port, "/demo/", cookies=[REFUSED_ADS, "_fbp=fb.1", "_gcl_au=1.1"])

    assert page.status == 200, server.output()
    # _fbp's expiry is left out; _gcl_au's, whose definition is sound, still goes out.
    assert page.set_cookies() == [GCL_EXPIRY]
    assert [k for k, _ in page.headers if k.lower().startswith(("x-injected", "admin"))] == []
    assert b"pwned" not in page.body
    assert "cannot go into a Set-Cookie header" in server.output()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_stored_hosts_that_are_not_host_names_stay_out_of_the_csp(server):
    page = fetch(server.port, "/demo/", cookies=[ACCEPTED])

    assert page.status == 200, server.output()
    (policy,) = page.all("Content-Security-Policy")
    csp = directives(policy)
    assert set(csp) == {
        "default-src",
        "script-src",
        "style-src",
        "img-src",
        "connect-src",
        "frame-src",
        "object-src",
        "base-uri",
        "frame-ancestors",
        "form-action",
    }
    for directive in ("script-src", "img-src", "connect-src", "frame-src"):
        assert "googleads.g.doubleclick.net" in csp[directive]
        for source in csp[directive]:
            assert (
                source in ("'self'", "data:")
                or source.startswith("'nonce-")
                or HOST_SOURCE.fullmatch(source)
            ), (directive, source)
    assert "evil.example" not in policy
    assert "not a host name" in server.output()


@pytest.mark.django_db
def test_the_guard_logs_and_leaves_out_only_the_unsafe_expiry(client, hostile_rows, caplog):
    with caplog.at_level(logging.WARNING, logger="consent"):
        response = client.get("/demo/", HTTP_COOKIE=f"{REFUSED_ADS}; _fbp=fb.1; _gcl_au=1.1")

    assert response.status_code == 200
    assert [m.OutputString() for m in response.cookies.values()] == [GCL_EXPIRY]
    assert any(
        record.name == "consent.cookies" and "'_fbp'" in record.getMessage()
        for record in caplog.records
    )
    for name, value in response.items():
        assert "\r" not in value and "\n" not in value, name
