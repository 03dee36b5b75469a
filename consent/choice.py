"""The visitor's stored choice: the first-party cookie the banner writes.

Its value is ``id=<uuid>&v=<policy version>&t=<unix seconds>&m=<method>&<slug>=1|0...``,
one ``slug=1|0`` per optional category (banner_static/src/cookie-store.js writes it). The
server reads it to enforce the same choice the banner enforces in the browser.
"""

import uuid
from dataclasses import dataclass

from .models import Method
from .policy import Signals

# Browsers keep at most 4096 bytes per cookie; anything longer was not written by us.
MAX_LENGTH = 4096
METHODS = frozenset(Method.values)
SIGNAL_METHODS = frozenset({Method.GPC, Method.DNT})
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
        if not value or len(value) > MAX_LENGTH:
            return None
        fields: dict[str, str] = {}
        for pair in value.split("&"):
            key, sep, item = pair.partition("=")
            if not sep or key in fields:
                return None
            fields[key] = item
        if not fields.keys() >= FIELDS or fields["m"] not in METHODS:
            return None
        try:
            consent_id = str(uuid.UUID(fields["id"]))
            version, time = int(fields["v"]), int(fields["t"])
        except ValueError:
            return None
        if version < 1 or time < 0:
            return None
        categories = {}
        for key, item in fields.items():
            if key in FIELDS:
                continue
            if item not in ("0", "1"):
                return None
            categories[key] = item == "1"
        return cls(consent_id, version, time, fields["m"], categories)

    def is_current(self, policy_version: int, signals: Signals) -> bool:
        """Whether this choice still answers the site's question, as the banner decides:
        a choice for another policy version is no choice (a material change asks again),
        and a refusal the banner recorded because of GPC/DNT lapses with the signal."""
        if self.policy_version != policy_version:
            return False
        return self.method not in SIGNAL_METHODS or signals.opt_out
