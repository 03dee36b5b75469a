"""Exports read their records by keyset, a chunk at a time, up to the newest record
when they began: memory stays flat with or without server-side cursors."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent import exports
from consent.models import ExportJob
from tests.ops import decide

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def small_chunks(settings, tmp_path, monkeypatch):
    settings.CONSENT_EXPORT_DIR = tmp_path / "exports"
    monkeypatch.setattr(exports, "CHUNK_SIZE", 2)


def test_each_chunk_starts_after_the_last_id_written(site):
    made = [decide(START + timedelta(hours=i)) for i in range(5)]
    job = ExportJob.objects.create(site=site)

    with CaptureQueriesContext(connection) as queries:
        job = exports.run(job.pk)

    rows = list(csv.DictReader(io.StringIO(exports.file_path(job).read_text())))
    assert [r["record_id"] for r in rows] == [str(r.pk) for r in made]
    chunks = [
        q["sql"] for q in queries if "consent_consentrecord" in q["sql"] and "LIMIT 2" in q["sql"]
    ]
    assert len(chunks) == 3
    assert f'"id" > {made[1].pk}' in chunks[1]
    assert f'"id" > {made[3].pk}' in chunks[2]


def test_records_written_after_the_export_began_are_left_for_the_next_one(site):
    before = [decide(START + timedelta(hours=i)) for i in range(3)]
    newest = exports.newest_id()
    decide(START + timedelta(hours=4))
    job = ExportJob.objects.create(site=site)

    exported = [row["id"] for row in exports.rows_of(job, newest)]

    assert exported == [r.pk for r in before]
