"""``manage.py check`` names every remote-mode setting a site got wrong."""

import os
import subprocess
import sys

import pytest

from consent.enforce.checks import check_remote
from tests.harness import ROOT


def run_check(**environment: str) -> subprocess.CompletedProcess:
    """``django-admin check`` on tests.sites as a project of its own."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.sites.settings", **environment}
    return subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_site_apart_from_the_platform_passes_with_its_two_settings():
    result = run_check(CONSENT_PLATFORM_URL="https://consent.example.com")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_the_platforms_url_it_says_what_to_set():
    result = run_check(CONSENT_PLATFORM_URL="")
    assert result.returncode == 1
    assert "consent.E101" in result.stderr
    assert "needs CONSENT_PLATFORM_URL" in result.stderr


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://consent.example.com", []),
        ("https://consent.example.com/prefix/", []),
        ("http://127.0.0.1:8000", []),
        ("http://localhost:8000", []),
        ("http://consent.example.com", ["consent.W101"]),
        ("ftp://consent.example.com", ["consent.E102"]),
        ("consent.example.com", ["consent.E102"]),
        ("https://user:secret@consent.example.com", ["consent.E102"]),
        ("https://consent.example.com:port", ["consent.E102"]),
    ],
)
def test_the_platforms_url_must_be_an_http_url(settings, url, expected):
    settings.CONSENT_PLATFORM_URL = url
    settings.CONSENT_SITE_KEY = "demo"
    assert [message.id for message in check_remote()] == expected


@pytest.mark.parametrize("key", ["", "a b", "x", "demo/../admin"])
def test_the_site_key_must_be_a_site_key(settings, key):
    settings.CONSENT_PLATFORM_URL = "https://consent.example.com"
    settings.CONSENT_SITE_KEY = key
    assert [message.id for message in check_remote()] == ["consent.E103"]


@pytest.mark.parametrize("value", [0, -5, "soon", float("inf")])
def test_the_refresh_interval_and_timeout_are_seconds_above_zero(settings, value):
    settings.CONSENT_PLATFORM_URL = "https://consent.example.com"
    settings.CONSENT_SITE_KEY = "demo"
    settings.CONSENT_REMOTE_REFRESH_SECONDS = value
    settings.CONSENT_REMOTE_TIMEOUT = value
    assert [message.id for message in check_remote()] == ["consent.E104", "consent.E104"]
