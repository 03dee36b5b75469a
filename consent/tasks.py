"""Periodic and background work, run by Celery workers (eagerly in the embedded mode).

Every task is idempotent and acknowledged late, so a worker killed mid-task loses
nothing: the broker hands the task to another worker and running it twice changes nothing
more than running it once.
"""

import logging
from datetime import date

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from . import audit, exports, partitions, records, scanner, stats
from .models import Site
from .transparency import anchors
from .transparency import log as transparency_log

log = logging.getLogger(__name__)

RETRY = {
    "autoretry_for": (DatabaseError, ConnectionError),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "max_retries": 8,
    "acks_late": True,
}


@shared_task(**RETRY)
def seal_audit_log() -> int:
    """Append new consent records and audit events to the transparency log, and sign a
    head for them."""
    sealed = transparency_log.seal()
    if sealed.leaves:
        log.info("sealed %d rows into the transparency log", sealed.leaves)
    return sealed.leaves


@shared_task(
    autoretry_for=anchors.SINK_ERRORS,
    retry_backoff=2,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=20,
    acks_late=True,
)
def publish_head(head: dict) -> int:
    """POST a signed tree head to CONSENT_LOG_HEADS_URL; retried 20 times with
    exponential back-off (about 2 s, 4 s, ..., then every 10 minutes) while the sink is
    away. Sent only
    through a broker: in eager mode consent.transparency.anchors delivers heads from a
    background thread instead, since an eager retry would run again at once, inside the
    sealer. Returns the HTTP status."""
    return anchors.post(settings.CONSENT_LOG_HEADS_URL, head)


@shared_task(**RETRY)
def purge_expired_records() -> int:
    """Retention: delete every site's records older than its retention period.

    ``records.purge_expired`` shreds in short batches, each with an AuditEvent (the leaves
    stay in the log); one "retention" event per site then says how many in all. A second
    run finds nothing left to shred and writes nothing.
    """
    now = timezone.now()
    total = 0
    # Whole months first, where the table is partitioned; then what is left row by row
    # (sites that keep records for less than the longest retention, SQLite).
    dropped = records.purge_partitions(now=now)
    for site in Site.objects.all():
        removed = dropped.get(site.key, 0) + records.purge_expired(site, now=now)
        if removed:
            audit.log_event(
                "retention",
                object_type="consent.ConsentRecord",
                object_repr=f"{removed} records older than {site.retention_days} days",
                site_key=site.key,
                data={"count": removed, "retention_days": site.retention_days},
            )
            log.info("retention: %d records of %s deleted", removed, site.key)
        total += removed
    return total


@shared_task(**RETRY)
def maintain_partitions() -> int:
    """pg_partman's maintenance of the monthly record partitions (the months ahead; rows
    that landed in the default partition moved out). Nothing to do elsewhere."""
    return partitions.maintain()


@shared_task(**RETRY)
def export_records(job_id: int) -> int:
    """Write one requested export; returns the number of records in it."""
    return exports.run(job_id).row_count


@shared_task(**RETRY)
def aggregate_daily_stats(days: int = 2, today: str | None = None) -> int:
    """Recompute the last ``days`` days of statistics (yesterday too, for late records)."""
    return stats.aggregate_recent(days, date.fromisoformat(today) if today else None)


# The scan's time limit holds under every pool: consent.scanner kills the browser's process
# at CONSENT_SCANNER_TIME_LIMIT. Celery's own limits (prefork only) are a last resort.
@shared_task(
    bind=True,
    **RETRY,
    soft_time_limit=settings.CONSENT_SCANNER_TIME_LIMIT + 60,
    time_limit=settings.CONSENT_SCANNER_TIME_LIMIT + 120,
)
def scan_cookies(self, scan_id: int) -> int | None:
    """Run one cookie scan; returns the number of findings.

    Without a worker (eager mode) the scan must still not run in the request that asked
    for it: a background runner takes the pending scans, and this returns at once."""
    if self.request.is_eager:
        scanner.start_in_background()
        return None
    return scanner.run(scan_id).findings.count()
