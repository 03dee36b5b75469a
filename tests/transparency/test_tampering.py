"""Every tampering of issue 12, done as someone with access to the database would do it
(raw SQL, or the platform's own sealer run with another key), is caught by verification
and named with the right problem; legitimate erasure and retention are not.

Run on SQLite and on PostgreSQL (``--postgres``)."""

import base64
import json
import secrets
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from consent import records
from consent.models import AuditEvent, ConsentRecord, LogTile, TreeHead
from consent.transparency import heads, log, merkle, verify
from tests.ops import decide

pytestmark = pytest.mark.django_db


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def problem(**kwargs) -> str | None:
    finding = verify.verify(**kwargs).finding
    return finding and finding.problem


def command(*args: str) -> str:
    """verify_audit's output; raises CommandError (a non-zero exit) on a problem."""
    from io import StringIO

    out = StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue()


def latest() -> TreeHead:
    head = log.latest_head()
    assert head is not None
    return head


def b64(data) -> str:
    return base64.b64encode(bytes(data)).decode()


def copy_record(of: ConsentRecord, row_id: int, **columns) -> None:
    """INSERT a record as an attacker would: a copy of ``of`` with its own id, salt and
    consent id, not in the log, ``columns`` changed."""
    values = {f.column: getattr(of, f.attname) for f in ConsentRecord._meta.concrete_fields}
    values |= {
        "id": row_id,
        "leaf_index": None,
        "salt": secrets.token_bytes(16),
        "consent_id": uuid.uuid4().hex,
        "decision_id": None,
        "categories": json.dumps(of.categories),
        "created_at": timezone.now(),
    } | columns
    names = ", ".join(connection.ops.quote_name(n) for n in values)
    marks = ", ".join(["%s"] * len(values))
    sql(f"INSERT INTO consent_consentrecord ({names}) VALUES ({marks})", list(values.values()))  # noqa: S608


@pytest.fixture
def logged(site) -> list[ConsentRecord]:
    """Four decisions and the site's audit events, sealed and signed."""
    now = timezone.now()
    made = [decide(now + timedelta(seconds=i)) for i in range(4)]
    log.seal()
    return list(ConsentRecord.objects.filter(pk__in=[r.pk for r in made]).order_by("id"))


@pytest.fixture
def another_key(monkeypatch):
    """Run the platform's own sealer with a key that is not the log's."""
    key = heads.generate_private_key()

    def use():
        monkeypatch.setenv("CONSENT_LOG_KEY", heads.private_key_pem(key).decode())
        log.signing_key.cache_clear()

    yield key, use
    log.signing_key.cache_clear()


def rewrite_whole_log(record: ConsentRecord) -> None:
    """Change a sealed record, drop the tree and its heads, and seal everything again:
    a log that is whole and consistent in itself."""
    sql(
        "UPDATE consent_consentrecord SET categories = %s WHERE id = %s",
        ['{"required": true, "functional": true, "advertising": true}', record.pk],
    )
    sql("UPDATE consent_consentrecord SET leaf_index = NULL")
    sql("UPDATE consent_auditevent SET leaf_index = NULL")
    sql("DELETE FROM consent_logtile")
    sql("DELETE FROM consent_treehead")
    log.seal()


# --- The log as it should be ------------------------------------------------------------


def test_an_untouched_log_verifies_and_says_what_it_checked(logged):
    head = latest()

    report = verify.verify()
    out = command()

    assert report.finding is None
    assert report.leaves == head.tree_size == report.rows
    assert (report.erased, report.unsealed, report.heads) == (0, 0, 1)
    assert f"{head.tree_size} leaves, {head.tree_size} rows checked (0 erased)" in out
    assert f"latest head: size {head.tree_size}, root {b64(head.root_hash)}" in out


