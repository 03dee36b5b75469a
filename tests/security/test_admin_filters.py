"""Issue 11, item 7: a staff filter value became a database lookup.

``?allowed=functional__contains`` on the records list was a 500. Every list filter takes
only its own choices, and no other query parameter reaches the database: the admin
answers with its invalid-lookup redirect (``?e=1``). The filters' own links still work.
"""

import re
from html import unescape

import pytest
from django.urls import reverse

from consent.models import (
    AuditEvent,
    Category,
    ConsentRecord,
    CookieDefinition,
    TreeHead,
    Vendor,
)
from tests.security.staff import decide, staff_client, superuser_client

pytestmark = pytest.mark.django_db
RECORDS = reverse("admin:consent_consentrecord_changelist")


@pytest.fixture
def marketing(site):
    decide(site)
    decide(site, functional=False, advertising=True)
    return staff_client("marketing", "Marketing ops", (site,))


def refused(response, url: str) -> bool:
    return response.status_code == 302 and response["Location"] == f"{url}?e=1"


@pytest.mark.parametrize(
    "value",
    [
        "functional__contains",
        "functional__isnull",
        "-functional__in",
        "required",
        "-required",
        "__proto__",
        "unknown",
        "functional\n",
        "-",
    ],
)
def test_a_category_filter_value_that_is_no_optional_slug_is_refused(marketing, value):
    response = marketing.get(RECORDS, {"allowed": value})

    assert refused(response, RECORDS)


def test_the_category_filter_takes_its_own_values_only(marketing):
    allowed = marketing.get(RECORDS, {"allowed": "functional"}).context["cl"].result_list
    refusing = marketing.get(RECORDS, {"allowed": "-functional"}).context["cl"].result_list

    assert [r.categories["functional"] for r in allowed] == [True]
    assert [r.categories["functional"] for r in refusing] == [False]
    assert refused(marketing.get(RECORDS, {"allowed": "functional__contains"}), RECORDS)


@pytest.mark.parametrize(
    "query",
    [
        {"outdated": "maybe"},
        {"categories__functional": "true"},
        {"categories__functional__contains": "x"},
        {"categories__has_key": "functional"},
        {"consent_id__startswith": "5"},
        {"ip_prefix__regex": "("},
        {"page_url__icontains": "shop"},
        {"site__name": "Demo shop"},
        {"site__staff__username": "marketing"},
        {"method": "custom"},
        {"site__id__exact": "999"},
        {"language__regex": "("},
    ],
)
def test_no_other_query_parameter_reaches_the_records_query(marketing, query):
    response = marketing.get(RECORDS, query)

    assert refused(response, RECORDS)


@pytest.mark.parametrize(
    ("model", "query"),
    [
        (Vendor, {"hosts__regex": "("}),
        (Vendor, {"category__id__exact": "999"}),
        (CookieDefinition, {"vendor__id__exact": "999"}),
        (CookieDefinition, {"name__regex": "("}),
        (AuditEvent, {"data__contains": "x"}),
        (AuditEvent, {"before__has_key": "x"}),
        (TreeHead, {"tree_size__gt": "0"}),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "-".join(v),
)
def test_no_list_takes_unknown_lookups(site, model, query):
    url = reverse(f"admin:consent_{model._meta.model_name}_changelist")

    response = superuser_client().get(url, query)

    assert refused(response, url)


def test_the_records_list_answers_its_own_filter_links_and_nothing_else(marketing):
    page = marketing.get(RECORDS).content.decode()
    links = {unescape(href) for href in re.findall(r'href="(\?[^"]*)"', page)}

    assert any("allowed=" in link for link in links)
    for link in links:
        response = marketing.get(RECORDS + link)
        assert response.status_code == 200, link
        assert all(isinstance(r, ConsentRecord) for r in response.context["cl"].result_list)
    crafted = "?" + "&".join(link.lstrip("?") for link in sorted(links)) + "&method=custom"
    assert refused(marketing.get(RECORDS + crafted), RECORDS)


@pytest.mark.parametrize("slug", ["contains", "in", "isnull", "has_key"])
def test_a_slug_that_is_also_a_lookup_name_filters_as_a_key(marketing, site, slug):
    Category.objects.create(slug=slug, name=f"Named {slug}", description="x", order=9)
    mine = decide(site, **{slug: True})

    allowed = marketing.get(RECORDS, {"allowed": slug})
    refusing = marketing.get(RECORDS, {"allowed": f"-{slug}"})

    assert list(allowed.context["cl"].result_list) == [mine]
    assert mine not in refusing.context["cl"].result_list
