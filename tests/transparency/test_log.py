"""The sealer: rows become leaves in order, one signed head per batch, the stored tree is
RFC 9162's over exactly those rows, erased rows never sealed stay out, and one sealer at a
time holds the log."""

import itertools
import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from consent import audit, records
from consent.models import AuditEvent, ConsentRecord, LogTile, TreeHead
from consent.transparency import heads, log, merkle, verify
from tests.ops import decide
from tests.transparency.test_merkle import mth

pytestmark = pytest.mark.django_db


def logged_rows() -> list[tuple[str, object]]:
    """Every row in the log, in leaf order."""
    rows = [("consent", r) for r in ConsentRecord.objects.exclude(leaf_index=None)]
    rows += [("audit", e) for e in AuditEvent.objects.exclude(leaf_index=None)]
    return sorted(rows, key=lambda item: item[1].leaf_index)


def stored_leaves() -> bytes:
    return b"".join(bytes(t.hashes) for t in LogTile.objects.filter(level=0).order_by("index"))


def test_it_appends_every_unsealed_row_as_a_leaf_in_order(site):
    now = timezone.now()
    made = [decide(now + timedelta(seconds=i)) for i in range(3)]
    waiting = log.unsealed_count()

    sealed = log.seal()

    assert sealed.leaves == waiting > 3
    assert log.unsealed_count() == 0
    rows = logged_rows()
    assert [row.leaf_index for _, row in rows] == list(range(waiting))
    for kind in ("consent", "audit"):
        ids = [row.pk for k, row in rows if k == kind]
        assert ids == sorted(ids), f"{kind} rows are not logged in id order"
    assert {r.pk for k, r in rows if k == "consent"} == {r.pk for r in made}
    leaves = stored_leaves()
    for index, (kind, row) in enumerate(rows):
        assert leaves[32 * index : 32 * (index + 1)] == merkle.leaf_hash(log.leaf_input(kind, row))


def test_the_leaf_input_is_canonical_json_with_the_receipts_field_names(site):
    record = decide(timezone.now())
    log.seal()
    record.refresh_from_db()

    data = log.leaf_input("consent", record)

    assert data.startswith(b'{"categories":{')
    assert b'"kind":"consent"' in data and b'"salt":"' in data
    assert f'"consent_id":"{record.consent_id}"'.encode() in data
    assert f'"record_id":{record.pk}'.encode() in data
    assert b", " not in data and b": " not in data


def test_it_signs_one_head_per_batch_with_rising_times(site):
    now = timezone.now()
    for i in range(5):
        decide(now + timedelta(seconds=i))
    waiting = log.unsealed_count()

    log.seal(batch=4)

    stored = list(TreeHead.objects.order_by("tree_size"))
    expected = [*range(4, waiting, 4), waiting]
    assert [h.tree_size for h in stored] == expected
    assert all(a.timestamp < b.timestamp for a, b in itertools.pairwise(stored))
    for head in stored:
        assert heads.verify(log.signed(head), log.key_document()["origin"], log.public_key())


def test_a_second_seal_with_nothing_new_signs_nothing(site):
    decide(timezone.now())
    log.seal()
    count = TreeHead.objects.count()

    again = log.seal()

    assert (again.leaves, again.head) == (0, None)
    assert TreeHead.objects.count() == count


def test_the_stored_tree_is_rfc_9162s_over_the_rows_across_seals(site):
    now = timezone.now()
    for batch in (1, 2, 5, 3):
        for i in range(batch):
            decide(now + timedelta(seconds=i))
        audit.log_event("note", object_type="test", data={"batch": batch})
        log.seal(batch=3)

    inputs = [log.leaf_input(kind, row) for kind, row in logged_rows()]
    for head in TreeHead.objects.all():
        assert bytes(head.root_hash) == mth(inputs[: head.tree_size]), head.tree_size
    assert stored_leaves() == b"".join(merkle.leaf_hash(d) for d in inputs)
    assert verify.verify().finding is None


def test_a_record_erased_before_it_was_sealed_is_never_logged(site):
    consent_id = uuid.uuid4()
    kept = decide(timezone.now())
    gone = decide(timezone.now(), consent_id=consent_id)

    assert records.erase(consent_id) == 1
    log.seal()

    assert not ConsentRecord.objects.filter(pk=gone.pk).exists()
    assert ConsentRecord.objects.get(pk=kept.pk).leaf_index is not None
    erase_event = AuditEvent.objects.get(action="erase")
    assert erase_event.leaf_index is not None and erase_event.data["leaves"] == ""
    report = verify.verify()
    assert report.finding is None and report.erased == 0


def test_a_record_erased_after_it_was_sealed_keeps_its_leaf(site):
    consent_id = uuid.uuid4()
    record = decide(timezone.now(), consent_id=consent_id)
    log.seal()
    record.refresh_from_db()
    root = bytes(log.latest_head().root_hash)

    records.erase(consent_id)
    log.seal()

    record.refresh_from_db()
    assert record.salt is None and record.consent_id is None and record.ip_prefix == ""
    assert AuditEvent.objects.get(action="erase").data["leaves"] == str(record.leaf_index)
    first = TreeHead.objects.order_by("tree_size").first()
    assert bytes(first.root_hash) == root  # the tree before erasure is unchanged
    report = verify.verify()
    assert report.finding is None and report.erased == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_sealer_waits_for_the_lock_another_one_holds(site):
    decide(timezone.now())
    holding, release, sealed = threading.Event(), threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                log.lock()
                holding.set()
                release.wait(30)
        finally:
            connection.close()

    def seal():
        try:
            log.seal()
            sealed.set()
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(30)
    sealer = threading.Thread(target=seal)
    sealer.start()
    try:
        assert not sealed.wait(1.5), "the sealer did not wait for the lock"
        assert TreeHead.objects.count() == 0
    finally:
        release.set()
        holder.join(30)
    assert sealed.wait(30)
    sealer.join(30)
    assert log.unsealed_count() == 0
    assert verify.verify().finding is None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sealers_at_once_log_every_row_once(site):
    now = timezone.now()
    for i in range(40):
        decide(now + timedelta(milliseconds=i))
    errors = []

    def seal():
        try:
            log.seal(batch=7)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=seal) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert log.unsealed_count() == 0
    rows = logged_rows()
    assert [row.leaf_index for _, row in rows] == list(range(len(rows)))
    assert verify.verify().finding is None
