"""Writing, erasing and purging consent records: the only paths by which rows come and go."""

import ipaddress
import logging
import re
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from . import audit, groupcommit, partitions
from .bundles import SiteBundle
from .models import REQUIRED, ConsentRecord, Method, Site
from .regions import Region
from .rules import Signals, is_allowed
from .transparency import log

logger = logging.getLogger(__name__)

# How long after a decision the banner's resend of it is still recognised (it resends on
# the next page view, so in practice within seconds or days).
RESEND_WINDOW = timedelta(days=60)

OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = re.compile(rf"{OCTET}\.{OCTET}\.{OCTET}\.{OCTET}")


def truncate_ip(address: str, ipv4_prefix: int = 24, ipv6_prefix: int = 48) -> str:
    """Keep only the network, so a record never holds a full address: by default IPv4 /24
    and IPv6 /48, as records store it (the throttles count per /24 and /64). "" for
    anything that is no address."""
    plain = IPV4.fullmatch(address)
    if plain and ipv4_prefix == 24:  # the common case, without ipaddress's objects
        return f"{plain[1]}.{plain[2]}.{plain[3]}.0/24"
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return ""
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    prefix = ipv4_prefix if ip.version == 4 else ipv6_prefix
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def strip_query(url: str) -> str:
    """The page without query string or fragment: those often carry personal data."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))[:500]


def effective_choices(
    bundle: SiteBundle, asked: dict[str, bool], signals: Signals
) -> dict[str, bool]:
    """What is stored: the visitor's answer per category, with opt-out signals applied."""
    return {slug: is_allowed(slug, asked, signals) for slug in bundle.optional_categories} | {
        REQUIRED: True
    }


def record_consent(
    bundle: SiteBundle,
    *,
    categories: dict[str, bool],
    policy_version: int,
    method: str,
    signals: Signals,
    consent_id: uuid.UUID | None = None,
    language: str = "",
    page_url: str = "",
    ip: str = "",
    now: datetime | None = None,
    decision_id: uuid.UUID | None = None,
    resent: bool = False,
    region: Region = Region(),  # noqa: B008 (frozen)
) -> tuple[ConsentRecord, bool]:
    """Store one decision: (the record, True). A decision the browser resends (its
    answer was lost on the way back) is not stored twice: (the record already made,
    False).

    The banner says when it resends, and only then is the record looked for: one index
    probe of the months RESEND_WINDOW spans, and none for the first send of every
    decision. (No unique constraint can do it: the table is partitioned by month on
    PostgreSQL.) A resend later than RESEND_WINDOW, or one racing its own first send,
    is stored as a second record of the same decision: never one lost."""
    choices = effective_choices(bundle, categories, signals)
    # The visitor clicked for something the signal then refused: the signal wins, and
    # the record says the two disagreed.
    conflict = signals.opt_out and any(categories.get(slug) for slug in bundle.optional_categories)
    privacy_model, _ = bundle.privacy_model_for(region)
    if signals.method is not None and not Method(method).is_signal:
        # The stored method says why everything optional is off.
        method = signals.method
    now = now or timezone.now()
    any_allowed = any(v for k, v in choices.items() if k != REQUIRED)
    days = bundle.consent_days if any_allowed else bundle.refusal_days
    language_shown = bundle.language_shown(language or bundle.default_language)
    record = ConsentRecord(
        consent_id=consent_id or uuid.uuid4(),
        site_id=bundle.site_id,
        policy_version=policy_version,
        texts_hash=bundle.hash_for_language(language_shown),
        categories=choices,
        method=method,
        gpc=signals.gpc,
        dnt=signals.dnt,
        language=language[:16],
        page_url=strip_query(page_url),
        ip_prefix=truncate_ip(ip),
        created_at=now,
        expires_at=now + timedelta(days=days),
        decision_id=decision_id,
        region=region.code,
        privacy_model=privacy_model,
        signal_conflict=conflict,
    )
    if resent and decision_id is not None:
        existing = ConsentRecord.objects.filter(
            consent_id=record.consent_id,
            decision_id=decision_id,
            site_id=bundle.site_id,
            created_at__gte=now - RESEND_WINDOW,
        ).first()
        if existing is not None:
            return existing, False
    groupcommit.store(record)
    return record, True


