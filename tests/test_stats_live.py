"""Live statistics: the sealer adds each decision to its day as it appends it to the log,
so the dashboard shows a decision within seconds, with no hourly task."""

from datetime import UTC

import pytest
from django.urls import reverse
from django.utils import timezone

from consent import stats
from consent.models import DailyStat
from consent.rules import Signals
from consent.transparency import log
from tests.ops import decide

pytestmark = pytest.mark.django_db


def today_rows(site) -> dict:
    today = timezone.now().astimezone(UTC).date()
    return {
        s.method: (s.total, s.allowed, s.gpc, s.dnt)
        for s in DailyStat.objects.filter(site=site, date=today)
    }


def test_a_decision_is_counted_when_it_is_sealed_and_only_once(site):
    now = timezone.now()
    decide(now, method="accept_all", advertising=True)
    decide(now, method="gpc", functional=False, signals=Signals(gpc=True))
    assert today_rows(site) == {}, "nothing is counted before the log holds it"

    log.seal()
    live = today_rows(site)
    assert live == {
        "accept_all": (1, {"functional": 1, "advertising": 1}, 0, 0),
        "gpc": (1, {}, 1, 0),
    }

    log.seal()  # nothing new: nothing counted again
    decide(now, method="accept_all", advertising=False)
    log.seal()
    assert today_rows(site)["accept_all"] == (2, {"functional": 2, "advertising": 1}, 0, 0)


def test_the_hourly_recomputation_agrees_with_the_live_counts(site):
    now = timezone.now()
    for advertising in (True, False, True):
        decide(now, method="custom", advertising=advertising)
    log.seal()
    live = today_rows(site)["custom"]
    decide(now, method="custom")  # not sealed yet: counted by neither

    stats.aggregate_day(site, now.astimezone(UTC).date())

    total, allowed, gpc, dnt = today_rows(site)["custom"]
    assert (total, gpc, dnt) == live[:1] + live[2:]
    assert {k: v for k, v in allowed.items() if v} == live[1]


def test_the_dashboard_shows_a_decision_just_sealed(site, marketing_client, marketing_user):
    site.staff.add(marketing_user)
    decide(timezone.now(), method="reject_all", functional=False)
    log.seal()

    html = marketing_client.get(reverse("admin:consent_dailystat_changelist")).content.decode()

    assert "Decisions<strong>1</strong>" in html
