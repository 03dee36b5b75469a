"""Reads off the primary: a real primary, a real streaming standby, and the platform
between them, as in production.

The module starts a PostgreSQL primary and a hot standby cloned from it with
``pg_basebackup`` (tests.pgcluster), each logging every statement to its own file, and
the platform under gunicorn with ``DATABASE_URL`` on the primary and
``DATABASE_REPLICA_URL`` on the standby. Each test reads both logs from a mark set just
before the step it checks, so it sees which server each query reached.
"""

import http.client
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from tests.appserver import (
    CONSENT_BODY,
    AppServer,
    post_consent,
    production_env,
    request_json,
    start_gunicorn,
)
from tests.harness import ROOT, free_port
from tests.pgcluster import StatementLog, StreamingPair, binaries_missing, query

missing = binaries_missing()
pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(missing is not None, reason=f"needs PostgreSQL's binaries: {missing}"),
]

RECORDS = '"consent_consentrecord"'
SETUP = r"""
import json
import django
django.setup()
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

call_command("migrate", verbosity=0)
call_command("seed_demo", "--no-users", "--origin", "https://shop.example", verbosity=0)
call_command("collectstatic", "--noinput", verbosity=0)  # the admin's, as in production
user = User.objects.create_superuser("privacy", password="not-used-here")
client = Client()
client.force_login(user)
print(json.dumps({"session": client.cookies["sessionid"].value}))
"""


@dataclass
class Page:
    status: int
    text: str
    cookies: dict[str, str]


