"""Run the retention purge by hand: what the daily Celery task does, in this process."""

from django.core.management.base import BaseCommand

from consent.tasks import purge_expired_records


class Command(BaseCommand):
    help = "Delete consent records older than each site's retention period (batched, audited)."

    def handle(self, *args, **options):
        removed = purge_expired_records()
        self.stdout.write(f"{removed} expired consent records deleted.")