def test_erasure_and_retention_verify_with_their_leaves_counted_as_erased(site):
    now = timezone.now()
    visitor = uuid.uuid4()
    # Oldest first, as decisions are made: the log takes a backdated row for a forgery.
    old = [decide(now - timedelta(days=site.retention_days + 1 + i)) for i in reversed(range(3))]
    mine = [decide(now, consent_id=visitor) for _ in range(2)]
    decide(now)
    log.seal()

    assert records.erase(visitor) == 2
    assert records.purge_expired(site, now=now, batch=2) == 3
    log.seal()
    report = verify.verify()

    assert report.finding is None
    assert report.erased == 5
    shredded = ConsentRecord.objects.filter(pk__in=[r.pk for r in old + mine])
    assert shredded.count() == 5 and set(shredded.values_list("salt", flat=True)) == {None}
    assert "(5 erased)" in command()


def test_an_empty_log_verifies(db):
    sql("DELETE FROM consent_auditevent")
    report = verify.verify()
    assert report.finding is None and report.leaves == 0


# --- Rows deleted, slipped in, changed ---------------------------------------------------


def test_sealed_records_deleted_behind_a_forged_erase_event_are_missing(logged):
    """What fooled the hash chain: delete records and excuse it with an "erase" event
    naming every id. No event excuses a leaf without its row."""
    sql("DELETE FROM consent_consentrecord WHERE id IN (%s, %s)", [logged[1].pk, logged[2].pk])
    sql(
        "INSERT INTO consent_auditevent (created_at, actor, action, object_type, object_id, "
        "object_repr, site_key, data, salt) VALUES (%s, 'system', 'erase', "
        "'consent.ConsentRecord', '', 'records of one visitor', 'demo', %s, %s)",
        [
            timezone.now(),
            '{"kind": "record", "removed_ids": "1-999999999"}',
            secrets.token_bytes(16),
        ],
    )
    log.seal()  # the forged event itself is sealed: it excuses nothing

    finding = verify.verify().finding

    assert finding.problem == "missing"
    assert finding.where == f"leaf {logged[1].leaf_index}"
    with pytest.raises(CommandError, match=f"missing: leaf {logged[1].leaf_index}"):
        command()


def test_a_deleted_audit_event_is_missing(logged):
    event = AuditEvent.objects.exclude(leaf_index=None).order_by("leaf_index").last()
    sql("DELETE FROM consent_auditevent WHERE id = %s", [event.pk])

    assert verify.verify().finding.where == f"leaf {event.leaf_index}"
    assert problem() == "missing"


def test_a_row_slipped_into_a_gap_of_the_ids_is_inserted(site, monkeypatch):
    """Ids 1 and 3 are logged an hour ago; id 2 (lost to a rolled-back transaction)
    appears now with a fresh time, and the sealer logs it."""
    first = decide(timezone.now())
    copy_record(first, first.pk + 2)
    an_hour_ago = time.time() - 3600
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: an_hour_ago)
        log.seal()

    copy_record(first, first.pk + 1)
    log.seal()
    finding = verify.verify().finding

    assert finding.problem == "inserted"
    assert finding.where.startswith(f"record #{first.pk + 1} ")
    assert f"record #{first.pk + 2}, a higher id" in finding.detail


def test_a_backdated_record_with_a_new_id_is_inserted(logged):
    """A forged decision, INSERTed now under the next id but claiming to be a day old,
    then logged by the sealer like any decision: its time gives it away."""
    last = logged[-1]
    copy_record(last, last.pk + 1, created_at=last.created_at - timedelta(days=1))
    log.seal()

    finding = verify.verify().finding

    assert finding.problem == "inserted"
    assert finding.where.startswith(f"record #{last.pk + 1} ")
    assert "backdated" in finding.detail


def test_a_row_committed_a_little_late_is_not_inserted(site, monkeypatch):
    """A slow transaction's row comes after higher ids, within the grace."""
    first = decide(timezone.now())
    copy_record(first, first.pk + 2)
    a_minute_ago = time.time() - 60
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: a_minute_ago)
        log.seal()

    copy_record(first, first.pk + 1)
    log.seal()

    assert verify.verify().finding is None


def test_a_row_that_is_neither_logged_nor_sealable_is_inserted(logged):
    copy_record(logged[0], logged[-1].pk + 10, salt=None)

    assert problem() == "inserted"


