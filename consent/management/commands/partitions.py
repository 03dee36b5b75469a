"""The monthly partitions of consent records (PostgreSQL with pg_partman)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from consent import partitions


class Command(BaseCommand):
    help = (
        "List the monthly partitions of consent records, run pg_partman's maintenance "
        "(--maintain) or turn an unpartitioned table into a partitioned one (--convert)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--maintain", action="store_true", help="make the months ahead")
        parser.add_argument(
            "--convert",
            action="store_true",
            help="partition a table left unpartitioned (rows are copied: plan for it)",
        )

    def handle(self, *args, maintain=False, convert=False, **options):
        if convert:
            if not partitions.available():
                raise CommandError("This database cannot partition: PostgreSQL with pg_partman")
            with transaction.atomic():
                done = partitions.partition()
            self.stdout.write("partitioned" if done else "already partitioned")
        if not partitions.is_partitioned():
            self.stdout.write("consent records are one table (not partitioned)")
            return
        if maintain:
            moved = partitions.maintain()
            self.stdout.write(f"maintenance done; {moved} rows moved out of the default partition")
        for partition in partitions.partitions():
            self.stdout.write(
                f"{partition.name}  {partition.start:%Y-%m-%d} .. {partition.end:%Y-%m-%d}"
            )
