"""Issue 11, item 6: the consent throttle counts client networks, not addresses, and each
site has a ceiling over all clients.

The attack: 1,200 POSTs from 20 addresses of one /24, through a real gunicorn behind one
trusted proxy, used to get 1,200 x 201 (60 a minute per address x 20 addresses).
"""

import itertools
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from consent.api.throttles import SiteClientThrottle, SiteThrottle
from consent.models import ConsentRecord, Site
from tests.appserver import CONSENT_BODY, SITE_ORIGIN
from tests.security.proxied import behind_proxy, call

URL = "/api/v1/sites/demo/consents"
LIMIT = 60  # per network and site, in the servers below
ATTACKERS = [f"203.0.113.{host}" for host in range(101, 121)]  # 20 addresses, one /24


def flood(port: int, addresses: list[str], per_address: int, url: str = URL) -> list:
    """``per_address`` POSTs from each address, the addresses side by side."""

    def one_address(address: str) -> list:
        return [
            call(port, "POST", url, client=address, body=CONSENT_BODY) for _ in range(per_address)
        ]

    with ThreadPoolExecutor(len(addresses)) as pool:
        return list(itertools.chain.from_iterable(pool.map(one_address, addresses)))


def assert_throttled(answer) -> None:
    assert answer.status == 429
    assert answer.body["code"] == "throttled"
    assert int(answer.headers["retry-after"]) > 0


@pytest.fixture
def two_workers(site, transactional_db, redis_server, tmp_path):
    # "/day": fixed windows; a run must not straddle a window's end.
    server = behind_proxy(
        redis_server.url,
        tmp_path / "gunicorn.log",
        workers=2,
        CONSENT_THROTTLE_RATE=f"{LIMIT}/day",
        CONSENT_SITE_THROTTLE_RATE="100000/day",
    )
    yield server
    server.stop()


@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twenty_addresses_of_one_24_share_one_limit(two_workers):
    answers = flood(two_workers.port, ATTACKERS, 60)

    statuses = Counter(answer.status for answer in answers)
    assert set(statuses) == {201, 429}, two_workers.output()
    # Two processes share their counts through Redis every 50 ms: neither admits more
    # than the limit, so together never more than twice it.
    assert LIMIT <= statuses[201] <= 2 * LIMIT
    assert statuses[429] == 1200 - statuses[201]
    for answer in answers:
        if answer.status == 429:
            assert_throttled(answer)
    assert ConsentRecord.objects.count() == statuses[201]
    assert set(ConsentRecord.objects.values_list("ip_prefix", flat=True)) == {"203.0.113.0/24"}

    # A fresh address of the same /24 is the same client; another /24 is another.
    assert_throttled(call(two_workers.port, "POST", URL, client="203.0.113.250", body=CONSENT_BODY))
    assert (
        call(two_workers.port, "POST", URL, client="203.0.114.1", body=CONSENT_BODY).status == 201
    )


@pytest.fixture
def one_worker(site, transactional_db, redis_server, tmp_path):
    """One process counts exactly: every figure below is exact."""
    server = behind_proxy(
        redis_server.url,
        tmp_path / "gunicorn.log",
        workers=1,
        CONSENT_THROTTLE_RATE=f"{LIMIT}/day",
        CONSENT_SITE_THROTTLE_RATE="200/day",
    )
    yield server
    server.stop()


@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_site_ceiling_stops_a_flood_spread_over_many_networks(one_worker, site):
    other = Site.objects.create(name="Other", key="other-site", allowed_origins=SITE_ORIGIN)

    # One network's flood is stopped by its own limit and uses none of the ceiling
    # beyond what it was let through.
    one_network = flood(one_worker.port, ATTACKERS, 60)
    assert Counter(a.status for a in one_network) == {201: LIMIT, 429: 1200 - LIMIT}

    # Three hundred networks, each far under its own limit: the site takes 200 in all.
    networks = [f"10.{n // 256}.{n % 256}.9" for n in range(300)]
    spread = flood(one_worker.port, networks, 1)
    assert Counter(a.status for a in spread) == {201: 200 - LIMIT, 429: 300 - (200 - LIMIT)}
    for answer in spread:
        if answer.status == 429:
            assert_throttled(answer)
    assert ConsentRecord.objects.filter(site_id=site.pk).count() == 200

    # Another site's ceiling is its own.
    answer = call(
        one_worker.port,
        "POST",
        f"/api/v1/sites/{other.key}/consents",
        client="10.200.0.9",
        body=CONSENT_BODY,
    )
    assert answer.status == 201, answer.body
    assert ConsentRecord.objects.filter(site_id=other.pk).count() == 1


# The same rules through Django's test client, exact and quick: IPv6 networks, and each
# site's and network's counts apart.


def post(client, remote_addr: str, site_key: str = "demo"):
    return client.post(
        f"/api/v1/sites/{site_key}/consents",
        json.dumps(CONSENT_BODY),
        content_type="application/json",
        REMOTE_ADDR=remote_addr,
    )


@pytest.fixture
def three_a_minute(monkeypatch):
    monkeypatch.setattr(SiteClientThrottle, "THROTTLE_RATES", {"consent": "3/min"})


@pytest.mark.django_db
def test_addresses_of_one_ipv6_64_share_one_limit(client, site, three_a_minute):
    codes = [post(client, f"2001:db8:1:2::{host}").status_code for host in range(1, 5)]
    assert codes == [201, 201, 201, 429]
    assert post(client, "2001:db8:1:2:ffff:ffff:ffff:ffff").status_code == 429
    # The next /64, in the same /48 that records store, is another client.
    assert post(client, "2001:db8:1:3::1").status_code == 201
    assert set(ConsentRecord.objects.values_list("ip_prefix", flat=True)) == {"2001:db8:1::/48"}


@pytest.mark.django_db
def test_an_ipv4_mapped_address_is_counted_in_its_24(client, site, three_a_minute):
    codes = [post(client, f"198.51.100.{host}").status_code for host in range(1, 4)]
    assert codes == [201, 201, 201]
    assert post(client, "::ffff:198.51.100.77").status_code == 429
    assert post(client, "198.51.101.1").status_code == 201


@pytest.mark.django_db
def test_the_site_ceiling_is_per_site(client, site, monkeypatch):
    monkeypatch.setattr(SiteThrottle, "THROTTLE_RATES", {"consent_site": "5/min"})
    Site.objects.create(name="Other", key="other-site", allowed_origins=SITE_ORIGIN)
    codes = [post(client, f"198.51.{n}.1").status_code for n in range(6)]
    assert codes == [201] * 5 + [429]
    assert post(client, "198.51.200.1", site_key="other-site").status_code == 201
