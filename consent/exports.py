"""Consent-log exports: CSV, or JSON Lines shaped as ISO/IEC TS 27560 consent records.

Files are written to ``CONSENT_EXPORT_DIR`` a chunk of records at a time, each chunk
the next ``CHUNK_SIZE`` ids after the last one written (keyset pagination), so memory
stays flat whether a job holds ten records or ten million, with server-side cursors or
without them (behind PgBouncer in transaction mode there are none, and ``iterator()``
would fetch the whole result at once); ``bench/export_memory`` prints the peak for
1,000,000. An export holds the records that existed when it began: decisions arriving
while it runs do not keep it chasing the end of the table. Records are read from the
replica when there is one (consent.db_routers); each chunk is a short query, which a hot
standby cancels less readily than one long one. A file appears under its final name
only once it is complete (written as ``.part``, then renamed), so a download never
serves half an export. Files hold consent ids: they are created 0600 in a 0700
directory (consent.owner_only).

JSON Lines: one record per line, named after the information fields of ISO/IEC TS
27560:2023 ("Privacy technologies: consent record information structure") in the
snake_case spelling of the W3C DPV guide to it (https://w3id.org/dpv/guides/consent-27560):

===========================  ========================================================
27560 field                  from the ConsentRecord
===========================  ========================================================
schema_version               "ISO/IEC TS 27560:2023", the profile this file follows
record_id                    ``id``
pii_principal_id             ``consent_id``: the random id in the visitor's cookie, a
                             pseudonym, never a name or an account
pii_controller               the Site: ``{"site_key", "name"}``
notice                       what the visitor was shown: ``policy_version``,
                             ``notice_hash`` (SHA-256 of the texts), ``language``,
                             ``url`` (the page, without query string)
purposes                     one entry per category: ``purpose`` (slug),
                             ``lawful_basis`` ("consent", or "necessary" for
                             Required), ``consent_status`` ("given"/"refused")
consent_status               the record as a whole: "given" when any optional purpose
                             is allowed, "refused" when none is, "withdrawn" for a
                             withdrawal
collection_method            how it was expressed: accept_all, reject_all, custom,
                             gpc, dnt, withdraw
signals                      ``{"global_privacy_control", "do_not_track"}`` seen
timestamp                    ``created_at``, ISO 8601 UTC
expiry                       ``expires_at``: when the visitor is asked again
pii_principal_location       ``ip_prefix``: the truncated network, never a full IP
===========================  ========================================================

CSV keeps the ConsentRecord's own column names, with one column per category.
"""

import csv
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import QuerySet