@dataclass
class Platform:
    server: AppServer
    env: dict[str, str]
    cookies: dict[str, str]

    def browse(self, method: str, path: str, form: dict | None = None) -> Page:
        """One request of the logged-in superuser, keeping the cookies it is given."""
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            text = response.read().decode(errors="replace")
            for header in response.headers.get_all("Set-Cookie") or ():
                for name, morsel in SimpleCookie(header).items():
                    self.cookies[name] = morsel.value
            return Page(response.status, text, dict(self.cookies))
        finally:
            connection.close()

    def script(self, code: str, **env: str) -> subprocess.CompletedProcess:
        """Django code in a process of its own, with the platform's settings."""
        done = subprocess.run(
            [sys.executable, "-c", "import django\ndjango.setup()\n" + code],
            cwd=ROOT,
            env=self.env | env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done


@pytest.fixture(scope="module")
def pair() -> Iterator[StreamingPair]:
    pair = StreamingPair()
    try:
        pair.start()
        query(pair.primary, "CREATE DATABASE consent")
        yield pair
    finally:
        pair.stop()


@pytest.fixture(scope="module")
def platform(pair, tmp_path_factory) -> Iterator[Platform]:
    scratch = tmp_path_factory.mktemp("replica")
    env = production_env(
        pair.primary.url("consent"),
        DATABASE_REPLICA_URL=pair.standby.url("consent"),
        CONSENT_EXPORT_DIR=str(scratch / "exports"),
        VAR_DIR=str(scratch),
    )
    made = subprocess.run(
        [sys.executable, "-c", SETUP],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    session = json.loads(made.stdout.strip().splitlines()[-1])["session"]
    server = start_gunicorn(env, scratch / "gunicorn.log", workers=1)
    try:
        yield Platform(server, env, {"sessionid": session})
    finally:
        server.stop()


@pytest.fixture
def logs(pair) -> tuple[StatementLog, StatementLog]:
    """The primary's and the standby's statement logs, marked before the step."""
    primary, standby = pair.log(pair.primary), pair.log(pair.standby)
    primary.mark()
    standby.mark()
    return primary, standby


def decide(platform: Platform, visitor: uuid.UUID) -> int:
    """A visitor's decision through the consent POST; returns the record's id."""
    answer = post_consent(platform.server.port, CONSENT_BODY | {"consent_id": str(visitor)})
    assert answer.status == 201, answer.body
    return answer.body["record_id"]


def statements(log: str, table: str) -> list[str]:
    return [line for line in log.splitlines() if table in line]


def test_the_consent_post_and_the_receipt_stay_on_the_primary(platform, logs):
    primary, standby = logs
    visitor = uuid.uuid4()

    record_id = decide(platform, visitor)
    receipt = request_json(platform.server.port, "GET", reverse("consent-receipt", args=[visitor]))

    assert receipt.status == 200
    assert receipt.body["current"]["record_id"] == record_id
    on_primary = primary.since_mark()
    assert any("INSERT INTO " + RECORDS in line for line in statements(on_primary, RECORDS))
    assert any(
        "SELECT" in line and visitor.hex in line for line in statements(on_primary, RECORDS)
    ), on_primary
    assert statements(standby.since_mark(), "consent_") == []


def test_a_decision_reaches_the_standby_once_it_has_caught_up(pair, platform):
    visitor = uuid.uuid4()
    record_id = decide(platform, visitor)

    pair.wait_for_replay()

    assert query(pair.standby, "SELECT pg_is_in_recovery()") is True
    found = query(
        pair.standby,
        "SELECT consent_id FROM consent_consentrecord WHERE id = %s",
        record_id,
        database="consent",
    )
    assert found == visitor


def test_the_admin_record_list_reads_records_from_the_standby(pair, platform, logs):
    primary, standby = logs
    visitor = uuid.uuid4()
    decide(platform, visitor)
    pair.wait_for_replay()
    primary.mark()
    standby.mark()

    page = platform.browse(
        "GET", reverse("admin:consent_consentrecord_changelist") + f"?q={visitor}"
    )

    assert page.status == 200
    assert str(visitor) in page.text
    assert statements(primary.since_mark(), RECORDS) == []
    on_standby = statements(standby.since_mark(), RECORDS)
    assert any(visitor.hex in line for line in on_standby), "the list came from the standby"
    assert "django_session" in primary.since_mark(), "who is logged in: from the primary"


def test_the_statistics_dashboard_reads_from_the_standby(platform, logs):
    primary, standby = logs

    page = platform.browse("GET", reverse("admin:consent_dailystat_changelist"))

    assert page.status == 200
    assert "Consent statistics" in page.text
    assert statements(primary.since_mark(), '"consent_dailystat"') == []
    assert statements(standby.since_mark(), '"consent_dailystat"') != []


EXPORT = r"""
from consent import exports, tasks
from consent.models import ExportJob

exports.CHUNK_SIZE = 2
job = ExportJob.objects.create(consent_id={visitor!r}, format="jsonl")
tasks.export_records(job.pk)
print(exports.file_path(ExportJob.objects.get(pk=job.pk)))
"""


def test_an_export_reads_records_from_the_standby_a_chunk_at_a_time(pair, platform, logs):
    primary, standby = logs
    visitor = uuid.uuid4()
    ids = [decide(platform, visitor) for _ in range(3)]
    pair.wait_for_replay()
    primary.mark()
    standby.mark()

    done = platform.script(EXPORT.format(visitor=str(visitor)))

    lines = Path(done.stdout.strip().splitlines()[-1]).read_text().splitlines()
    assert [json.loads(line)["record_id"] for line in lines] == [str(i) for i in sorted(ids)]
    chunks = [
        line
        for line in statements(standby.since_mark(), RECORDS)
        if visitor.hex in line and "LIMIT 2" in line
    ]
    assert len(chunks) == 2, "three records, two at a time"
    assert re.search(rf'"id" > {sorted(ids)[1]}\b', chunks[1]), "the next chunk: after the last id"
    on_primary = primary.since_mark()
    assert statements(on_primary, RECORDS) == []
    assert 'UPDATE "consent_exportjob"' in on_primary, "the job's bookkeeping: on the primary"


def test_an_erasure_from_the_record_list_writes_on_the_primary(pair, platform, logs):
    primary, standby = logs
    visitor = uuid.uuid4()
    record_id = decide(platform, visitor)
    pair.wait_for_replay()
    changelist = reverse("admin:consent_consentrecord_changelist")
    listing = platform.browse("GET", f"{changelist}?q={visitor}")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', listing.text)
    assert token, "the list has its action form"
    primary.mark()
    standby.mark()

    erased = platform.browse(
        "POST",
        changelist,
        {
            "csrfmiddlewaretoken": token.group(1),
            "action": "erase_visitors",
            "_selected_action": [record_id],
            "confirmed": "yes",
        },
    )

    assert erased.status == 302
    on_primary = primary.since_mark()
    assert re.search(r'statement: (DELETE FROM|UPDATE) "consent_consentrecord"', on_primary)
    assert 'INSERT INTO "consent_auditevent"' in on_primary
    assert statements(standby.since_mark(), "consent_") == []
    pair.wait_for_replay()
    assert (
        query(
            pair.standby,
            "SELECT count(*) FROM consent_consentrecord WHERE consent_id = %s",
            visitor,
            database="consent",
        )
        == 0
    )


ROUTING = r"""
from django.db import transaction
from consent.db_routers import reads_from_replica
from consent.models import ConsentRecord, ExportJob, Site

with reads_from_replica():
    ConsentRecord.objects.filter(language="probe-in-block").exists()
    Site.objects.filter(name="probe-site").exists()
    with transaction.atomic():
        ConsentRecord.objects.filter(language="probe-in-transaction").exists()
    ExportJob.objects.create(requested_by="probe-write")
    ConsentRecord.objects.filter(language="probe-after-a-write").exists()
ConsentRecord.objects.filter(language="probe-outside").exists()
"""


def test_only_reads_in_the_block_outside_a_transaction_and_before_a_write_use_the_standby(
    platform, logs
):
    primary, standby = logs

    platform.script(ROUTING)

    on_primary, on_standby = primary.since_mark(), standby.since_mark()
    assert re.findall(r"probe-[a-z-]+", on_standby) == ["probe-in-block"]
    assert re.findall(r"probe-[a-z-]+", on_primary) == [
        "probe-site",
        "probe-in-transaction",
        "probe-write",
        "probe-after-a-write",
        "probe-outside",
    ]


def test_an_unreachable_replica_sends_the_reads_to_the_primary(platform, logs):
    primary, standby = logs
    nowhere = f"postgres://postgres@127.0.0.1:{free_port()}/consent"

    done = platform.script(
        "from consent.db_routers import reads_from_replica\n"
        "from consent.models import ConsentRecord\n"
        "with reads_from_replica():\n"
        '    ConsentRecord.objects.filter(language="probe-fallback").exists()\n',
        DATABASE_REPLICA_URL=nowhere,
    )

    assert "replica unreachable" in done.stderr
    assert "probe-fallback" in primary.since_mark()
    assert "probe-fallback" not in standby.since_mark()
