"""A site apart from the platform reads the platform's rules document back, and refuses
anything else: what comes over the network is input."""

import hashlib
import json

import pytest

from consent.rules import CookieRule
from consent.ruleset import InvalidRules, SiteRuleSet

GOOD = {
    "site": "demo",
    "policyVersion": 3,
    "cookieName": "consent",
    "categories": [{"slug": "required", "required": True}, {"slug": "functional"}],
    "cookies": [
        {"name": "sessionid", "category": "required", "domain": "", "path": "/"},
        {"name": "_ga_*", "category": "functional", "domain": ".shop.example", "path": "/"},
    ],
    "hosts": {"functional": ["www.googletagmanager.com"]},
}


def document(**changes) -> bytes:
    return json.dumps(GOOD | changes).encode()


def test_it_reads_back_what_the_platform_publishes():
    published = SiteRuleSet.of(
        "demo",
        3,
        "consent",
        ["required", "functional"],
        [CookieRule("sessionid", "required"), CookieRule("_ga_*", "functional", ".shop.example")],
        {"functional": ["www.googletagmanager.com"]},
    )
    ruleset = SiteRuleSet.parse(published.document, "demo")
    assert ruleset == published
    assert ruleset.optional_categories == ("functional",)
    assert ruleset.rules[1] == CookieRule("_ga_*", "functional", ".shop.example", "/")
    assert ruleset.hosts_by_category == {"functional": ("www.googletagmanager.com",)}
    digest = hashlib.sha256(published.document).hexdigest()[:32]
    assert ruleset.etag == f'"r-{digest}"'


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{" * 100_000,
        document(site="other"),
        document(policyVersion=True),
        document(policyVersion="3"),
        document(policyVersion=-1),
        document(cookieName="con sent"),
        document(cookieName=""),
        document(categories=[{"slug": "functional"}, {"slug": "required"}]),
        document(
            categories=[
                {"slug": "required", "required": True},
                {"slug": "functional", "required": True},
            ]
        ),
        document(categories=[{"slug": "required", "required": True}, {"slug": "a.b"}]),
        document(categories=[{"slug": "required", "required": True}, {"slug": "functional"}] * 2),
        document(cookies=[{"name": "_ga", "category": "advertising", "domain": "", "path": "/"}]),
        document(cookies=[{"name": "_ga", "category": "functional", "path": "/"}]),
        document(cookies=[{"name": "a;b", "category": "functional", "domain": "", "path": "/"}]),
        document(
            cookies=[{"name": "_ga", "category": "functional", "domain": "", "path": "/" * 301}]
        ),
        document(cookies={"_ga": "functional"}),
        document(hosts={"advertising": ["ads.example"]}),
        document(hosts={"functional": "www.googletagmanager.com"}),
        document(hosts={"functional": [1]}),
        document(hosts={"functional": ["x"] * 5001}),
        b" " * (1024 * 1024 + 1),
    ],
)
def test_it_refuses_anything_else(body):
    with pytest.raises(InvalidRules):
        SiteRuleSet.parse(body, "demo")


def test_it_ignores_fields_it_does_not_know():
    ruleset = SiteRuleSet.parse(document(future={"x": 1}), "demo")
    assert ruleset.policy_version == 3
