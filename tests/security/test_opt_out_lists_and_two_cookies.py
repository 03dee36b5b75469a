"""Issue 11, item 8: opt-out headers in list form, and two consent cookies.

A client that sends ``Sec-GPC: 1`` twice reaches the server as ``1, 1`` (gunicorn joins
repeated headers with commas, RFC 9110 §5.3); that is the signal, in the middleware and
in the consent API alike. A browser holding two ``consent`` cookies (host-only and the
parent domain, or two paths) sends both; the server and the banner both enforce the
newest by its time, where Django's request.COOKIES would keep the last one and the
banner read the first. The cases in banner_static/test/choice-cases.json are run here
against the server's reading and by ``node --test`` against the banner's.
"""

import json

import pytest

from consent.choice import StoredChoice, stored_value
from consent.models import ConsentRecord
from tests.appserver import CONSENT_BODY, SITE_ORIGIN
from tests.harness import ROOT
from tests.security.pages import fetch, shop_server
from tests.sites import stored_choice

OPTIONAL = {"_ga", "_gid", "_fbp", "_gcl_au"}
ACCEPTED = "consent=" + stored_choice(method="accept_all", functional=True, advertising=True)
CASES = json.loads((ROOT / "banner_static/test/choice-cases.json").read_text())


def choice(t: int, **categories: bool) -> str:
    value = stored_choice(method="custom", **categories)
    return value.replace("&t=1732370000&", f"&t={t}&")


def set_names(response) -> set[str]:
    return {morsel.key for morsel in response.cookies.values()}


def post(client, **headers):
    return client.post(
        "/api/v1/sites/demo/consents",
        json.dumps(CONSENT_BODY),
        content_type="application/json",
        headers={"Origin": SITE_ORIGIN, **headers},
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("gpc", "dnt"), [("1, 1", ""), ("1,1", ""), ("", "1,1"), ("", " 1 , 1 , 1 "), ("1", "1, 1")]
)
def test_a_list_of_ones_is_the_signal_on_the_enforced_site(client, site, gpc, dnt):
    response = client.get(
        "/demo/server-cookies/", HTTP_COOKIE=ACCEPTED, HTTP_SEC_GPC=gpc, HTTP_DNT=dnt
    )
    assert response.status_code == 200
    assert set_names(response) & OPTIONAL == set()
    assert "Advertising is not allowed for this request" in response.text


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["1, 0", "1, x", "1,", ", 1", "1;1", "1 1", "true, 1"])
def test_a_list_with_anything_but_ones_is_no_signal(client, site, value):
    response = client.get(
        "/demo/server-cookies/", HTTP_COOKIE=ACCEPTED, HTTP_SEC_GPC=value, HTTP_DNT=value
    )
    assert set_names(response) >= OPTIONAL


@pytest.mark.django_db
@pytest.mark.parametrize(("header", "field"), [("Sec-GPC", "gpc"), ("DNT", "dnt")])
def test_the_consent_api_records_a_list_of_ones_as_the_signal(client, site, header, field):
    response = post(client, **{header: "1, 1"})

    assert response.status_code == 201
    assert response.json()[field] is True
    assert response.json()["method"] == field
    record = ConsentRecord.objects.get()
    assert (getattr(record, field), record.categories["functional"]) == (True, False)


@pytest.mark.django_db
def test_the_consent_api_records_no_signal_for_a_mixed_list(client, site):
    response = post(client, **{"Sec-GPC": "1, 0", "DNT": "1, x"})

    assert response.status_code == 201
    assert (response.json()["gpc"], response.json()["dnt"]) == (False, False)
    assert ConsentRecord.objects.get().categories["functional"] is True


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_header_sent_twice_through_gunicorn_is_the_signal(site, transactional_db, tmp_path):
    server = shop_server(tmp_path)
    try:
        twice = [("Sec-GPC", "1"), ("Sec-GPC", "1")]
        page = fetch(server.port, "/demo/server-cookies/", cookies=[ACCEPTED], headers=twice)
        answer = fetch(
            server.port,
            "/api/v1/sites/demo/consents",
            method="POST",
            body=json.dumps(CONSENT_BODY).encode(),
            headers=[*twice, ("Origin", SITE_ORIGIN), ("Content-Type", "application/json")],
        )
    finally:
        server.stop()

    assert page.status == 200, server.output()
    assert {c.split("=")[0] for c in page.set_cookies()} & OPTIONAL == set()
    assert answer.status == 201, answer.body
    assert json.loads(answer.body)["gpc"] is True
    assert ConsentRecord.objects.get().gpc is True


@pytest.mark.django_db
@pytest.mark.parametrize("newest_first", [True, False])
def test_the_server_enforces_the_newest_of_two_consent_cookies(client, site, newest_first):
    newest = choice(1_800_000_000, functional=True, advertising=False)
    oldest = choice(1_700_000_000, functional=True, advertising=True)
    pair = [newest, oldest] if newest_first else [oldest, newest]
    response = client.get(
        "/demo/server-cookies/", HTTP_COOKIE="; ".join(f"consent={v}" for v in pair)
    )

    assert set_names(response) & OPTIONAL == {"_ga", "_gid"}
    assert "Advertising is not allowed for this request" in response.text


@pytest.mark.parametrize("case", CASES, ids=[case["why"] for case in CASES])
def test_the_server_picks_the_cookie_the_banner_picks(case):
    picked = StoredChoice.parse(stored_value(case["cookies"], case["name"]))
    expected = case["chosen"] and StoredChoice.parse(case["chosen"])
    assert picked == (expected or None)
    if case["chosen"]:
        assert picked is not None
