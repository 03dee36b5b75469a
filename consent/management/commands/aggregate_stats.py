"""Recompute the daily statistics by hand, e.g. to backfill after an import."""

from django.core.management.base import BaseCommand

from consent.tasks import aggregate_daily_stats


class Command(BaseCommand):
    help = "Recompute the daily consent statistics of the last N days (UTC) for every site."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=2, help="How many days back (default 2).")

    def handle(self, *args, days, **options):
        rows = aggregate_daily_stats(days=days)
        self.stdout.write(f"{rows} daily statistics rows recomputed over {days} days.")
