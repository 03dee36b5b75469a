"""Requests to a real gunicorn as they arrive behind one trusted proxy (NUM_PROXIES=1):
the visitor's address in X-Forwarded-For, as bench/ sends them."""

import uuid
from pathlib import Path

from tests.appserver import (
    SITE_ORIGIN,
    Answer,
    AppServer,
    production_env,
    request_json,
    start_gunicorn,
)
from tests.harness import database_url_for_workers


def behind_proxy(redis_url: str, log: Path, workers: int = 2, **settings: str) -> AppServer:
    """gunicorn with production settings, Redis as its cache and the throttles' counts
    (under a key prefix of its own: the harness's Redis is shared by the session),
    trusting one proxy."""
    env = production_env(
        database_url_for_workers(),
        redis_url,
        **({"NUM_PROXIES": "1", "CACHE_KEY_PREFIX": f"test-{uuid.uuid4().hex[:12]}"} | settings),
    )
    return start_gunicorn(env, log, workers=workers)


def call(
    port: int,
    method: str,
    path: str,
    *,
    client: str,
    body: dict | None = None,
    origin: str | None = SITE_ORIGIN,
) -> Answer:
    """One request on a fresh connection from the visitor at address ``client``."""
    headers = {"X-Forwarded-For": client}
    if origin:
        headers["Origin"] = origin
    return request_json(port, method, path, body, headers)
