"""Periodic and background work, run by Celery workers (eagerly in the embedded mode).

Every task is idempotent and acknowledged late, so a worker killed mid-task loses
nothing: the broker hands the task to another worker and running it twice changes nothing
more than running it once.
"""

import logging

from celery import shared_task
from django.db import DatabaseError

from . import chain

log = logging.getLogger(__name__)

RETRY = {"autoretry_for": (DatabaseError, ConnectionError), "retry_backoff": True,
         "retry_backoff_max": 300, "max_retries": 8, "acks_late": True}


@shared_task(**RETRY)
def seal_audit_chain() -> int:
    """Seal new consent records and audit events into the hash chain."""
    sealed = chain.seal()
    if sealed:
        log.info("sealed %d rows into the audit chain", sealed)
    return sealed
