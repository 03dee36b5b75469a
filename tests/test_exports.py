"""Consent-log exports: requested in the admin, written by a task, downloaded by staff."""

import csv
import io
import json
import uuid
from datetime import UTC, date, datetime

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from consent import exports
from consent.models import AuditEvent, ExportJob, JobStatus
from consent.rules import Signals
from consent.tasks import export_records
from tests.ops import decide

pytestmark = pytest.mark.django_db
VISITOR = uuid.UUID("5a1e0c6e-0d7b-4b43-9a43-0c7d1f0b2f11")


@pytest.fixture
def privacy_client(site) -> Client:
    """Exports hold consent ids: the privacy role requests them (granted the demo site)."""
    user = User.objects.create_user("privacy", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Privacy"))
    site.staff.add(user)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.CONSENT_EXPORT_DIR = tmp_path / "exports"
    return settings.CONSENT_EXPORT_DIR


@pytest.fixture
def decisions(site):
    """Three days of decisions: 1 March, 2 March (two, one of them VISITOR's), 3 March."""
    return [
        decide(datetime(2026, 3, 1, 23, 59, tzinfo=UTC), method="accept_all", advertising=True),
        decide(datetime(2026, 3, 2, 0, 0, tzinfo=UTC), consent_id=VISITOR),
        decide(
            datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
            method="gpc",
            functional=False,
            signals=Signals(gpc=True),
        ),
        decide(datetime(2026, 3, 3, 8, 0, tzinfo=UTC), method="reject_all", functional=False),
    ]


def run(**filters) -> ExportJob:
    job = ExportJob.objects.create(**filters)
    export_records.delay(job.pk)
    job.refresh_from_db()
    return job


def read(job: ExportJob) -> str:
    return exports.file_path(job).read_text(encoding="utf-8")


def test_csv_has_one_row_per_record_with_a_column_per_category(site, decisions):
    job = run(site=site)

    assert job.status == JobStatus.DONE
    assert job.row_count == 4
    rows = list(csv.DictReader(io.StringIO(read(job))))
    assert list(rows[0]) == [
        "record_id",
        "consent_id",
        "site",
        "policy_version",
        "texts_hash",
        "method",
        "functional",
        "advertising",
        "gpc",
        "dnt",
        "language",
        "page_url",
        "ip_prefix",
        "created_at",
        "expires_at",
    ]
    first = rows[0]
    assert first["record_id"] == str(decisions[0].pk)
    assert first["site"] == "demo"
    assert (first["method"], first["functional"], first["advertising"]) == (
        "accept_all",
        "true",
        "true",
    )
    assert first["created_at"] == "2026-03-01T23:59:00Z"
    assert first["page_url"] == "https://shop.example/cart"
    assert first["ip_prefix"] == "203.0.113.0/24"
    assert [r["gpc"] for r in rows] == ["false", "false", "true", "false"]


def test_the_date_range_includes_both_whole_utc_days(site, decisions):
    job = run(site=site, date_from=date(2026, 3, 2), date_to=date(2026, 3, 2))

    rows = list(csv.DictReader(io.StringIO(read(job))))
    assert [r["record_id"] for r in rows] == [str(decisions[1].pk), str(decisions[2].pk)]


def test_a_consent_id_filter_exports_one_browsers_records(site, decisions):
    job = run(consent_id=VISITOR)

    rows = list(csv.DictReader(io.StringIO(read(job))))
    assert [r["consent_id"] for r in rows] == [str(VISITOR)]


def test_json_lines_use_iso_27560_field_names(site, decisions):
    job = run(site=site, format=ExportJob.Format.JSONL)

    lines = read(job).splitlines()
    assert len(lines) == job.row_count == 4
    record = json.loads(lines[1])
    assert record == {
        "schema_version": "ISO/IEC TS 27560:2023",
        "record_id": str(decisions[1].pk),
        "pii_principal_id": str(VISITOR),
        "pii_controller": {"site_key": "demo", "name": site.name},
        "notice": {
            "policy_version": 1,
            "notice_hash": decisions[1].texts_hash,
            "language": "de-AT",
            "url": "https://shop.example/cart",
        },
        "purposes": [
            {"purpose": "required", "lawful_basis": "necessary", "consent_status": "given"},
            {"purpose": "functional", "lawful_basis": "consent", "consent_status": "given"},
            {"purpose": "advertising", "lawful_basis": "consent", "consent_status": "refused"},
        ],
        "consent_status": "given",
        "collection_method": "custom",
        "signals": {"global_privacy_control": False, "do_not_track": False},
        "timestamp": "2026-03-02T00:00:00Z",
        "expiry": "2027-03-02T00:00:00Z",
        "pii_principal_location": "203.0.113.0/24",
    }
    statuses = [json.loads(line)["consent_status"] for line in lines]
    assert statuses == ["given", "given", "refused", "refused"]


def test_running_the_task_twice_keeps_the_finished_file(site, decisions):
    job = run(site=site)
    path = exports.file_path(job)
    written = path.stat().st_mtime_ns
    decide(datetime(2026, 3, 2, 13, 0, tzinfo=UTC))

    export_records.delay(job.pk)

    job.refresh_from_db()
    assert job.row_count == 4
    assert path.stat().st_mtime_ns == written
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_an_unwritable_directory_marks_the_job_failed(site, decisions, settings, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings.CONSENT_EXPORT_DIR = blocker / "exports"
    job = ExportJob.objects.create(site=site)

    with pytest.raises(OSError):
        export_records.delay(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "Error" in job.error


def test_the_privacy_role_requests_an_export_and_downloads_it(
    privacy_client, site, decisions, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = privacy_client.post(
            reverse("admin:consent_exportjob_add"),
            {
                "site": site.pk,
                "date_from": "2026-03-02",
                "date_to": "",
                "consent_id": "",
                "format": "jsonl",
            },
        )
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert (job.status, job.row_count, job.requested_by) == (JobStatus.DONE, 3, "privacy")
    assert job.size_bytes == exports.file_path(job).stat().st_size

    listing = privacy_client.get(reverse("admin:consent_exportjob_changelist"))
    download_url = reverse("admin:consent_exportjob_download", args=[job.pk])
    assert download_url in listing.content.decode()

    download = privacy_client.get(download_url)
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="{job.file_name}"'
    assert b"".join(download.streaming_content).decode() == read(job)
    assert AuditEvent.objects.filter(action="export", object_id=str(job.pk)).count() == 1
    assert AuditEvent.objects.get(action="download").actor == "privacy"


def test_nobody_changes_an_export(privacy_client, site, decisions):
    job = run(site=site)

    change = privacy_client.post(
        reverse("admin:consent_exportjob_change", args=[job.pk]), {"format": "jsonl"}
    )

    assert change.status_code == 403
    job.refresh_from_db()
    assert job.format == ExportJob.Format.CSV


def test_deleting_exports_from_the_list_deletes_their_files(privacy_client, site, decisions):
    jobs = [run(site=site), run(site=site, format=ExportJob.Format.JSONL)]
    files = [exports.file_path(job) for job in jobs]
    assert all(file.exists() for file in files)

    response = privacy_client.post(
        reverse("admin:consent_exportjob_changelist"),
        {"action": "delete_selected", "_selected_action": [j.pk for j in jobs], "post": "yes"},
    )

    assert response.status_code == 302
    assert not ExportJob.objects.exists()
    assert [file.exists() for file in files] == [False, False]


def test_marketing_ops_cannot_list_request_or_download_exports(
    marketing_client, marketing_user, site, decisions
):
    site.staff.add(marketing_user)
    job = run(site=site)

    listing = marketing_client.get(reverse("admin:consent_exportjob_changelist"))
    request = marketing_client.post(reverse("admin:consent_exportjob_add"), {"site": site.pk})
    download = marketing_client.get(reverse("admin:consent_exportjob_download", args=[job.pk]))

    assert (listing.status_code, request.status_code, download.status_code) == (403, 403, 403)
    assert ExportJob.objects.count() == 1


def test_staff_without_the_permission_cannot_download(client, site, decisions):
    job = run(site=site)
    client.force_login(User.objects.create_user("intern", password="x", is_staff=True))

    response = client.get(reverse("admin:consent_exportjob_download", args=[job.pk]))

    assert response.status_code == 403


def test_an_unfinished_export_has_no_download(privacy_client, site):
    job = ExportJob.objects.create(site=site)

    response = privacy_client.get(reverse("admin:consent_exportjob_download", args=[job.pk]))

    assert response.status_code == 404


def test_the_records_list_links_to_an_export_of_the_filtered_site(
    privacy_client, marketing_client, marketing_user, site
):
    site.staff.add(marketing_user)
    url = reverse("admin:consent_consentrecord_changelist")
    link = f"{reverse('admin:consent_exportjob_add')}?site={site.pk}"

    assert link in privacy_client.get(url, {"site__id__exact": site.pk}).content.decode()
    marketing = marketing_client.get(url, {"site__id__exact": site.pk})
    assert marketing.status_code == 200
    assert link not in marketing.content.decode()
