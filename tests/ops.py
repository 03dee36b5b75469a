"""Records for the operations tests: made through records.record_consent, like the API."""

import uuid
from datetime import datetime

from consent import records
from consent.bundles import get_bundle
from consent.models import ConsentRecord
from consent.rules import Signals


def decide(
    when: datetime,
    method: str = "custom",
    functional: bool = True,
    advertising: bool = False,
    signals: Signals = Signals(),  # noqa: B008
    consent_id: uuid.UUID | None = None,
    policy_version: int = 1,
) -> ConsentRecord:
    record, _ = records.record_consent(
        get_bundle("demo"),
        categories={"functional": functional, "advertising": advertising},
        policy_version=policy_version,
        method=method,
        signals=signals,
        consent_id=consent_id,
        language="de-AT",
        page_url="https://shop.example/cart?coupon=SECRET",
        ip="203.0.113.77",
        now=when,
    )
    return record
