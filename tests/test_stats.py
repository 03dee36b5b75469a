"""Daily statistics: counts per site, day and method, and the dashboard that draws them."""

import re
from datetime import UTC, date, datetime

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from consent import records, stats
from consent.bundles import get_bundle
from consent.models import Category, DailyStat
from consent.rules import Signals
from consent.tasks import aggregate_daily_stats
from consent.transparency import log
from tests.ops import decide

pytestmark = pytest.mark.django_db
DAY = date(2026, 3, 2)


def at(hour: int, day: int = 2) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


@pytest.fixture
def decisions(site):
    made = [
        decide(at(0), method="accept_all", advertising=True),
        decide(at(1), method="accept_all", advertising=True),
        decide(at(2), method="custom", functional=True, advertising=False),
        decide(at(3), method="reject_all", functional=False),
        decide(at(4), method="gpc", functional=False, signals=Signals(gpc=True, dnt=True)),
        decide(at(23, day=1), method="accept_all", advertising=True),  # the day before
        decide(at(0, day=3), method="reject_all", functional=False),  # the day after
    ]
    log.seal()  # statistics count the decisions in the transparency log
    return made


def rows(site) -> dict:
    return {
        s.method: (s.total, s.allowed, s.gpc, s.dnt)
        for s in DailyStat.objects.filter(site=site, date=DAY)
    }


def test_it_counts_each_method_category_and_signal_of_one_utc_day(site, decisions):
    assert stats.aggregate_day(site, DAY) == 4

    assert rows(site) == {
        "accept_all": (2, {"functional": 2, "advertising": 2}, 0, 0),
        "custom": (1, {"functional": 1, "advertising": 0}, 0, 0),
        "reject_all": (1, {"functional": 0, "advertising": 0}, 0, 0),
        "gpc": (1, {"functional": 0, "advertising": 0}, 1, 1),
    }


def test_recomputing_a_day_changes_nothing(site, decisions):
    stats.aggregate_day(site, DAY)
    first = rows(site)
    ids = set(DailyStat.objects.values_list("id", flat=True))

    stats.aggregate_day(site, DAY)

    assert rows(site) == first
    assert set(DailyStat.objects.values_list("id", flat=True)) == ids


def test_erased_decisions_stay_counted_as_the_anonymous_decisions_they_were(site, decisions):
    stats.aggregate_day(site, DAY)
    before = rows(site)

    # Erasure shreds what ties a record to a visitor; what was decided, and when, stays
    # in the log and in the day's counts, which never held anything about a visitor.
    records.erase(decisions[3].consent_id)  # the only reject_all of the day
    records.erase(decisions[0].consent_id)
    stats.aggregate_day(site, DAY)

    assert rows(site) == before


def test_the_task_recomputes_today_and_yesterday_of_every_site(site, decisions):
    DailyStat.objects.all().delete()  # counted live when sealed: start from nothing
    assert aggregate_daily_stats.delay(days=2, today="2026-03-03").get() == 5

    assert set(DailyStat.objects.values_list("date", flat=True)) == {DAY, date(2026, 3, 3)}
    assert DailyStat.objects.get(date=date(2026, 3, 3)).method == "reject_all"


def test_no_stat_holds_anything_about_a_visitor(site, decisions):
    stats.aggregate_day(site, DAY)

    stored = str(list(DailyStat.objects.values()))
    assert not any(str(d.consent_id) in stored for d in decisions)
    assert "203.0.113" not in stored


@pytest.fixture
def dashboard(marketing_client, marketing_user, site, decisions):
    site.staff.add(marketing_user)  # staff see the statistics of the sites granted to them
    stats.aggregate_day(site, DAY)
    stats.aggregate_day(site, date(2026, 3, 1))

    def get(**params):
        return marketing_client.get(reverse("admin:consent_dailystat_changelist"), params)

    return get


def test_the_dashboard_draws_charts_without_script_or_inline_style(dashboard, monkeypatch):
    monkeypatch.setattr(stats.timezone, "now", lambda: at(12))

    response = dashboard(days=7)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<svg") >= 3
    assert "<script" not in html.split('id="content-main"')[1]
    assert not re.search(r"\sstyle=", html)
    assert "<polyline" in html and "<rect" in html


def test_the_dashboard_shows_consent_rates_and_signal_shares(dashboard, monkeypatch):
    monkeypatch.setattr(stats.timezone, "now", lambda: at(12))

    html = dashboard(days=7).content.decode()

    # 6 decisions in the 7 days up to 2 March: functional allowed by 4, advertising by 3,
    # GPC and DNT each sent once.
    assert re.search(r"Decisions<strong>6</strong>", html)
    assert re.search(r"Functional allowed<strong>66.7 %</strong>", html)
    assert re.search(r"Advertising allowed<strong>50.0 %</strong>", html)
    assert re.search(r"Sent Sec-GPC<strong>16.7 %</strong>", html)
    assert "<title>02 Mar Accept all: 2</title>" in html


def test_the_dashboard_is_linked_from_the_admin_index(marketing_client):
    html = marketing_client.get(reverse("admin:index")).content.decode()

    assert reverse("admin:consent_dailystat_changelist") in html


def test_staff_without_the_permission_get_no_dashboard(client, site):
    client.force_login(User.objects.create_user("intern", password="x", is_staff=True))

    response = client.get(reverse("admin:consent_dailystat_changelist"))

    assert response.status_code == 403


def test_the_statistics_can_be_recomputed_by_hand(site, decisions, monkeypatch, capsys):
    from django.core.management import call_command

    monkeypatch.setattr(stats.timezone, "now", lambda: at(12, day=3))

    call_command("aggregate_stats", "--days", "3")

    assert capsys.readouterr().out == "6 daily statistics rows recomputed over 3 days.\n"
    assert DailyStat.objects.filter(date=date(2026, 3, 1)).get().method == "accept_all"


def test_a_category_slug_that_is_also_a_lookup_name_is_counted_as_a_key(site):
    Category.objects.create(slug="contains", name="Contains", description="x", order=3)
    records.record_consent(
        get_bundle("demo", fresh=True),
        categories={"functional": False, "advertising": False, "contains": True},
        policy_version=1,
        method="custom",
        signals=Signals(),
        language="en",
        page_url="https://shop.example/",
        now=at(5),
    )
    log.seal()

    assert stats.aggregate_day(site, DAY) == 1
    assert rows(site) == {
        "custom": (1, {"functional": 0, "advertising": 0, "contains": 1}, 0, 0),
    }