def test_a_leaf_claimed_by_a_second_row_is_inserted(logged):
    copy_record(logged[0], logged[-1].pk + 10)
    event = AuditEvent.objects.exclude(leaf_index=None).order_by("leaf_index").first()
    record = ConsentRecord.objects.get(pk=logged[-1].pk + 10)
    sql(
        "UPDATE consent_consentrecord SET leaf_index = %s WHERE id = %s",
        [event.leaf_index, record.pk],
    )

    finding = verify.verify().finding

    assert (finding.problem, finding.where) == ("inserted", f"leaf {event.leaf_index}")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("categories", '{"required": true, "functional": true, "advertising": true}'),
        ("method", "accept_all"),
        ("created_at", "2020-01-01 00:00:00+00:00"),
        ("decision_id", uuid.UUID(int=2).hex),
        ("consent_id", uuid.UUID(int=1).hex),
        ("salt", bytes(range(16))),  # fixed: xdist workers must collect the same ids
    ],
)
def test_an_altered_column_is_altered(logged, column, value):
    target = logged[2]
    sql(f"UPDATE consent_consentrecord SET {column} = %s WHERE id = %s", [value, target.pk])  # noqa: S608

    finding = verify.verify().finding

    assert finding.problem == "altered"
    assert finding.where == f"record #{target.pk} (leaf {target.leaf_index})"
    with pytest.raises(CommandError, match=f"altered: record #{target.pk} "):
        command()


def test_an_altered_audit_event_is_altered(logged):
    event = AuditEvent.objects.exclude(leaf_index=None).first()
    sql("UPDATE consent_auditevent SET actor = %s WHERE id = %s", ["someone else", event.pk])

    assert verify.verify().finding.where == f"event #{event.pk} (leaf {event.leaf_index})"
    assert problem() == "altered"


def test_a_salt_nulled_on_a_record_that_still_holds_its_content_is_altered(logged):
    """Passing a changed record off as erased: an erased record holds nothing personal."""
    target = logged[1]
    sql(
        "UPDATE consent_consentrecord SET salt = NULL, method = 'reject_all' WHERE id = %s",
        [target.pk],
    )

    finding = verify.verify().finding

    assert (finding.problem, finding.where) == (
        "altered",
        f"record #{target.pk} (leaf {target.leaf_index})",
    )
    assert "consent_id" in finding.detail


def test_a_record_shredded_by_sql_without_an_erasure_is_altered(logged, site):
    """Hiding a decision by making it look erased (and flipping it, for the statistics):
    no erase or purge event names its leaf, so it is no erasure."""
    target = logged[1]
    records.erase(logged[0].consent_id, actor="privacy")  # a real erasure, elsewhere
    log.seal()
    sql(
        "UPDATE consent_consentrecord SET salt = NULL, consent_id = NULL, decision_id = NULL,"
        " ip_prefix = '', page_url = '', language = '', method = 'accept_all' WHERE id = %s",
        [target.pk],
    )

    finding = verify.verify().finding

    assert (finding.problem, finding.where) == (
        "altered",
        f"record #{target.pk} (leaf {target.leaf_index})",
    )
    assert "no erase or purge event" in finding.detail


def test_a_salt_nulled_on_an_audit_event_is_altered(logged):
    event = AuditEvent.objects.exclude(leaf_index=None).first()
    sql("UPDATE consent_auditevent SET salt = NULL WHERE id = %s", [event.pk])

    assert problem() == "altered"


def test_two_leaves_swapped_are_altered(logged):
    a, b = logged[0], logged[3]
    sql("UPDATE consent_consentrecord SET leaf_index = -1 WHERE id = %s", [a.pk])
    sql("UPDATE consent_consentrecord SET leaf_index = %s WHERE id = %s", [a.leaf_index, b.pk])
    sql("UPDATE consent_consentrecord SET leaf_index = %s WHERE id = %s", [b.leaf_index, a.pk])

    finding = verify.verify().finding

    assert (finding.problem, finding.where) == ("altered", f"record #{b.pk} (leaf {a.leaf_index})")


