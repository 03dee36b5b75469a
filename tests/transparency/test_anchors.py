"""Every signed head leaves the database: appended to the heads file, and POSTed to an HTTP
sink (a real server on 127.0.0.1 that the test starts) that may be down, slow or refusing,
without the sealer ever waiting for it."""

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.utils import timezone

from consent.models import TreeHead
from consent.transparency import anchors, heads, log
from tests.harness import database_url_for_workers, free_port, start_celery_worker
from tests.ops import decide

pytestmark = pytest.mark.django_db


GARBAGE = 0  # a "status" for an answer that is not HTTP


class Sink:
    """An HTTP sink of heads: answers each POST with the next of ``statuses`` (200 once
    they run out), after ``hold`` is set when a test wants it to hang."""

    def __init__(self, port: int | None = None, statuses: tuple[int, ...] = ()) -> None:
        self.port = port or free_port()
        self.statuses = list(statuses)
        self.received: list[dict] = []  # the heads it answered 200
        self.attempts = 0
        self.hold = threading.Event()
        self.hold.set()
        self.holding = threading.Event()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/heads"

    def start(self) -> "Sink":
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sink.attempts += 1
                if not sink.hold.is_set():
                    sink.holding.set()
                    sink.hold.wait(30)
                status = sink.statuses.pop(0) if sink.statuses else 200
                if status == GARBAGE:
                    self.wfile.write(b"not HTTP at all\r\n\r\n")
                    self.close_connection = True
                    return
                if status == 200 and self.headers["Content-Type"] == "application/json":
                    sink.received.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.hold.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def sinks() -> Iterator[list[Sink]]:
    started: list[Sink] = []
    yield started
    for sink in started:
        sink.stop()
    # No delivery of this test may outlive it (the courier is one per process).
    assert anchors.courier.flush(timeout=30)


def wait_until(condition: Callable[[], object], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:g} s for {what}"
        time.sleep(0.02)


def seal(django_capture_on_commit_callbacks) -> heads.SignedTreeHead:
    """A new record sealed into a new signed head; the heads are published when the
    sealer's transaction commits."""
    decide(timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        sealed = log.seal()
    assert sealed.head is not None
    return sealed.head


def stored_heads() -> list[dict]:
    return [log.signed(h).as_json() for h in TreeHead.objects.order_by("tree_size")]


def test_the_heads_file_gets_one_json_line_per_head(
    site, settings, tmp_path, django_capture_on_commit_callbacks
):
    path = tmp_path / "heads.jsonl"
    settings.CONSENT_LOG_HEADS_FILE = str(path)
    for _ in range(3):
        seal(django_capture_on_commit_callbacks)
    lines = path.read_text().splitlines()
    assert [json.loads(line) for line in lines] == stored_heads()
    assert len(lines) == 3
    # Each line is a head an auditor can check alone, with the log's published key.
    public = heads.parse_private_key(os.environ["CONSENT_LOG_KEY"]).public_key()
    origin = log.key_document()["origin"]
    assert all(
        heads.verify(heads.SignedTreeHead.from_json(json.loads(x)), origin, public) for x in lines
    )


def test_a_heads_file_that_cannot_be_written_holds_nothing_up(
    site, settings, tmp_path, sinks, django_capture_on_commit_callbacks, caplog
):
    settings.CONSENT_LOG_HEADS_FILE = str(tmp_path)  # a directory: open() fails
    sink = Sink().start()
    sinks.append(sink)
    settings.CONSENT_LOG_HEADS_URL = sink.url
    head = seal(django_capture_on_commit_callbacks)
    wait_until(lambda: sink.received, "the head at the HTTP sink")
    assert sink.received == [head.as_json()]
    assert f"could not append head {head.tree_size}" in caplog.text


def test_the_http_sink_receives_every_head_in_order(
    site, settings, sinks, django_capture_on_commit_callbacks
):
    sink = Sink().start()
    sinks.append(sink)
    settings.CONSENT_LOG_HEADS_URL = sink.url
    for _ in range(3):
        seal(django_capture_on_commit_callbacks)
    wait_until(lambda: len(sink.received) == 3, "three heads at the sink")
    assert sink.received == stored_heads()


def test_a_sink_answering_errors_gets_the_head_once_it_recovers(
    site, settings, sinks, django_capture_on_commit_callbacks
):
    sink = Sink(statuses=(503, GARBAGE)).start()
    sinks.append(sink)
    settings.CONSENT_LOG_HEADS_URL = sink.url
    head = seal(django_capture_on_commit_callbacks)
    wait_until(lambda: sink.received, "the head after two failed attempts")
    assert sink.received == [head.as_json()]
    assert sink.attempts == 3


def test_a_sink_that_is_down_at_first_gets_the_head_once_it_comes_back(
    site, settings, sinks, django_capture_on_commit_callbacks, caplog
):
    sink = Sink()  # nothing listens on its port yet
    settings.CONSENT_LOG_HEADS_URL = sink.url
    caplog.set_level(logging.WARNING, logger=anchors.__name__)
    head = seal(django_capture_on_commit_callbacks)
    wait_until(
        lambda: f"heads sink refused head {head.tree_size}" in caplog.text,
        "a refused first attempt",
    )
    sinks.append(sink.start())
    later = seal(django_capture_on_commit_callbacks)
    wait_until(lambda: len(sink.received) == 2, "both heads once the sink is back")
    assert sink.received == [head.as_json(), later.as_json()]


# The sealer in a thread of its own needs committed rows; serialized_rollback puts back
# what emptying the tables took (the categories the migrations made).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_sealer_is_never_held_by_the_sink(site, settings, sinks):
    sink = Sink().start()
    sinks.append(sink)
    sink.hold.clear()  # the sink takes the request and does not answer
    settings.CONSENT_LOG_HEADS_URL = sink.url
    sealed: list[heads.SignedTreeHead] = []

    def sealer() -> None:
        try:
            for _ in range(2):
                decide(timezone.now())
                sealed.append(log.seal().head)  # published as its transaction commits
        finally:
            connection.close()

    thread = threading.Thread(target=sealer)
    thread.start()
    # Less than the 10 s one POST to the sink may take: a sealer that waited for the sink
    # would still be waiting.
    thread.join(timeout=8)
    assert not thread.is_alive(), "the sealer waited for the sink"
    assert len(sealed) == 2
    # It went on while the sink was holding the first head's request, unanswered.
    wait_until(sink.holding.is_set, "the sink to be holding the first head")
    assert sink.received == []
    sink.hold.set()
    wait_until(lambda: len(sink.received) == 2, "both heads once the sink answers")
    assert sink.received == [h.as_json() for h in sealed]


@pytest.mark.services
# serialized_rollback: an earlier transactional test emptied the tables, the categories
# the migrations made included; this puts them back.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_with_a_broker_a_worker_sends_the_head_and_retries_with_back_off(
    site, redis_server, sinks, tmp_path
):
    sink = Sink(statuses=(503,)).start()
    sinks.append(sink)
    worker = start_celery_worker(
        redis_server.url,
        database_url_for_workers(),
        tmp_path / "worker.log",
        {"CONSENT_LOG_HEADS_URL": sink.url},
    )
    try:
        decide(timezone.now())
        worker.client().send_task("consent.tasks.seal_audit_log")
        wait_until(lambda: sink.received, "the head from the worker", timeout=60)
        head = log.latest_head()
        assert head is not None and sink.received == [log.signed(head).as_json()]
        assert sink.attempts == 2
        output = worker.output()
        assert "consent.tasks.publish_head" in output and "Retry in" in output, output
    finally:
        worker.kill()
