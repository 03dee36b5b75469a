"""The visitor's stored choice: the first-party cookie the banner writes.

Its value is ``id=<uuid>&v=<policy version>&t=<unix seconds>&m=<method>&<slug>=1|0...``,
one ``slug=1|0`` per optional category (banner_static/src/cookie-store.js writes it). The
server reads it to enforce the same choice the banner enforces in the browser, so both
read it by one grammar and pick the same cookie when the browser holds two
(banner_static/src/choice.js is the browser's copy of this module).
"""

import re
from dataclasses import dataclass

from .rules import Method, Signals, is_current

# Browsers keep at most 4096 bytes per cookie; anything longer was not written by us.
# Nothing the banner writes needs more than these characters, and keeping to them makes
# Python and JavaScript see the same string (no quoting, decoding or Unicode rules).
VALUE = re.compile(r"[A-Za-z0-9_&=-]{1,4096}")
NUMBER = re.compile(r"[0-9]{1,10}")  # exact in a JavaScript number too
CONSENT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
METHODS = frozenset(Method.values)
FIELDS = frozenset({"id", "v", "t", "m"})


@dataclass(frozen=True)
class StoredChoice:
    consent_id: str
    policy_version: int
    time: int
    method: str
    categories: dict[str, bool]

    @classmethod
    def parse(cls, value: str) -> "StoredChoice | None":
        """The choice in a cookie value; None when it is malformed or forged in any way,
        which the caller treats exactly like no choice at all."""
        if not VALUE.fullmatch(value):
            return None
        fields: dict[str, str] = {}
        for pair in value.split("&"):
            key, sep, item = pair.partition("=")
            if not sep or key in fields:
                return None
            fields[key] = item
        if not fields.keys() >= FIELDS or fields["m"] not in METHODS:
            return None
        if not (
            CONSENT_ID.fullmatch(fields["id"])
            and NUMBER.fullmatch(fields["v"])
            and NUMBER.fullmatch(fields["t"])
        ):
            return None
        categories = {}
        for key, item in fields.items():
            if key in FIELDS:
                continue
            if item not in ("0", "1"):
                return None
            categories[key] = item == "1"
        return cls(fields["id"], int(fields["v"]), int(fields["t"]), fields["m"], categories)

    def is_current(self, policy_version: int, signals: Signals) -> bool:
        """Whether this choice still answers the site's question (rules.is_current)."""
        return is_current(self.policy_version, self.method, policy_version, signals)


def stored_value(cookie_header: str, name: str) -> str:
    """The value of the visitor's consent cookie in a raw ``Cookie`` header; "" if none.

    A browser can hold two (one host-only and one for the parent domain, or on two
    paths) and sends both, while ``request.COOKIES`` keeps only the last. The newest
    valid one by its time ``t`` counts, a tie going to the greater value, as in the
    banner: the server and the browser then enforce the same choice.
    """
    if name not in cookie_header:
        return ""
    values = []
    for chunk in cookie_header.split(";"):
        if name not in chunk:
            continue
        key, sep, value = chunk.partition("=")
        if sep and key.strip(" \t") == name:
            value = value.strip(" \t")
            # A quoted value (RFC 6265 §4.1.1) is the same value; Python's clients quote.
            if len(value) > 1 and value[0] == value[-1] == '"':
                value = value[1:-1]
            values.append(value)
    if len(values) < 2:
        return values[0] if values else ""
    newest, newest_key = "", None
    for value in values:
        choice = StoredChoice.parse(value)
        if choice is not None and (newest_key is None or (choice.time, value) > newest_key):
            newest, newest_key = value, (choice.time, value)
    return newest
