"""The grammar of every admin-entered value that reaches a header, a cookie attribute, a
URL, a Content-Security-Policy or the banner's code.

Staff input is input: a Marketing ops user must not be able to write a CR/LF into a
Set-Cookie header, a `;` into a cookie attribute, a quote into a CSP source or a
`javascript:` URL into a link. Each field is held to a strict grammar here, in the
model, so the admin refuses it with a form error; the places that write headers guard
again (rows written before these rules existed).

Every regular expression is anchored with ``\\A`` (RegexValidator searches) and ``\\Z``
(``$`` would accept a trailing newline).
"""

import ipaddress
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator

# RFC 6265 §4.1.1: a cookie name is a token (RFC 2616 §2.2): visible ASCII except
# separators. A definition may use `*` as a wildcard (`_ga_*`), which is a token
# character too.
NAME_CHARACTER = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
COOKIE_NAME = re.compile(rf"\A{NAME_CHARACTER}{{1,200}}\Z")
# What a cookie attribute value may hold: visible ASCII without `;`, `,`, space or quotes.
ATTRIBUTE_CHARACTER = r"[!#-+\--:<-~]"
# A cookie path: starts with "/", then attribute characters.
COOKIE_PATH = re.compile(rf"\A/{ATTRIBUTE_CHARACTER}{{0,199}}\Z")
# Control characters: never in a header, whatever the database holds.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A DNS name: labels of letters, digits and hyphens, no hyphen at either end of a label.
LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
DNS_NAME = rf"{LABEL}(\.{LABEL})*"
# A cookie domain: a DNS name, optionally with a leading dot.
DOMAIN = re.compile(rf"\.?{DNS_NAME}\Z")
# A CSP host source: an optional `*.` wildcard, a DNS name, an optional port.
HOST = re.compile(rf"(\*\.)?{DNS_NAME}(:[0-9]{{1,5}})?\Z")
# BCP 47, as far as a banner's language needs: "en", "pt-BR", "zh-Hant-TW".
LANGUAGE = re.compile(r"\A[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}\Z")
# A category slug: a key in JSON, in the cookie (`slug=1`) and in the banner's objects.
SLUG = re.compile(r"[a-z][a-z0-9_]{1,31}\Z")
# Names the stored-choice cookie uses for its own fields (consent.choice), and names
# that mean something to every JavaScript object.
RESERVED_SLUGS = frozenset(
    {"id", "v", "t", "m", "constructor", "prototype", "hasownproperty", "tostring", "valueof"}
)

# A site key: it appears in URLs (consent.api.converters matches it there).
SITE_KEY = r"[A-Za-z0-9_-]{3,64}"

validate_site_key = RegexValidator(
    rf"\A{SITE_KEY}\Z", "Use 3 to 64 letters, digits, '-' or '_' (it appears in URLs)."
)
validate_cookie_name = RegexValidator(
    COOKIE_NAME,
    "A cookie name is letters, digits and !#$%%&'*+-.^_`|~ only (RFC 6265), with * as a "
    "wildcard: no spaces, quotes, ';', ',', '=' or control characters.",
)
validate_exact_cookie_name = RegexValidator(
    re.compile(r"\A[!#$%&'+\-.^_`|~0-9A-Za-z]{1,64}\Z"),
    "A cookie name is letters, digits and !#$%%&'+-.^_`|~ only (RFC 6265): no spaces, "
    "quotes, '*', ';', ',', '=' or control characters.",
)
validate_cookie_path = RegexValidator(
    COOKIE_PATH,
    "A cookie path starts with '/' and has no spaces, quotes, ';', ',' or control characters.",
)
validate_language = RegexValidator(LANGUAGE, "Write a language tag such as en, de or pt-BR.")


def validate_cookie_domain(value: str) -> None:
    if value and not DOMAIN.match(value):
        raise ValidationError(
            f"{value!r} is not a cookie domain: write a host name such as .example.com "
            "(letters, digits, '-' and dots only)."
        )


def validate_category_slug(value: str) -> None:
    if not SLUG.match(value) or value.lower() in RESERVED_SLUGS:
        raise ValidationError(
            f"{value!r} cannot be a category slug: use 2 to 32 lowercase letters, digits or "
            "'_', starting with a letter, and none of id, v, t, m, constructor, prototype."
        )


def validate_hosts(value: str) -> None:
    """One CSP host source per line (or space)."""
    for host in value.split():
        if not HOST.match(host):
            raise ValidationError(
                f"{host!r} is not a host: write e.g. cdn.example.com, *.doubleclick.net "
                "or cdn.example.com:8443"
            )


def validate_origins(value: str) -> None:
    """One origin per line: scheme://host[:port], nothing else."""
    for origin in value.split():
        parts = urlsplit(origin)
        try:
            port_ok = parts.port is None or 0 < parts.port < 65536
        except ValueError:
            port_ok = False
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.username is not None
            or parts.password is not None
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or not port_ok
            or not (DOMAIN.match(parts.hostname) or _is_ip_literal(parts.hostname))
        ):
            raise ValidationError(
                f"{origin!r} is not an origin: write scheme://host[:port], one per line."
            )


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class HttpURLValidator(URLValidator):
    """A link shown to visitors: http or https only, never javascript: or data:."""

    schemes = ["http", "https"]

    def __call__(self, value: str) -> None:
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise ValidationError("A URL cannot hold control characters.", code=self.code)
        super().__call__(value)


validate_http_url = HttpURLValidator()


def validate_retention_days(value: int) -> None:
    """Evidence is kept at least as long as the settings say; nobody goes under that in
    the admin, whatever their role."""
    floor = settings.CONSENT_RETENTION_MIN_DAYS
    if value < floor:
        raise ValidationError(
            f"Records must be kept at least {floor} days (CONSENT_RETENTION_MIN_DAYS)."
        )


def validate_category_texts(value: object) -> None:
    """{"functional": {"name": "...", "description": "..."}}: plain strings only."""
    if not isinstance(value, dict):
        raise ValidationError('Write an object: {"functional": {"name": "…", "description": "…"}}')
    for slug, texts in value.items():
        if not isinstance(slug, str) or not SLUG.match(slug):
            raise ValidationError(f"{slug!r} is not a category slug.")
        if not isinstance(texts, dict) or not set(texts) <= {"name", "description"}:
            raise ValidationError(f'{slug}: give only "name" and "description".')
        for key, text in texts.items():
            if not isinstance(text, str) or len(text) > 2000:
                raise ValidationError(f"{slug}.{key}: a text of at most 2000 characters.")
