"""System checks for a project that installs ConsentMiddleware.

Each mistake here fails silently at run time (a CSP without consent, cookies the
middleware never sees, the console under a consent-aware CSP), so ``manage.py check``
names it instead.
"""

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.urls import NoReverseMatch, reverse

OWN = "consent.middleware.ConsentMiddleware"
CSP = "consent.csp.ConsentCSPMiddleware"
PLAIN_CSP = "csp.middleware.CSPMiddleware"
COOKIE_SETTERS = (
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
)


def middleware_order(middleware: list[str]) -> list[Error]:
    """Where ConsentMiddleware sits in ``middleware`` against the ones it depends on."""
    if OWN not in middleware:
        return []
    position = middleware.index(OWN)
    errors = []
    if CSP in middleware and middleware.index(CSP) > position:
        errors.append(
            Error(
                f"{OWN} must come after {CSP} in MIDDLEWARE: the policy is written on the "
                "way out, once the visitor's consent is known.",
                id="consent.E001",
            )
        )
    if PLAIN_CSP in middleware:
        errors.append(
            Error(
                f"Use {CSP} in place of {PLAIN_CSP}: it is django-csp's middleware, "
                "extended to list the hosts of the vendors each visitor allows.",
                id="consent.E005",
            )
        )
    for cookie_setter in COOKIE_SETTERS:
        if cookie_setter in middleware and middleware.index(cookie_setter) < position:
            errors.append(
                Error(
                    f"{OWN} must come before {cookie_setter} in MIDDLEWARE, so that it "
                    "sees the cookies that middleware sets.",
                    id="consent.E002",
                )
            )
    return errors


@register("consent")
def check_middleware(app_configs=None, **kwargs) -> list[CheckMessage]:
    messages: list[CheckMessage] = list(middleware_order(list(settings.MIDDLEWARE)))
    if getattr(settings, "CONSENT_UNKNOWN_COOKIES", "block") not in ("block", "allow"):
        messages.append(
            Error('CONSENT_UNKNOWN_COOKIES must be "block" or "allow".', id="consent.E003")
        )
    paths = getattr(settings, "CONSENT_ENFORCED_PATHS", None) or ["/"]
    if not all(isinstance(path, str) and path.startswith("/") for path in paths):
        messages.append(
            Error(
                "CONSENT_ENFORCED_PATHS must be path prefixes starting with '/'.",
                id="consent.E004",
            )
        )
    elif OWN in settings.MIDDLEWARE:
        try:
            admin = reverse("admin:index")
        except NoReverseMatch:
            admin = None
        if admin is not None and admin.startswith(tuple(paths)):
            messages.append(
                Warning(
                    f"The admin ({admin}) is under CONSENT_ENFORCED_PATHS: vendor hosts "
                    "entered in it would be allowed by its Content-Security-Policy.",
                    hint="List only the prefixes of the site's own pages, e.g. ['/shop/'].",
                    id="consent.W001",
                )
            )
    return messages


@register("consent", Tags.database)
def check_partitions(app_configs=None, databases=None, **kwargs) -> list[CheckMessage]:
    """Records on PostgreSQL without their monthly partitions: the console and the
    retention purge slow down with the table. Runs with ``check --database default``
    (and ``migrate``), which may touch the database."""
    from django.db import connection
    from django.db.utils import DatabaseError

    from . import partitions

    if not apps.is_installed("consent"):
        return []  # a site apart from the platform (consent.enforce): no records here
    if not databases or "default" not in databases or connection.vendor != "postgresql":
        return []
    try:
        if partitions.is_partitioned():
            return []
        installed = partitions.available()
    except DatabaseError:
        return []  # not migrated yet, or unreachable: other checks say so
    return [
        Warning(
            "Consent records are one unpartitioned table"
            + ("" if installed else ": the server lacks the pg_partman extension"),
            hint="Install pg_partman (Debian: postgresql-15-partman) and run "
            "`manage.py partitions --convert`; see README, Scaling.",
            id="consent.W010",
        )
    ]
