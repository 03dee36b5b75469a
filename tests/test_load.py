"""200 concurrent clients against a real gunicorn: every acknowledged decision is stored.

Short form (a fixed number of requests, loopback only); ``bench/load`` runs the long
form. Nothing here is timed: the assertions are about records, not speed.
"""

import pytest

from consent.models import ConsentRecord
from tests.appserver import (
    Clients,
    Outcome,
    production_env,
    start_gunicorn,
)
from tests.harness import database_url_for_workers

CLIENTS = 200
REQUESTS_PER_CLIENT = 3


def assert_every_201_has_its_row_and_no_row_lacks_one(outcomes: list[Outcome]) -> None:
    acknowledged = {}
    for outcome in outcomes:
        if outcome.answer and outcome.answer.status == 201:
            receipt = outcome.answer.body
            if outcome.sent:
                assert receipt["consent_id"] == outcome.sent
            acknowledged[receipt["record_id"]] = receipt["consent_id"]
    stored = {
        pk: str(consent_id)
        for pk, consent_id in ConsentRecord.objects.values_list("id", "consent_id")
    }
    assert stored == acknowledged


@pytest.fixture
def app_server(site, transactional_db, tmp_path):
    server = start_gunicorn(
        production_env(database_url_for_workers()), tmp_path / "gunicorn.log", workers=2
    )
    yield server
    server.stop()


@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_200_concurrent_clients_lose_nothing(app_server):
    outcomes = Clients(app_server.port, CLIENTS, REQUESTS_PER_CLIENT).run()

    assert len(outcomes) == CLIENTS * REQUESTS_PER_CLIENT
    assert [o.error for o in outcomes if o.error] == [], app_server.output()
    assert {o.answer.status for o in outcomes} == {201}, app_server.output()
    assert_every_201_has_its_row_and_no_row_lacks_one(outcomes)
