"""The platform's own settings, with the reference views' URLs added.

bench/consent_throughput also starts servers with one piece of the consent POST's
machinery off, through BENCH_CACHE_BACKEND, which replaces the cache's backend (Django's
own RedisCache: the throttles then count in the cache with add and incr, see
consent.api.throttle_counts)."""

import os

from config.settings import *  # noqa: F403

ROOT_URLCONF = "benchapp.urls"

if os.environ.get("BENCH_CACHE_BACKEND"):
    CACHES["default"]["BACKEND"] = os.environ["BENCH_CACHE_BACKEND"]  # noqa: F405
