"""request.consent: what a view asks, answered from the stored choice and the signals
through the one policy rule, without a database query on a warm cache."""

import pytest

from consent.checks import middleware_order
from consent.choice import StoredChoice
from consent.middleware import forget_rules
from consent.rules import Signals
from tests.sites import CONSENT_ID, stored_choice

pytestmark = pytest.mark.urls("tests.sites.urls")


@pytest.fixture(autouse=True)
def _whole_site_enforced(settings):
    """tests.sites is a Django site that installs the app: every page is its own."""
    settings.CONSENT_ENFORCED_PATHS = ["/"]


OWN = "consent.middleware.ConsentMiddleware"
CSP = "consent.csp.ConsentCSPMiddleware"
SESSION = "django.contrib.sessions.middleware.SessionMiddleware"


def test_it_tells_a_view_what_the_visitor_allowed(client, site):
    client.cookies["consent"] = stored_choice(functional=True, advertising=False)
    assert client.get("/t/consent/").json() == {
        "functional": True,
        "advertising": False,
        "required": True,
        "choices": {"functional": True, "advertising": False},
        "consent_id": CONSENT_ID,
        "policy_version": 1,
        "gpc": False,
        "dnt": False,
    }


def test_without_a_choice_only_required_is_allowed(client, site):
    assert client.get("/t/consent/").json() == {
        "functional": False,
        "advertising": False,
        "required": True,
        "choices": {},
        "consent_id": None,
        "policy_version": None,
        "gpc": False,
        "dnt": False,
    }


def test_gpc_overrides_the_stored_choice_but_keeps_it_visible(client, site):
    client.cookies["consent"] = stored_choice(
        method="accept_all", functional=True, advertising=True
    )
    state = client.get("/t/consent/", HTTP_SEC_GPC="1").json()
    assert (state["functional"], state["advertising"], state["gpc"]) == (False, False, True)
    assert state["choices"] == {"functional": True, "advertising": True}


def test_it_costs_no_database_query_on_a_warm_cache(client, site, django_assert_num_queries):
    client.cookies["consent"] = stored_choice(functional=True, advertising=False)
    client.cookies["_fbp"] = "fb.1"
    client.get("/t/page/")
    forget_rules()  # from the shared cache, not only this process's copy
    with django_assert_num_queries(0):
        response = client.get("/t/page/")
        client.get("/t/analytics/")
    assert response.status_code == 200
    assert "www.google-analytics.com" in response.headers["Content-Security-Policy"]
    assert response.cookies["_fbp"]["max-age"] == 0


def test_a_definition_change_applies_to_the_next_request(client, site):
    client.cookies["consent"] = stored_choice(functional=True, advertising=False)
    assert client.get("/t/analytics/").cookies["_ga_1X2Y3Z"].value == "GS1.1"
    site.cookies.filter(name="_ga_*").get().delete()
    assert "_ga_1X2Y3Z" not in client.get("/t/analytics/").cookies


def test_the_system_check_refuses_it_inside_the_csp_middleware():
    (error,) = middleware_order([OWN, CSP, SESSION])
    assert error.id == "consent.E001"
    assert f"must come after {CSP}" in error.msg


def test_the_system_check_refuses_it_where_it_cannot_see_the_session_cookie():
    (error,) = middleware_order([CSP, SESSION, OWN])
    assert error.id == "consent.E002"
    assert f"must come before {SESSION}" in error.msg


def test_the_system_check_asks_for_the_consent_aware_csp_middleware():
    (error,) = middleware_order(["csp.middleware.CSPMiddleware", OWN, SESSION])
    assert error.id == "consent.E005"
    assert CSP in error.msg


def test_the_system_check_accepts_the_documented_order():
    assert middleware_order([CSP, OWN, SESSION, "django.middleware.csrf.CsrfViewMiddleware"]) == []


def test_it_reads_the_banners_cookie_format():
    choice = StoredChoice.parse(stored_choice(3, "custom", functional=True, advertising=False))
    assert choice == StoredChoice(
        CONSENT_ID, 3, 1732370000, "custom", {"functional": True, "advertising": False}
    )
    assert choice.is_current(3, Signals())
    assert not choice.is_current(4, Signals())


def test_a_choice_made_for_a_signal_is_current_only_while_the_signal_is_sent():
    choice = StoredChoice.parse(stored_choice(1, "dnt", functional=False, advertising=False))
    assert choice.is_current(1, Signals(dnt=True))
    assert not choice.is_current(1, Signals())
