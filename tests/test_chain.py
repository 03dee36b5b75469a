"""Tamper evidence: each of the three tamperings is caught; legitimate removal is not."""

import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from consent import chain, records
from consent.bundles import get_bundle
from consent.models import ChainLink, ConsentRecord
from consent.policy import Signals

pytestmark = pytest.mark.django_db


def decide(n: int = 1, consent_id: uuid.UUID | None = None) -> list[ConsentRecord]:
    bundle = get_bundle("demo")
    return [
        records.record_consent(
            bundle,
            categories={"functional": True, "advertising": False},
            policy_version=1,
            method="custom",
            signals=Signals(),
            consent_id=consent_id,
        )[0]
        for _ in range(n)
    ]


def raw_sql(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def verify_command() -> tuple[int, str]:
    try:
        call_command("verify_audit", stdout=open("/dev/null", "w"))  # noqa: SIM115
    except Exception as error:  # CommandError exits non-zero from the shell
        return 1, str(error)
    return 0, ""


def test_an_intact_chain_verifies(site):
    decide(5)
    assert chain.seal() > 5
    checked, finding = chain.verify()
    assert finding is None
    assert checked == ChainLink.objects.count()
    assert verify_command() == (0, "")


def test_sealing_twice_seals_nothing_more(site):
    decide(3)
    chain.seal()
    assert chain.seal() == 0


def test_an_altered_record_is_named(site):
    records_ = decide(4)
    chain.seal()
    target = records_[2]
    raw_sql(
        "UPDATE consent_consentrecord SET categories = %s WHERE id = %s",
        ['{"required": true, "functional": true, "advertising": true}', target.id],
    )
    code, message = verify_command()
    assert code == 1
    assert f"altered: record #{target.id}" in message


def test_a_removed_record_is_named(site):
    records_ = decide(4)
    chain.seal()
    raw_sql("DELETE FROM consent_consentrecord WHERE id = %s", [records_[1].id])
    code, message = verify_command()
    assert code == 1
    assert f"removed: record #{records_[1].id}" in message


def test_an_inserted_record_is_named(site):
    """A row slipped in among sealed rows (backdated, as someone with database access
    would) is never sealed by a later seal, and verify names it."""
    decide(3)
    chain.seal()
    sealed_max = ChainLink.objects.filter(kind="record").order_by("-row_id")[0].row_id
    gap_id = sealed_max + 1
    decide(1)  # takes gap_id
    raw_sql("DELETE FROM consent_consentrecord WHERE id = %s", [gap_id])
    decide(2)
    chain.seal()
    raw_sql(
        "INSERT INTO consent_consentrecord (id, consent_id, site_id, policy_version, "
        "texts_hash, categories, method, gpc, dnt, language, page_url, ip_prefix, "
        "created_at, expires_at) VALUES (%s, %s, %s, 1, %s, %s, 'accept_all', %s, %s, '', "
        "'', '', %s, %s)",
        [
            gap_id,
            uuid.uuid4().hex,
            site.id,
            "0" * 64,
            '{"required": true}',
            False,
            False,
            timezone.now() - timezone.timedelta(days=30),
            timezone.now(),
        ],
    )
    chain.seal()
    assert not ChainLink.objects.filter(kind="record", row_id=gap_id).exists()
    code, message = verify_command()
    assert code == 1
    assert f"inserted: record #{gap_id}" in message


def test_a_removed_link_breaks_the_chain(site):
    decide(3)
    chain.seal()
    middle = ChainLink.objects.order_by("seq")[1]
    raw_sql("DELETE FROM consent_chainlink WHERE seq = %s", [middle.seq])
    code, message = verify_command()
    assert code == 1 and "broken-chain" in message


def test_a_rewritten_link_breaks_the_chain(site):
    decide(3)
    chain.seal()
    last = ChainLink.objects.order_by("-seq")[0]
    raw_sql("UPDATE consent_chainlink SET digest = %s WHERE seq = %s", ["f" * 64, last.seq])
    code, message = verify_command()
    assert code == 1 and "broken-chain" in message


def test_erasure_is_not_flagged(site):
    consent_id = uuid.uuid4()
    decide(2, consent_id)
    decide(2)
    chain.seal()
    records.erase(consent_id)
    chain.seal()
    assert chain.verify()[1] is None


def test_a_retention_purge_is_not_flagged(site):
    old = decide(3)
    chain.seal()
    future = timezone.now() + timezone.timedelta(days=site.retention_days + 1)
    decide(2)
    assert records.purge_expired(site, now=future, batch=2) == 5
    chain.seal()
    assert chain.verify()[1] is None
    assert not ConsentRecord.objects.filter(id__in=[r.id for r in old]).exists()


def test_ranges_round_trip():
    ids = [1, 2, 3, 7, 9, 10]
    assert chain.encode_ranges(ids) == "1-3,7,9-10"
    assert list(chain.decode_ranges("1-3,7,9-10")) == [(1, 3), (7, 7), (9, 10)]


def test_a_nulled_value_is_caught_as_an_alteration(site):
    record, _ = records.record_consent(
        get_bundle("demo"),
        categories={"functional": True, "advertising": False},
        policy_version=1,
        method="custom",
        signals=Signals(),
        consent_id=uuid.uuid4(),
        decision_id=uuid.uuid4(),
    )
    chain.seal()
    raw_sql("UPDATE consent_consentrecord SET decision_id = NULL WHERE id = %s", [record.id])
    code, message = verify_command()
    assert code == 1 and f"altered: record #{record.id}" in message


def test_records_of_a_deleted_site_are_reported_not_failed(site):
    """No database foreign key from records to the site: one left behind by a site
    deleted while its decision was in flight is named, and the chain still verifies."""
    import io

    decide(2)
    now = timezone.now()
    orphan = ConsentRecord(
        consent_id=uuid.uuid4(),
        site_id=987654,
        policy_version=1,
        texts_hash="0" * 64,
        categories={"required": True},
        method="reject_all",
        created_at=now,
        expires_at=now,
    )
    orphan.save()
    out = io.StringIO()
    call_command("verify_audit", "--seal", stdout=out)
    assert "audit chain intact" in out.getvalue()
    assert f"1 records belong to a deleted site (ids [{orphan.pk}])" in out.getvalue()