from . import owner_only
from .db_routers import reads_from_replica
from .models import (
    REQUIRED,
    Category,
    ConsentRecord,
    ExportJob,
    JobStatus,
    Method,
    Site,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = "ISO/IEC TS 27560:2023"
JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
CHUNK_SIZE = 2000
FIELDS = (
    "id",  # first: the keyset
    "consent_id",
    "site_id",
    "policy_version",
    "texts_hash",
    "categories",
    "method",
    "gpc",
    "dnt",
    "language",
    "page_url",
    "ip_prefix",
    "created_at",
    "expires_at",
)


def export_dir() -> Path:
    return Path(settings.CONSENT_EXPORT_DIR)


def file_path(job: ExportJob) -> Path | None:
    return export_dir() / job.file_name if job.file_name else None


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def records_for(job: ExportJob) -> QuerySet:
    """The job's records in id order; the date range is in whole UTC days, both ends in."""
    # Erased records hold no consent id and nothing personal: nothing to export.
    records = ConsentRecord.objects.exclude(salt=None)
    if job.site_id:
        records = records.filter(site_id=job.site_id)
    if job.consent_id:
        records = records.filter(consent_id=job.consent_id)
    if job.date_from:
        records = records.filter(created_at__gte=_start_of(job.date_from))
    if job.date_to:
        records = records.filter(created_at__lt=_start_of(job.date_to + timedelta(days=1)))
    return records.order_by("id")


def newest_id() -> int:
    """The id of the newest record, 0 when there is none."""
    return ConsentRecord.objects.order_by("-id").values_list("id", flat=True).first() or 0


def rows_of(job: ExportJob, newest: int) -> Iterator[dict]:
    """The job's records up to id ``newest`` (``newest_id()`` when the export began), in
    id order, fetched ``CHUNK_SIZE`` at a time."""
    records = records_for(job).filter(id__lte=newest).values_list(*FIELDS)
    last = 0
    while True:
        chunk = list(records.filter(id__gt=last)[:CHUNK_SIZE])
        for values in chunk:
            yield dict(zip(FIELDS, values, strict=True))
        if len(chunk) < CHUNK_SIZE:
            return
        last = chunk[-1][0]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def consent_status(row: dict) -> str:
    if row["method"] == Method.WITHDRAW:
        return "withdrawn"
    given = any(v for k, v in row["categories"].items() if k != REQUIRED)
    return "given" if given else "refused"


def as_27560(row: dict, site: dict, order: dict[str, int]) -> dict:
    """One ConsentRecord row as an ISO/IEC TS 27560 consent record (see module docstring).
    Purposes come in the categories' display order (PostgreSQL's jsonb keeps no order)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "record_id": str(row["id"]),
        "pii_principal_id": str(row["consent_id"]),
        "pii_controller": site,
        "notice": {
            "policy_version": row["policy_version"],
            "notice_hash": row["texts_hash"],
            "language": row["language"],
            "url": row["page_url"],
        },
        "purposes": [
            {
                "purpose": slug,
                "lawful_basis": "necessary" if slug == REQUIRED else "consent",
                "consent_status": "given" if allowed else "refused",
            }
            for slug, allowed in sorted(
                row["categories"].items(), key=lambda item: order.get(item[0], len(order))
            )
        ],
        "consent_status": consent_status(row),
        "collection_method": row["method"],
        "signals": {"global_privacy_control": row["gpc"], "do_not_track": row["dnt"]},
        "timestamp": _iso(row["created_at"]),
        "expiry": _iso(row["expires_at"]),
        "pii_principal_location": row["ip_prefix"],
    }


def _write_jsonl(job: ExportJob, newest: int, out) -> int:
    sites = {
        pk: {"site_key": key, "name": name}
        for pk, key, name in Site.objects.values_list("pk", "key", "name")
    }
    order = {slug: i for i, slug in enumerate(Category.objects.values_list("slug", flat=True))}
    count = 0
    for row in rows_of(job, newest):
        out.write(JSON.encode(as_27560(row, sites[row["site_id"]], order)) + "\n")
        count += 1
    return count


def _write_csv(job: ExportJob, newest: int, out) -> int:
    sites = dict(Site.objects.values_list("pk", "key"))
    slugs = list(Category.objects.filter(required=False).values_list("slug", flat=True))
    writer = csv.writer(out)
    writer.writerow(
        [
            *("record_id", "consent_id", "site", "policy_version", "texts_hash", "method"),
            *slugs,
            *("gpc", "dnt", "language", "page_url", "ip_prefix", "created_at", "expires_at"),
        ]
    )
    count = 0
    for row in rows_of(job, newest):
        choices = row["categories"]
        writer.writerow(
            [
                row["id"],
                row["consent_id"],
                sites[row["site_id"]],
                row["policy_version"],
                row["texts_hash"],
                row["method"],
                *(_flag(choices.get(slug)) for slug in slugs),
                _flag(row["gpc"]),
                _flag(row["dnt"]),
                row["language"],
                row["page_url"],
                row["ip_prefix"],
                _iso(row["created_at"]),
                _iso(row["expires_at"]),
            ]
        )
        count += 1
    return count


def _flag(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def write(job: ExportJob) -> tuple[str, int, int]:
    """Write the job's file; returns (file name, rows, bytes)."""
    directory = owner_only.directory(export_dir())
    name = f"consent-export-{job.pk}.{job.format}"
    partial = directory / f"{name}.part"
    writer = _write_jsonl if job.format == ExportJob.Format.JSONL else _write_csv
    with (
        reads_from_replica(),
        owner_only.open_for_writing(partial, "w", encoding="utf-8", newline="") as out,
    ):
        # Taken before the sites are read: a record that existed by then has its site.
        newest = newest_id()
        rows = writer(job, newest, out)
    os.replace(partial, directory / name)
    return name, rows, (directory / name).stat().st_size


def run(job_id: int) -> ExportJob:
    """Run an export job. Idempotent: a job that is done keeps its file; any other state
    (a worker killed mid-write included) writes the whole file again."""
    job = ExportJob.objects.get(pk=job_id)
    path = file_path(job)
    if job.status == JobStatus.DONE and path is not None and path.exists():
        return job
    with job.running():
        name, rows, size = write(job)
    job.finish(file_name=name, row_count=rows, size_bytes=size)
    log.info("export %s: %d records, %d bytes", job.pk, rows, size)
    return job
