"""Retention, exports and a cookie scan through a real Celery worker and a real
redis-server, the way production runs them."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from consent import exports
from consent.bundles import get_bundle
from consent.models import (
    AuditEvent,
    Category,
    ConsentRecord,
    CookieScan,
    ExportJob,
    JobStatus,
    Vendor,
)
from consent.transparency import log, verify
from tests.fixtures import leaky_site
from tests.harness import database_url_for_workers, start_celery_worker
from tests.ops import decide

# serialized_rollback: a transactional test empties every table afterwards, the
# categories and roles the migrations made included; this puts them back.
pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def worker(redis_server, transactional_db, tmp_path, settings):
    """A worker that writes exports where this test reads them."""
    settings.CONSENT_EXPORT_DIR = tmp_path / "exports"
    started = start_celery_worker(
        redis_server.url,
        database_url_for_workers(),
        tmp_path / "worker.log",
        {"CONSENT_EXPORT_DIR": str(settings.CONSENT_EXPORT_DIR)},
    )
    yield started
    started.kill()


def wait_for(condition, worker, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, worker.output()
        time.sleep(0.2)


def test_a_real_worker_purges_expired_records_and_the_log_verifies(site, worker):
    site.retention_days = 30
    site.save()
    now = timezone.now()
    sealed = decide(now - timedelta(days=31))
    log.seal()
    for days in (40, 400):
        decide(now - timedelta(days=days))
    kept = decide(now)

    worker.client().send_task("consent.tasks.purge_expired_records")
    wait_for(lambda: AuditEvent.objects.filter(action="retention").exists(), worker)

    # The record already in the log is shredded and keeps its leaf; the two not yet in it
    # are gone.
    assert list(ConsentRecord.objects.order_by("pk").values_list("pk", flat=True)) == [
        sealed.pk,
        kept.pk,
    ]
    assert ConsentRecord.objects.get(pk=sealed.pk).salt is None
    assert AuditEvent.objects.get(action="retention").data["count"] == 3
    log.seal()
    report = verify.verify()
    assert report.finding is None and report.erased == 1


def test_a_real_worker_writes_an_export_once_however_often_it_is_sent(site, worker):
    now = timezone.now()
    for _ in range(25):
        decide(now)
    job = ExportJob.objects.create(site=site, format=ExportJob.Format.JSONL)

    client = worker.client()
    client.send_task("consent.tasks.export_records", args=[job.pk])
    client.send_task("consent.tasks.export_records", args=[job.pk])
    wait_for(lambda: worker.output().count("succeeded") >= 2, worker)

    job.refresh_from_db()
    assert (job.status, job.row_count) == (JobStatus.DONE, 25)
    path = exports.file_path(job)
    assert len(path.read_text().splitlines()) == 25
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.fixture
def leaky(site):
    served = leaky_site.start(get_bundle("demo").script)
    site.allowed_origins += f"\n{served.shop}"
    site.save()
    Vendor.objects.create(
        site=site,
        name="Leaky ads",
        category=Category.objects.get(slug="advertising"),
        hosts=served.ads_host,
    )
    yield served
    served.stop()


def test_a_real_worker_scans_the_leaky_shop(site, leaky, redis_server, tmp_path, request):
    # The shop is on loopback: the scanner's browser may reach exactly its three servers.
    worker = start_celery_worker(
        redis_server.url,
        database_url_for_workers(),
        tmp_path / "worker.log",
        {"CONSENT_SCANNER_ALLOWED_NETWORKS": ",".join(leaky.allowed_networks)},
    )
    request.addfinalizer(worker.kill)
    scan = CookieScan.objects.create(site=site, urls=leaky.shop + "/")

    worker.client().send_task("consent.tasks.scan_cookies", args=[scan.pk])
    wait_for(
        lambda: CookieScan.objects.get(pk=scan.pk).status in (JobStatus.DONE, JobStatus.FAILED),
        worker,
    )

    scan.refresh_from_db()
    assert scan.status == JobStatus.DONE, scan.error
    assert scan.findings.filter(phase="before", kind="cookie", name="_ga").exists()
    assert scan.findings.filter(phase="before", kind="request", name=leaky.tracker_host).exists()
    assert scan.findings.filter(phase="after", kind="cookie", name="_fbp").exists(), (
        scan.error,
        list(scan.findings.values_list("phase", "name")),
    )
    assert ConsentRecord.objects.count() == 0
