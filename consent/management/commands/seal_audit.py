"""Seal new records and events into the audit chain now (beat does it every minute)."""

from django.core.management.base import BaseCommand

from consent import chain


class Command(BaseCommand):
    help = "Seal consent records and audit events that are not sealed yet."

    def handle(self, *args, **options):
        self.stdout.write(f"sealed {chain.seal()} rows")