def receipt(
    record: ConsentRecord, site_key: str, proof: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What a visitor gets back for a record of the site ``site_key``: what was
    recorded, and ``proof`` (None until the sealer has put it in a signed head). Made
    from the record alone: a database lost right after the INSERT must not turn a stored
    decision into a 503, which the banner would then send again. The API's schema
    describes it (consent.api.serializers.ReceiptSerializer)."""
    return {
        "consent_id": log.json_value(record.consent_id),
        "record_id": record.id,
        "site": site_key,
        "site_id": record.site_id,
        "created_at": log.json_value(record.created_at),
        "expires_at": log.json_value(record.expires_at),
        "categories": record.categories,
        "policy_version": record.policy_version,
        "texts_hash": record.texts_hash,
        "method": record.method,
        "gpc": record.gpc,
        "dnt": record.dnt,
        "language": record.language,
        "page_url": record.page_url,
        "region": record.region,
        "privacy_model": record.privacy_model,
        "signal_conflict": record.signal_conflict,
        "proof": proof,
    }


def encode_ranges(ids: list[int]) -> str:
    """[1, 2, 3, 7] -> "1-3,7": compact enough to name a million rows."""
    return format_runs(log.runs_of(ids))


def format_runs(runs) -> str:
    """[(1, 3), (7, 7)] -> "1-3,7", the form verify_audit reads."""
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


# What erasure leaves of a record in the log: its leaf, and nothing that ties it to a
# browser, a network or a page. Without its salt the leaf can no longer be recomputed,
# so nobody can confirm a guess of what it held (crypto-shredding).
SHREDDED = {
    "consent_id": None,
    "decision_id": None,
    "salt": None,
    "ip_prefix": "",
    "page_url": "",
    "language": "",
}


def _shred(rows) -> list[int]:
    """Erase ``rows`` (a ConsentRecord queryset), under the log's lock: those in the log
    are shredded and keep their leaf; those not in it yet were never logged and go.
    Returns the leaf indexes kept."""
    log.lock()
    rows.filter(leaf_index=None)._sanctioned_delete()
    leaves = list(rows.values_list("leaf_index", flat=True))
    rows._sanctioned_update(**SHREDDED)
    return leaves


def erase(
    consent_id: uuid.UUID, *, actor: str | None = None, requester: dict[str, str] | None = None
) -> int:
    """Right to erasure: every record of one browser is shredded.

    The AuditEvent left behind holds the count and the leaves shredded, never the consent
    id. ``actor`` names who erased (a staff user's username; default: whoever
    ``audit.acting_as`` names). ``requester`` is what is known of who asked, kept in the
    event's data: for the public API the network prefix records store (``truncate_ip``),
    nothing more personal than that."""
    with transaction.atomic():
        rows = ConsentRecord.objects.filter(consent_id=consent_id)
        # Without a join to the site: a record whose site is gone is erased and
        # accounted for like any other.
        found = list(rows.values_list("id", "site_id"))
        if not found:
            return 0
        by_site: dict[int, list[int]] = {}
        for row_id, site_id in found:
            by_site.setdefault(site_id, []).append(row_id)
        keys = dict(Site.objects.filter(pk__in=by_site).values_list("pk", "key"))
        # One event per site, so that each site's staff (who see their sites' events
        # only) can tell that records of theirs were erased.
        for site_id, ids in by_site.items():
            leaves = _shred(ConsentRecord.objects.filter(pk__in=ids))
            data = {"count": len(ids), "leaves": encode_ranges(leaves)}
            if requester:
                data["requester"] = requester
            audit.log_event(
                "erase",
                actor=actor,
                object_type="consent.ConsentRecord",
                object_repr=f"{len(ids)} records of one visitor",
                site_key=keys.get(site_id, ""),
                data=data,
            )
        _forget_exports_of(consent_id)
    return len(found)


def _forget_exports_of(consent_id: uuid.UUID) -> None:
    """Exports made for this visitor alone (access, portability) hold their consent id and
    decisions: the jobs go with the erasure, and their files once it commits."""
    from .exports import file_path
    from .models import ExportJob

    jobs = list(ExportJob.objects.filter(consent_id=consent_id))
    paths = [path for path in map(file_path, jobs) if path is not None]
    ExportJob.objects.filter(pk__in=[job.pk for job in jobs]).delete()

    def remove_files() -> None:
        for path in paths:
            path.unlink(missing_ok=True)

    transaction.on_commit(remove_files)


def purge_expired(site, now: datetime | None = None, batch: int = 5000) -> int:
    """Retention: shred the site's records older than its retention period (their leaves
    stay in the log), one short transaction per batch so the table is never locked for
    long."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=site.retention_days)
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                ConsentRecord.objects.filter(site=site, created_at__lt=cutoff)
                .exclude(salt=None)
                .order_by("id")
                .values_list("id", flat=True)[:batch]
            )
            if not ids:
                break
            # The time bound keeps PostgreSQL to the months before the cutoff, instead of
            # looking for each id in every month's partition.
            leaves = _shred(ConsentRecord.objects.filter(id__in=ids, created_at__lt=cutoff))
            audit.log_event(
                "purge",
                object_type="consent.ConsentRecord",
                object_repr=f"{len(ids)} records older than {site.retention_days} days",
                site_key=site.key,
                data={
                    "count": len(ids),
                    "leaves": encode_ranges(leaves),
                    "cutoff": cutoff.isoformat(),
                },
            )
        total += len(ids)
        if len(ids) < batch:
            break
    return total