def test_a_row_moved_past_the_end_of_the_log_leaves_its_leaf_missing(logged):
    sql(
        "UPDATE consent_consentrecord SET leaf_index = %s WHERE id = %s",
        [latest().tree_size + 5, logged[3].pk],
    )

    finding = verify.verify().finding

    assert (finding.problem, finding.where) == ("missing", f"leaf {logged[3].leaf_index}")


def test_a_row_claiming_a_leaf_past_the_end_of_the_log_is_altered(logged):
    size = latest().tree_size
    copy_record(logged[0], logged[-1].pk + 10, leaf_index=size + 5)

    finding = verify.verify().finding

    assert (finding.problem, finding.where) == ("altered", f"record #{logged[-1].pk + 10}")
    assert f"claims leaf {size + 5}, outside the log of {size} leaves" in finding.detail


# --- The tree and its heads ---------------------------------------------------------------


def test_an_altered_leaf_hash_in_a_tile_is_a_tree_problem(logged):
    tile = LogTile.objects.get(level=0, index=0)
    data = bytearray(bytes(tile.hashes))
    data[40] ^= 1
    sql("UPDATE consent_logtile SET hashes = %s WHERE id = %s", [bytes(data), tile.pk])

    finding = verify.verify().finding

    assert (finding.problem, finding.where) == ("tree", f"head {latest().tree_size}")


def test_a_tile_rewritten_to_match_an_altered_row_is_still_caught(logged):
    """The attacker changes a record and puts its new leaf hash in the tile: the signed
    root no longer matches."""
    target = logged[0]
    sql("UPDATE consent_consentrecord SET method = 'accept_all' WHERE id = %s", [target.pk])
    changed = ConsentRecord.objects.get(pk=target.pk)
    tile = LogTile.objects.get(level=0, index=0)
    data = bytearray(bytes(tile.hashes))
    offset = 32 * target.leaf_index
    data[offset : offset + 32] = merkle.leaf_hash(log.leaf_input("consent", changed))
    sql("UPDATE consent_logtile SET hashes = %s WHERE id = %s", [bytes(data), tile.pk])

    assert problem() == "tree"


def test_a_deleted_tile_is_a_tree_problem(logged):
    sql("DELETE FROM consent_logtile")

    assert problem() == "tree"


@pytest.fixture
def wide(site) -> None:
    """More than two full level-0 tiles: 600 leaves."""
    AuditEvent.objects.bulk_create(
        AuditEvent(actor="load", action="note", object_type="test")
        for _ in range(600 - AuditEvent.objects.count())
    )
    log.seal()


def change_tile(level: int, index: int, change) -> None:
    tile = LogTile.objects.get(level=level, index=index)
    data = change(bytearray(bytes(tile.hashes)))
    sql("UPDATE consent_logtile SET hashes = %s WHERE id = %s", [bytes(data), tile.pk])


def test_an_altered_upper_tile_is_a_tree_problem(wide):
    """Past 256 leaves, a level-1 tile holds the root of each full level-0 tile."""
    assert len(bytes(LogTile.objects.get(level=1, index=0).hashes)) == 2 * 32

    change_tile(1, 0, lambda data: data[:32] + bytes(32))

    assert verify.verify().finding.where == "tile 1/0"
    assert problem() == "tree"


def test_a_tile_deleted_between_two_others_is_a_tree_problem(wide):
    sql('DELETE FROM consent_logtile WHERE level = 0 AND "index" = 1')

    finding = verify.verify().finding

    assert (finding.problem, finding.where) == ("tree", "tile 0/2")


def test_a_shortened_tile_is_a_tree_problem(wide):
    change_tile(0, 0, lambda data: data[:-32])

    finding = verify.verify().finding

    assert (finding.problem, finding.where) == ("tree", "tile 0/1")
    assert "not full" in finding.detail


def test_a_tile_of_a_length_no_tile_has_is_a_tree_problem(logged):
    change_tile(0, 0, lambda data: data + b"12345")

    finding = verify.verify().finding

    assert (finding.problem, finding.where) == ("tree", "tile 0/0")


