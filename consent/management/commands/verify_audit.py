"""Verify the transparency log against every stored row, and against heads kept outside
the database; exit non-zero naming the first problem (consent.transparency.verify)."""

import base64
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from consent.models import ConsentRecord, Site
from consent.transparency import log, verify


def expected_head(text: str) -> tuple[int, bytes]:
    try:
        return verify.parse_expected(text)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


class Command(BaseCommand):
    help = "Verify the transparency log over consent records and audit events."

    def add_arguments(self, parser):
        parser.add_argument(
            "--seal", action="store_true", help="Seal rows not in the log yet before verifying."
        )
        parser.add_argument(
            "--expect-head",
            action="append",
            default=[],
            metavar="SIZE:ROOT",
            help="A head kept outside the database (root in base64 or hex): today's log "
            "must extend it. May be given more than once.",
        )
        parser.add_argument(
            "--heads-file",
            type=Path,
            help="A file of signed heads kept outside the database, one JSON object a "
            "line (CONSENT_LOG_HEADS_FILE): each must be ours and extended by today's log.",
        )

    def handle(self, *args, seal, expect_head, heads_file, **options):
        expected = [expected_head(text) for text in expect_head]
        if seal:
            log.seal()
        try:
            report = verify.verify(expected, heads_file)
        except (OSError, ValueError) as exc:  # an unreadable heads file
            raise CommandError(str(exc)) from exc
        if report.finding is not None:
            raise CommandError(f"transparency log does not verify: {report.finding}")
        self.stdout.write(
            f"transparency log verified: {report.leaves} leaves, {report.rows} rows checked "
            f"({report.erased} erased), {report.purged} purged with their month, "
            f"{report.heads} signed heads"
            + (f", {len(expected)} expected heads" if expected else "")
            + (", the heads file" if heads_file else "")
        )
        if report.latest is not None:
            head = log.signed(report.latest)
            self.stdout.write(
                f"latest head: size {head.tree_size}, root "
                f"{base64.b64encode(head.root_hash).decode()}, "
                f"time {verify.format_time(head.timestamp)}"
            )
        if report.unsealed:
            self.stdout.write(f"{report.unsealed} rows not sealed yet")
        # Records keep no database foreign key to their site (ConsentRecord.site): a
        # site deleted while a decision for it was in flight leaves that record behind.
        orphans = ConsentRecord.objects.exclude(site_id__in=Site.objects.values("id"))
        count = orphans.count()
        if count:
            ids = list(orphans.order_by("id").values_list("id", flat=True)[:20])
            self.stdout.write(
                f"note: {count} records belong to a deleted site (ids {ids}"
                + (" ..." if count > len(ids) else "")
                + "); their visitors can still see and erase them"
            )