def purge_partitions(now: datetime | None = None) -> dict[str, int]:
    """Retention a month at a time (PostgreSQL with pg_partman): every partition that holds
    nothing newer than the longest retention of any site leaves the records table in one
    transaction with the "purge" event that names its leaves (the tree keeps them;
    verify_audit accepts their rows' absence only from such an event, for leaves logged
    before its cutoff), and is dropped right after. Returns the records dropped per site
    key; {} where the table is not partitioned, and for months the sealer has not
    finished (nothing is dropped that is not in the log).

    What the event names comes from the sealer's summary of each month (SealedMonth,
    SealedRun): a few rows per site and per run of leaves, not a scan of the month. Where
    the summary does not span the month's leaves (months sealed before it existed), the
    month's rows are read instead. The summary is never trusted: a wrong one names leaves
    that verify_audit then finds missing, or excuses none it would not excuse anyway."""
    if not partitions.is_partitioned():
        return {}
    longest = Site.objects.aggregate(days=Max("retention_days"))["days"]
    if longest is None:
        return {}
    now = now or timezone.now()
    cutoff = now - timedelta(days=longest)
    partitions.drop_detached()  # what an interrupted purge left
    try:
        by_site = _purge_months(cutoff, longest)
    except partitions.TableBusy as exc:
        logger.warning("retention purge: records table busy, next run tries again (%s)", exc)
        return {}
    partitions.drop_detached()
    return by_site


def _purge_months(cutoff: datetime, longest: int) -> dict[str, int]:
    """purge_partitions' transaction: the event and the detach, or neither."""
    with transaction.atomic():
        log.lock()
        gone = partitions.expired(cutoff)
        if not gone or partitions.unsealed(gone):
            return {}
        counted, runs = _contents(gone)
        keys = dict(Site.objects.filter(pk__in=counted).values_list("pk", "key"))
        by_site = {keys.get(site_id, str(site_id)): total for site_id, total in counted.items()}
        count = sum(by_site.values())
        if count:
            audit.log_event(
                "purge",
                object_type="consent.ConsentRecord",
                object_repr=f"{count} records of {len(gone)} months before {cutoff:%Y-%m-%d}",
                data={
                    "count": count,
                    "leaves": format_runs(runs),
                    "cutoff": cutoff.isoformat(),
                    "retention_days": longest,
                    "partitions": [partition.name for partition in gone],
                    "sites": by_site,
                },
            )
        partitions.detach(gone)
        log.forget_months(partitions.months(gone) or [])
    return by_site


def _contents(gone: list[partitions.Partition]) -> tuple[dict[int, int], list[tuple[int, int]]]:
    """Records per site id and runs of leaves of the months ``gone``: the sealer's summary
    where its first and last leaf are the months' own and its counts add up to its runs
    (two index probes per month), else the months' rows."""
    months = partitions.months(gone)
    if months is not None:
        counted, runs = log.sealed_in(months)
        spans = (runs[0][0], runs[-1][1]) if runs else None
        if spans == partitions.leaf_bounds(gone) and sum(counted.values()) == sum(
            last - first + 1 for first, last in runs
        ):
            return counted, runs
    return partitions.contents(gone)
