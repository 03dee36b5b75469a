"""The records list stays bounded however many records there are (consent.admin_lists):
a count that stops at EXACT_UP_TO, pages by key past the first, a date drill-down made
of ranges, an "outdated" filter without a subquery per row."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from consent import admin_lists
from consent.models import PolicyVersion
from tests.ops import decide

URL = reverse("admin:consent_consentrecord_changelist")


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(
        django_user_model.objects.create_superuser("root", "root@example.com", "x" * 20)
    )
    return client


@pytest.fixture
def many(site):
    start = timezone.now() - timedelta(hours=3)
    return [decide(start + timedelta(seconds=n)) for n in range(130)]


def shown(response) -> list[int]:
    return [record.pk for record in response.context["cl"].result_list]


def test_deep_pages_go_by_key(superuser_client, many, django_assert_max_num_queries):
    first = superuser_client.get(URL)
    newest_first = sorted((r.pk for r in many), reverse=True)
    assert shown(first) == newest_first[:100]
    older = first.context["cl"].older_link()
    assert older == f"?before={newest_first[99]}"
    assert 'rel="next"' in first.content.decode()

    with django_assert_max_num_queries(12):
        second = superuser_client.get(URL + older)
    assert shown(second) == newest_first[100:]
    assert second.context["cl"].older_link() is None
    assert second.context["cl"].newest_link() == "?"


def test_a_filter_starts_again_from_the_newest(superuser_client, many):
    response = superuser_client.get(URL, {"before": many[50].pk})
    link = response.context["cl"].get_query_string({"method__exact": "custom"})
    assert "before" not in link


@pytest.mark.parametrize("value", ["x", "-1", "1" * 30, "1.5"])
def test_a_bad_key_is_refused(superuser_client, many, value):
    response = superuser_client.get(URL, {"before": value})
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_numbered_pages_stop_where_keys_take_over(superuser_client, site, monkeypatch):
    monkeypatch.setattr(admin_lists, "NUMBERED_PAGES", 2)
    for n in range(7):
        decide(timezone.now() - timedelta(minutes=n))
    ConsentRecordAdmin = type(superuser_client.get(URL).context["cl"].model_admin)
    monkeypatch.setattr(ConsentRecordAdmin, "list_per_page", 2)
    assert superuser_client.get(URL, {"p": 2}).status_code == 200
    assert superuser_client.get(URL, {"p": 3})["Location"].endswith("?e=1")
    assert superuser_client.get(URL).context["cl"].numbered_pages() == [1, 2]


def test_the_count_stops_at_its_bound(superuser_client, many, monkeypatch):
    monkeypatch.setattr(admin_lists, "EXACT_UP_TO", 20)
    response = superuser_client.get(URL)
    cl = response.context["cl"]
    assert cl.paginator.bounded
    assert cl.result_count == 21
    assert "21+ among the newest 50,000 searched" in response.content.decode()
    monkeypatch.setattr(admin_lists, "EXACT_UP_TO", 10_000)
    exact = superuser_client.get(URL).context["cl"]
    assert not exact.paginator.bounded and exact.result_count == 130


def test_a_page_looks_at_a_bounded_window_and_offers_to_search_older(
    superuser_client, site, monkeypatch
):
    """A rare value (one old withdrawal among many newer decisions) is not looked for in
    the whole table at once: each page searches SCAN_WINDOW records."""
    monkeypatch.setattr(admin_lists, "SCAN_WINDOW", 10)
    start = timezone.now() - timedelta(hours=1)
    rare = decide(start, method="reject_all")
    newer = [decide(start + timedelta(seconds=n + 1)) for n in range(25)]

    first = superuser_client.get(URL, {"method__exact": "reject_all"})
    assert shown(first) == []
    cl = first.context["cl"]
    assert cl.window_floor == newer[-1].pk + 1 - 10
    assert "Search older records" in first.content.decode()
    hops = 0
    response = first
    while rare.pk not in shown(response):
        link = response.context["cl"].older_link()
        assert link is not None
        response = superuser_client.get(URL + link)
        hops += 1
    assert hops == 2
    assert response.context["cl"].older_link() is None  # the oldest record reached


def test_a_search_by_consent_id_is_not_windowed(superuser_client, site, monkeypatch):
    monkeypatch.setattr(admin_lists, "SCAN_WINDOW", 5)
    old = decide(timezone.now() - timedelta(days=30))
    for n in range(10):
        decide(timezone.now() - timedelta(minutes=n))
    found = superuser_client.get(URL, {"q": str(old.consent_id)})
    assert shown(found) == [old.pk]


def test_a_period_starts_the_window_at_its_end(superuser_client, site, monkeypatch):
    monkeypatch.setattr(admin_lists, "SCAN_WINDOW", 5)
    old = decide(timezone.now() - timedelta(days=400))
    for n in range(10):
        decide(timezone.now() - timedelta(minutes=n))
    found = superuser_client.get(URL, {"period": f"{timezone.localtime(old.created_at):%Y}"})
    assert shown(found) == [old.pk]


@pytest.mark.parametrize("probes", [50, 0], ids=["by time", "too many sites: by id"])
def test_a_period_ending_early_in_a_month_finds_its_rows_by_time(
    superuser_client, site, monkeypatch, probes
):
    """The window starts from the newest row before the period's end found by time, and
    takes in rows whose ids came after it (transactions committed out of order)."""
    monkeypatch.setattr(admin_lists, "SCAN_WINDOW", 50)
    monkeypatch.setattr(admin_lists, "MAX_SITE_PROBES", probes)
    day = timezone.localtime() - timedelta(days=40)
    in_the_day = [decide(day.replace(hour=12, minute=n)) for n in range(3)]
    later = [decide(day + timedelta(days=1, minutes=n)) for n in range(20)]
    # Written after the later ones, but dated within the day, before its newest row.
    late_commit = decide(day.replace(hour=11, minute=0))
    found = superuser_client.get(URL, {"period": f"{day:%Y-%m-%d}"})
    assert shown(found) == [late_commit.pk, *[r.pk for r in reversed(in_the_day)]]
    assert not set(shown(found)) & {r.pk for r in later}


def test_the_period_filter_is_ranges(superuser_client, site):
    now = timezone.localtime()
    last_year = decide(now - timedelta(days=366))
    today = decide(now)
    response = superuser_client.get(URL, {"period": f"{now:%Y-%m}"})
    assert shown(response) == [today.pk]
    day = superuser_client.get(URL, {"period": f"{now:%Y-%m-%d}"})
    assert shown(day) == [today.pk]
    year = superuser_client.get(URL, {"period": f"{last_year.created_at:%Y}"})
    assert last_year.pk in shown(year) and today.pk not in shown(year)
    # The month's days are offered from the calendar, up to today.
    choices = [c["display"] for c in day.context["cl"].filter_specs[-2].choices(day.context["cl"])]
    assert f"{now:%d %B}" in choices


@pytest.mark.parametrize("value", ["2026-13", "20261", "x", "2026-02-30", "9" * 40])
def test_a_bad_period_is_refused(superuser_client, site, value):
    assert superuser_client.get(URL, {"period": value})["Location"].endswith("?e=1")


def test_the_outdated_filter_compares_columns(
    superuser_client, site, django_assert_max_num_queries
):
    old = decide(timezone.now() - timedelta(hours=1))
    PolicyVersion.objects.create(site=site, summary="A chat widget.")
    current = decide(timezone.now(), policy_version=2)
    with django_assert_max_num_queries(12) as queries:
        outdated = superuser_client.get(URL, {"outdated": "yes"})
    assert shown(outdated) == [old.pk]
    listing = [q["sql"] for q in queries.captured_queries if "consent_consentrecord" in q["sql"]]
    assert listing and all("consent_policyversion" not in sql for sql in listing)
    assert shown(superuser_client.get(URL, {"outdated": "no"})) == [current.pk]
