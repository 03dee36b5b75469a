"""Settings parsing, in fresh interpreters with controlled environments."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "a-production-secret-that-is-long-enough-and-random-0123456789abcdef",
    "ALLOWED_HOSTS": "consent.example.com",
    "DATABASE_URL": "postgres://consent:pw@db.internal:5432/consent",
    "REDIS_URL": "redis://cache.internal:6379/0",
}


def run(code: str, **env) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS")
    }
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ.setdefault("
            "'DJANGO_SETTINGS_MODULE','config.settings'); django.setup(); " + code,
        ],
        cwd=ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_embedded_defaults_need_no_services(tmp_path):
    out = run(
        "from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'],"
        " s.CACHES['default']['BACKEND'], s.CELERY_TASK_ALWAYS_EAGER)",
        VAR_DIR=str(tmp_path),
    )
    assert out.stdout.split() == [
        "django.db.backends.sqlite3",
        "django.core.cache.backends.locmem.LocMemCache",
        "True",
    ]


def test_database_and_redis_urls_switch_to_postgresql_and_redis():
    out = run(
        "from django.conf import settings as s; d=s.DATABASES['default'];"
        " print(d['ENGINE'], d['HOST'], d['NAME'], s.CACHES['default']['BACKEND'],"
        " s.CELERY_BROKER_URL, s.CELERY_TASK_ALWAYS_EAGER)",
        **PRODUCTION,
    )
    assert out.stdout.split() == [
        "django.db.backends.postgresql",
        "db.internal",
        "consent",
        "consent.cache.TolerantRedisCache",
        "redis://cache.internal:6379/0",
        "False",
    ]


def test_debug_off_without_secret_key_is_a_clear_error():
    out = run("", DEBUG="0")
    assert out.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in out.stderr


def test_a_malformed_boolean_is_a_clear_error():
    out = run("", DEBUG="maybe")
    assert out.returncode != 0
    assert "DEBUG must be a boolean" in out.stderr


def test_check_deploy_is_clean_with_production_settings():
    out = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "DEBUG"} | PRODUCTION,
    )
    assert out.returncode == 0, out.stderr
    assert "no issues" in out.stdout


def test_production_cookies_are_secure_and_samesite():
    out = run(
        "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE,"
        " s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_SAMESITE, s.CSRF_COOKIE_SAMESITE)",
        **PRODUCTION,
    )
    assert out.stdout.split() == ["True", "True", "Lax", "Lax"]


def test_postgresql_connections_time_out():
    code = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'])"
    options = run(code, **PRODUCTION).stdout
    assert "'connect_timeout': 5" in options and "'keepalives': 1" in options
