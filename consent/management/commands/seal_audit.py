"""Seal new records and events into the transparency log and sign a head, now or (with
--follow) every few seconds for ever: what beat does in production, for the embedded
default."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from consent.transparency import log


class Command(BaseCommand):
    help = "Append consent records and audit events to the transparency log; sign a head."

    def add_arguments(self, parser):
        parser.add_argument(
            "--follow",
            action="store_true",
            help="Keep sealing every CONSENT_LOG_SEAL_SECONDS until stopped.",
        )

    def handle(self, *args, follow, **options):
        while True:
            sealed = log.seal()
            if sealed.leaves or not follow:
                size = sealed.head.tree_size if sealed.head else None
                self.stdout.write(
                    f"sealed {sealed.leaves} rows" + (f"; tree size {size}" if size else "")
                )
            if not follow:
                return
            time.sleep(settings.CONSENT_LOG_SEAL_SECONDS)
