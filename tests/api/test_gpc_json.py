from datetime import date

import pytest

from consent.models import RegionalRule, Site


@pytest.mark.django_db
def test_without_sites_it_declares_gpc_support_from_the_setting(client):
    Site.objects.all().delete()
    response = client.get("/.well-known/gpc.json")
    assert response.status_code == 200
    assert response.json() == {"gpc": True, "lastUpdate": "2026-11-23"}
    assert response["Access-Control-Allow-Origin"] == "*"


def test_it_reports_when_the_sites_gpc_handling_last_changed(client, site):
    Site.objects.filter(pk=site.pk).update(gpc_updated_on=date(2026, 3, 4))
    assert client.get("/.well-known/gpc.json").json()["lastUpdate"] == "2026-03-04"
    RegionalRule.objects.create(site=site, name="US", regions="US-CA", privacy_model="opt_out")
    site.refresh_from_db()
    assert (
        client.get("/.well-known/gpc.json").json()["lastUpdate"] == site.gpc_updated_on.isoformat()
    )


def test_the_site_a_host_serves_is_the_one_reported(client, site, settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "store.example"]
    other = Site.objects.create(
        name="Shop",
        key="shop",
        allowed_origins="https://store.example",
        gpc_updated_on=date(2025, 5, 6),
    )
    Site.objects.filter(pk=site.pk).update(gpc_updated_on=date(2026, 7, 8))
    assert client.get("/.well-known/gpc.json").json()["lastUpdate"] == "2026-07-08"
    answer = client.get("/.well-known/gpc.json", HTTP_HOST="store.example")
    assert answer.json()["lastUpdate"] == other.gpc_updated_on.isoformat()