def test_a_tile_the_tree_does_not_have_is_a_tree_problem(wide):
    sql(
        'INSERT INTO consent_logtile (level, "index", hashes) VALUES (1, 7, %s)',
        [bytes(32)],
    )

    finding = verify.verify().finding

    assert (finding.problem, finding.where) == ("tree", "tiles of level 1")


def test_an_altered_full_upper_tile_is_a_tree_problem(site):
    """Past 65,536 leaves, level-1 tile 0 is full and a level-2 tile begins."""
    AuditEvent.objects.bulk_create(
        AuditEvent(actor="load", action="note", object_type="test")
        for _ in range(256 * 256 + 10 - AuditEvent.objects.count())
    )
    log.seal(batch=50_000)
    assert verify.verify().finding is None
    assert LogTile.objects.filter(level=2).count() == 1
    tile = LogTile.objects.get(level=1, index=0)
    data = bytearray(bytes(tile.hashes))
    data[-1] ^= 1
    sql("UPDATE consent_logtile SET hashes = %s WHERE id = %s", [bytes(data), tile.pk])

    finding = verify.verify().finding

    assert (finding.problem, finding.where) == ("tree", "tile 1/0")


def test_a_deleted_latest_head_is_a_tree_problem(logged):
    decide(timezone.now())
    log.seal()
    sql("DELETE FROM consent_treehead WHERE tree_size = %s", [latest().tree_size])

    finding = verify.verify().finding

    assert finding.problem == "tree"
    assert "the latest signed head" in finding.detail


