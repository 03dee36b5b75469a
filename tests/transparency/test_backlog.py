"""The sealer against a backlog of several batches: every row sealed once, each kind in id
order, across month partitions (on PostgreSQL with pg_partman), over gaps in the ids wider
than a batch, and with a row whose time is earlier than rows of lower id.

(How fast: bench/records_at_scale/backlog.py, never a timed assertion here.)"""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from consent import audit, partitions, records
from consent.models import AuditEvent, TreeHead
from consent.transparency import log, merkle, verify
from tests.ops import decide
from tests.transparency.test_log import logged_rows, stored_leaves

pytestmark = pytest.mark.django_db

BATCH = 3


def test_a_backlog_over_two_months_and_wide_gaps_is_sealed_whole_in_id_order(site):
    now = timezone.now()
    this_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = this_month - timedelta(days=20)
    partitions.cover(last_month, now)  # where records are partitioned: both months
    log.seal()  # the site's own audit events: the backlog below is records, then events
    made = [decide(last_month + timedelta(hours=i)) for i in range(2)]
    # Ids that will never be sealed (a visitor erased before the sealer ran): a gap of
    # several batches after the first two, so the first window of ids holds fewer rows
    # than a batch.
    visitor = uuid.uuid4()
    for _ in range(4 * BATCH):
        decide(last_month + timedelta(hours=3), consent_id=visitor)
    assert records.erase(visitor) == 4 * BATCH
    made += [decide(now - timedelta(seconds=60 - i)) for i in range(5)]
    # A higher id with an earlier time than the rows before it (a late commit, within
    # verify's grace): sealed in its place in id order, in a batch with them.
    made.append(decide(now - timedelta(seconds=90)))
    for i in range(2):
        audit.log_event("note", object_type="test", data={"i": i})
    events = list(AuditEvent.objects.filter(leaf_index=None))
    waiting = log.unsealed_count()
    size = log.latest_head().tree_size
    assert waiting == len(made) + len(events)

    sealed = log.seal(batch=BATCH)

    assert sealed.leaves == waiting
    assert log.unsealed_count() == 0
    rows = logged_rows()
    assert [row.leaf_index for _, row in rows] == list(range(size + waiting))
    new = rows[size:]
    # Merged by time: every record is older than every event.
    assert [kind for kind, _ in new] == ["consent"] * len(made) + ["audit"] * len(events)
    assert [row.pk for kind, row in new if kind == "consent"] == sorted(r.pk for r in made)
    assert [row.pk for kind, row in new if kind == "audit"] == sorted(e.pk for e in events)
    heads = [h.tree_size for h in TreeHead.objects.filter(tree_size__gt=size)]
    assert sorted(heads) == [*range(size + BATCH, size + waiting, BATCH), size + waiting]
    leaves = stored_leaves()
    for index, (kind, row) in enumerate(rows):
        assert leaves[32 * index : 32 * (index + 1)] == merkle.leaf_hash(log.leaf_input(kind, row))
    assert verify.verify().finding is None
