"""Every signed head also goes where the database's owner cannot rewrite it.

- ``CONSENT_LOG_HEADS_FILE``: one JSON line per head, appended and flushed to disk.
- ``CONSENT_LOG_HEADS_URL``: a POST of the head as JSON, retried with exponential
  back-off until the sink takes it. Never by the sealer itself: with a Celery broker, the
  ``publish_head`` task does it on a worker (Celery's retries, with countdowns); in the
  embedded default, where Celery runs tasks eagerly and a retry would run again at once
  inside the sealer, and whenever the broker cannot take the task, a background thread of
  this process does it (``Courier``). Heads reach the sink in the order they were signed.

An auditor keeps these heads and checks today's log against them:
``manage.py verify_audit --expect-head SIZE:ROOT`` or ``--heads-file FILE``.
"""

from __future__ import annotations

import atexit
import http.client
import json
import logging
import os
import threading
import time
import urllib.request
from collections import deque
from typing import Any

from celery import current_app
from django.conf import settings

from .heads import SignedTreeHead

log = logging.getLogger(__name__)

# The courier's back-off: the first retry after this many seconds, then twice as long
# each time up to MAX_DELAY; a head the sink refused for about an hour is given up.
FIRST_DELAY = 0.5
MAX_DELAY = 60.0
ATTEMPTS = 70
# Heads waiting in one process while the sink is away: the oldest go first when more
# pile up (the newest head vouches for every older one, by consistency proof).
WAITING = 1000
# What a sink that is away, slow or failing causes: worth trying again.
SINK_ERRORS = (OSError, http.client.HTTPException)


def publish(head: SignedTreeHead) -> None:
    """Hand a newly signed head to every configured sink. Never raises, never waits on
    the network: the head is already in the database, and sealing must go on."""
    document = head.as_json()
    if settings.CONSENT_LOG_HEADS_FILE:
        append_to_file(settings.CONSENT_LOG_HEADS_FILE, document)
    if settings.CONSENT_LOG_HEADS_URL:
        send(settings.CONSENT_LOG_HEADS_URL, document)


def append_to_file(path: str, document: dict[str, Any]) -> None:
    line = json.dumps(document, sort_keys=True).encode() + b"\n"
    try:
        # One write of one line to a file opened for appending: lines of concurrent
        # sealers never interleave.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        log.exception("could not append head %d to %s", document["tree_size"], path)


def post(url: str, document: dict[str, Any], timeout: float = 10) -> int:
    """POST one head to the sink; its HTTP status, or one of SINK_ERRORS (an HTTP error
    status, a refused connection, a timeout, a broken answer) when it did not take it."""
    request = urllib.request.Request(  # noqa: S310 (the operator's URL)
        url,
        data=json.dumps(document, sort_keys=True).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return response.status


def send(url: str, document: dict[str, Any]) -> None:
    if not current_app.conf.task_always_eager:
        from ..tasks import publish_head

        try:
            # retry=False: a broker that is away fails at once, rather than after the
            # publisher's own retries, and the courier takes the head instead.
            publish_head.apply_async((document,), retry=False)
            return
        except Exception:  # kombu's errors differ by transport
            log.warning(
                "the broker did not take head %d; sending it from here", document["tree_size"]
            )
    courier.put(url, document)


class Courier:
    """Delivers heads to the HTTP sink from one background thread of this process, one at
    a time and in order, each retried with exponential back-off. The thread runs only while
    there is something to deliver."""

    def __init__(self) -> None:
        self._waiting: deque[tuple[str, dict[str, Any]]] = deque()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def put(self, url: str, document: dict[str, Any]) -> None:
        with self._lock:
            if len(self._waiting) >= WAITING:
                _, dropped = self._waiting.popleft()
                log.error("heads sink away too long: head %d not sent", dropped["tree_size"])
            self._waiting.append((url, document))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="consent-log-heads", daemon=True
                )
                self._thread.start()

    def flush(self, timeout: float) -> bool:
        """Waits up to ``timeout`` seconds for every head to be delivered (or given up);
        True if none is left."""
        with self._idle:
            return self._idle.wait_for(lambda: self._thread is None, timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._thread = None
                    self._idle.notify_all()
                    return
                url, document = self._waiting.popleft()
            try:
                self._deliver(url, document)
            except Exception:  # a URL urllib cannot use: no retry helps; the next head
                log.exception("heads sink: head %d cannot be sent", document["tree_size"])

    def _deliver(self, url: str, document: dict[str, Any]) -> None:
        delay = FIRST_DELAY
        for attempt in range(1, ATTEMPTS + 1):
            try:
                post(url, document)
                return
            except SINK_ERRORS as exc:
                if attempt == 1 or attempt % 10 == 0:
                    log.warning(
                        "heads sink refused head %d (attempt %d): %s; retrying in %.1f s",
                        document["tree_size"],
                        attempt,
                        exc,
                        delay,
                    )
            time.sleep(delay)
            delay = min(delay * 2, MAX_DELAY)
        log.error("heads sink: head %d given up after %d attempts", document["tree_size"], ATTEMPTS)


courier = Courier()


@atexit.register
def _deliver_before_exit() -> None:
    # A one-off `manage.py seal_audit` exits right after signing: give its heads a moment
    # to reach a sink that is up, without holding the exit long for one that is down.
    courier.flush(timeout=5)
