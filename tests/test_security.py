"""Security properties a reviewer would check first. ``manage.py check --deploy`` with
production settings is in tests/test_settings.py."""

import http.client
import json
import re
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.test import Client

from consent.models import ConsentRecord
from tests.appserver import CONSENT_BODY, production_env, start_gunicorn
from tests.harness import ROOT, database_url_for_workers

URL = "/api/v1/sites/demo/consents"


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    parsed = {}
    for directive in filter(None, (part.strip() for part in policy.split(";"))):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


def inline_scripts_without_the_nonce(html: str, script_src: list[str]) -> list[str]:
    """Inline scripts the browser would refuse: a nonce is their only way in."""
    nonces = [s[len("'nonce-") : -1] for s in script_src if s.startswith("'nonce-")]
    scripts = re.findall(r"<script\b([^>]*)>", html)
    return [
        attributes
        for attributes in scripts
        if "src=" not in attributes
        and 'type="application/json"' not in attributes
        and not any(f'nonce="{nonce}"' in attributes for nonce in nonces)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/demo/", "/admin/login/", "/admin/", "/admin/consent/site/"])
def test_platform_pages_are_served_with_a_strict_csp(site, marketing_client, path):
    response = (Client() if path == "/admin/login/" else marketing_client).get(path)
    assert response.status_code == 200
    policy = directives(response)
    script_src = policy["script-src"]
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src
    assert "*" not in script_src
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert inline_scripts_without_the_nonce(response.content.decode(), script_src) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://shop.example",  # same host, other scheme
        "https://shop.example:8443",  # other port
        "https://evil.shop.example",  # a subdomain is another origin
        "https://shop.example.evil.example",  # a registered origin as a prefix
        "null",  # sandboxed iframes and file: pages
    ],
)
def test_the_consent_endpoint_refuses_foreign_origins(client, site, origin):
    post = client.post(
        URL, json.dumps(CONSENT_BODY), content_type="application/json", headers={"Origin": origin}
    )
    preflight = client.options(
        URL, headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
    )
    assert (post.status_code, preflight.status_code) == (403, 403)
    assert "Access-Control-Allow-Origin" not in post
    assert "Access-Control-Allow-Origin" not in preflight
    assert ConsentRecord.objects.count() == 0


@pytest.fixture
def production_server(site, transactional_db, tmp_path):
    """gunicorn with production settings as they are: TLS redirect on, behind a proxy
    that terminates HTTPS and says so in X-Forwarded-Proto."""
    User.objects.create_superuser("admin", password="correct horse battery staple")
    env = production_env(
        database_url_for_workers(),
        SECURE_SSL_REDIRECT="1",
        BEHIND_HTTPS_PROXY="1",
        VAR_DIR=str(tmp_path),
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    server = start_gunicorn(env, tmp_path / "gunicorn.log", workers=1)
    yield server
    server.stop()


def request(port: int, method: str, path: str, body: str = "", **headers: str):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body, {"X-Forwarded-Proto": "https", **headers})
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


def cookies_set(response) -> dict[str, str]:
    return {
        header.split("=", 1)[0]: header
        for name, header in response.getheaders()
        if name.lower() == "set-cookie"
    }


@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_platform_cookies_are_secure_and_samesite_in_production(production_server):
    port = production_server.port
    plain_http = request(port, "GET", "/admin/login/", **{"X-Forwarded-Proto": "http"})
    assert plain_http.status == 301
    assert plain_http.getheader("Location").startswith("https://")

    form = request(port, "GET", "/admin/login/")
    assert form.status == 200, production_server.output()
    csrf = cookies_set(form)["csrftoken"]
    token = csrf.split(";", 1)[0].split("=", 1)[1]
    login = request(
        port,
        "POST",
        "/admin/login/?next=/admin/",
        f"username=admin&password=correct+horse+battery+staple&csrfmiddlewaretoken={token}",
        **{
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={token}",
            "Origin": f"https://127.0.0.1:{port}",
            "Host": f"127.0.0.1:{port}",
        },
    )
    assert login.status == 302, production_server.output()
    cookies = {"csrftoken": csrf} | cookies_set(login)
    assert set(cookies) >= {"csrftoken", "sessionid"}
    for name, header in cookies.items():
        attributes = [a.strip().lower() for a in header.split(";")[1:]]
        assert "secure" in attributes, name
        assert "samesite=lax" in attributes, name
    assert "httponly" in cookies["sessionid"].lower()
    assert form.getheader("Strict-Transport-Security", "").startswith("max-age=31536000")

    consent = request(
        port,
        "POST",
        URL,
        json.dumps(CONSENT_BODY),
        **{"Content-Type": "application/json", "Origin": "https://shop.example"},
    )
    assert consent.status == 201
    assert cookies_set(consent) == {}  # the consent cookie is the banner's, first-party