def test_a_deleted_earlier_head_is_missing_against_the_heads_file(
    site, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.CONSENT_LOG_HEADS_FILE = str(tmp_path / "heads.jsonl")
    decide(timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        log.seal()
    first = latest()
    decide(timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        log.seal()
    sql("DELETE FROM consent_treehead WHERE tree_size = %s", [first.tree_size])

    assert verify.verify().finding is None  # the tree itself is intact
    finding = verify.verify(heads_file=Path(settings.CONSENT_LOG_HEADS_FILE)).finding
    assert finding.problem == "missing" and "line 1" in finding.where


def test_a_head_whose_signature_was_altered_is_a_bad_signature(logged):
    head = latest()
    forged = bytearray(bytes(head.signature))
    forged[0] ^= 1
    sql("UPDATE consent_treehead SET signature = %s WHERE id = %s", [bytes(forged), head.pk])

    assert problem() == "bad-signature"


def test_a_head_with_a_malformed_root_is_a_bad_signature(logged):
    sql("UPDATE consent_treehead SET root_hash = %s", [bytes(31)])

    assert problem() == "bad-signature"


def test_a_head_of_a_size_no_tree_has_is_a_bad_signature(logged):
    head = latest()
    sql(
        "INSERT INTO consent_treehead (tree_size, root_hash, timestamp, signature, key_id) "
        "VALUES (-1, %s, %s, %s, %s)",
        [bytes(head.root_hash), head.timestamp - 1, bytes(head.signature), head.key_id],
    )

    finding = verify.verify().finding

    assert (finding.problem, finding.where) == ("bad-signature", "head -1")


def test_a_head_moved_back_in_time_is_inconsistent(logged):
    first = latest()
    decide(timezone.now())
    log.seal()
    # Signed by the key, but out of order: what a forked log would show.
    head = heads.sign(
        heads.TreeHead(latest().tree_size, bytes(latest().root_hash), first.timestamp - 1),
        log.key_document()["origin"],
        log.signing_key(),
    )
    sql(
        "UPDATE consent_treehead SET timestamp = %s, signature = %s WHERE tree_size = %s",
        [head.timestamp, head.signature, head.tree_size],
    )

    assert problem() == "inconsistent"


# --- Rewrites and rollbacks, against heads kept outside the database ----------------------


def test_a_whole_log_rewritten_and_signed_with_another_key_fails_its_signatures(
    logged, another_key
):
    key, use = another_key
    use()
    rewrite_whole_log(logged[1])

    assert problem() == "bad-signature"
    assert problem(public_key=key.public_key()) is None  # whole in itself


def test_a_rewrite_with_another_key_is_caught_by_an_expected_head(logged, another_key, tmp_path):
    kept = latest()
    heads_file = tmp_path / "heads.jsonl"
    heads_file.write_text(json.dumps(log.signed(kept).as_json()) + "\n")
    key, use = another_key
    use()
    rewrite_whole_log(logged[1])
    expected = [(kept.tree_size, bytes(kept.root_hash))]

    assert problem(expect=expected, public_key=key.public_key()) == "inconsistent"
    assert problem(heads_file=heads_file, public_key=key.public_key()) == "bad-signature"


def test_a_rewrite_signed_with_the_stolen_key_is_caught_only_by_a_kept_head(
    logged, tmp_path, settings, django_capture_on_commit_callbacks
):
    settings.CONSENT_LOG_HEADS_FILE = str(tmp_path / "heads.jsonl")
    decide(timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        log.seal()  # appends this head to the file, as in production
    kept = latest()
    settings.CONSENT_LOG_HEADS_FILE = ""

    rewrite_whole_log(logged[1])

    assert problem() is None  # the database alone cannot tell
    assert problem(heads_file=tmp_path / "heads.jsonl") == "inconsistent"
    for root in (b64(kept.root_hash), bytes(kept.root_hash).hex()):
        with pytest.raises(CommandError, match="inconsistent: expected head"):
            command("--expect-head", f"{kept.tree_size}:{root}")
    with pytest.raises(CommandError, match="inconsistent"):
        command("--heads-file", str(tmp_path / "heads.jsonl"))


def test_a_rollback_to_an_older_head_is_caught_by_a_kept_head(logged):
    old = latest()
    old_tiles = list(LogTile.objects.values_list("level", "index", "hashes"))
    decide(timezone.now())
    log.seal()
    kept = latest()

    # Back to the older head, as from a backup: the rows, tiles and heads since, gone.
    for table in ("consent_consentrecord", "consent_auditevent"):
        sql(f"DELETE FROM {table} WHERE leaf_index >= %s", [old.tree_size])  # noqa: S608
    sql("DELETE FROM consent_treehead WHERE tree_size > %s", [old.tree_size])
    sql("DELETE FROM consent_logtile")
    for level, index, data in old_tiles:
        sql(
            'INSERT INTO consent_logtile (level, "index", hashes) VALUES (%s, %s, %s)',
            [level, index, bytes(data)],
        )

    assert problem() is None  # an older log, whole in itself
    expected = [(kept.tree_size, bytes(kept.root_hash))]
    assert problem(expect=expected) == "rollback"
    with pytest.raises(CommandError, match=f"rollback: expected head {kept.tree_size}"):
        command("--expect-head", f"{kept.tree_size}:{b64(kept.root_hash)}")


def test_an_expected_head_of_today_or_earlier_verifies(logged):
    first = latest()
    decide(timezone.now())
    log.seal()
    now = latest()

    out = command(
        "--expect-head",
        f"{first.tree_size}:{b64(first.root_hash)}",
        "--expect-head",
        f"{now.tree_size}:{bytes(now.root_hash).hex()}",
    )

    assert "2 expected heads" in out


@pytest.mark.parametrize("text", ["12", "x:abc", "3:" + "a" * 63, "3:" + b64(b"short")])
def test_a_malformed_expected_head_is_refused(db, text):
    with pytest.raises(CommandError, match=r"SIZE:ROOT|base64|32 bytes"):
        command("--expect-head", text)


def test_an_unreadable_heads_file_is_refused(logged, tmp_path):
    broken = tmp_path / "heads.jsonl"
    broken.write_text('{"tree_size": 3}\n')

    with pytest.raises(CommandError, match=r"heads\.jsonl, line 1"):
        command("--heads-file", str(broken))
    with pytest.raises(CommandError, match="No such file"):
        command("--heads-file", str(tmp_path / "absent.jsonl"))


def test_records_of_a_deleted_site_are_noted_not_failed(logged):
    copy_record(logged[0], logged[-1].pk + 10, site_id=987654)

    out = command("--seal")

    assert "transparency log verified" in out
    assert f"1 records belong to a deleted site (ids [{logged[-1].pk + 10}])" in out
