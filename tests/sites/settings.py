"""tests.sites as a Django project apart from the platform, in remote mode.

What a shop on other servers would write: no database at all (sessions in signed
cookies), ``consent.enforce`` instead of the platform's app, and the rules of site
``CONSENT_SITE_KEY`` from the platform at ``CONSENT_PLATFORM_URL``. The tests start it
in a process of its own (tests/remote, e2e/test_remote_site.py), with these from the
environment.
"""

import os

from csp.constants import NONCE

SECRET_KEY = os.environ.get("SECRET_KEY", "tests-sites-remote-only-" + "x" * 40)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = ["csp", "consent.enforce"]
MIDDLEWARE = [
    "consent.csp.ConsentCSPMiddleware",
    "consent.middleware.ConsentMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
ROOT_URLCONF = "tests.sites.site_urls"
WSGI_APPLICATION = "tests.sites.wsgi.application"
DATABASES: dict = {}
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "csp.context_processors.nonce",
            ]
        },
    }
]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "img-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "object-src": ["'none'"],
    }
}
USE_TZ = True
TIME_ZONE = "UTC"

CONSENT_PLATFORM_URL = os.environ.get("CONSENT_PLATFORM_URL", "")
CONSENT_SITE_KEY = os.environ.get("CONSENT_SITE_KEY", "demo")
CONSENT_REMOTE_REFRESH_SECONDS = float(os.environ.get("CONSENT_REMOTE_REFRESH_SECONDS", "30"))
CONSENT_REMOTE_TIMEOUT = float(os.environ.get("CONSENT_REMOTE_TIMEOUT", "5"))
CONSENT_REMOTE_RULES_FILE = os.environ.get("CONSENT_REMOTE_RULES_FILE", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"consent": {"level": "INFO"}},
}
