"""``fast_accept`` takes the decisions the banner sends without the serializer; the
serializer stays the definition of what is valid. For any input, fast_accept either
declines (the serializer then decides) or yields exactly what the serializer would."""

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.api.recording import fast_accept
from consent.api.serializers import ConsentSerializer
from consent.siteconfig import get_bundle

pytestmark = pytest.mark.django_db

BANNER_BODIES = [
    {
        "categories": {"functional": True, "advertising": True},
        "policy_version": 1,
        "method": "accept_all",
        "language": "en",
        "page_url": "https://shop.example/",
    },
    {
        "categories": {"functional": False, "advertising": False},
        "policy_version": 1,
        "method": "reject_all",
        "language": "de-AT",
        "page_url": "https://shop.example/basket?coupon=a@b.c#top",
    },
    {
        "categories": {"functional": True, "advertising": False},
        "policy_version": 1,
        "method": "custom",
        "language": "fr",
        "page_url": "http://localhost:8000/demo/",
        "consent_id": str(uuid.uuid4()),
        "decision_id": str(uuid.uuid4()),
    },
    {
        "categories": {"required": True, "functional": False, "advertising": False},
        "policy_version": 1,
        "method": "gpc",
        "consent_id": None,
        "decision_id": None,
    },
    {
        "categories": {"functional": False, "advertising": False},
        "policy_version": 1,
        "method": "withdraw",
        "language": "",
        "page_url": "",
    },
]


def serializer_says(data, bundle):
    serializer = ConsentSerializer(data=data, context={"bundle": bundle})
    return serializer.validated_data if serializer.is_valid() else None


def agrees(data, bundle) -> bool:
    fast = fast_accept(data, bundle)
    return fast is None or fast == serializer_says(data, bundle)


@pytest.mark.parametrize("data", BANNER_BODIES)
def test_what_the_banner_sends_takes_the_fast_road_and_matches(site, data):
    bundle = get_bundle("demo")
    fast = fast_accept(data, bundle)
    assert fast is not None
    assert fast == serializer_says(data, bundle)


ODD_VALUES = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2,
    1.0,
    "",
    " ",
    "1",
    "true",
    "en ",
    " en",
    "EN",
    "e",
    "en-",
    "en\n",
    "de-AT-x-private",
    "a" * 17,
    "https://shop.example/ ",
    " https://a.b/",
    "https://shop.example/\x00",
    "ftp://shop.example/",
    "javascript:alert(1)",
    "https://bücher.example/",
    "https://" + "a" * 2000 + ".example/",
    "http://localhost",
    "https://[::1]:8000/x",
    "https://shop.example/\ud800",
    str(uuid.uuid4()),
    str(uuid.uuid4()).upper(),
    "{" + str(uuid.uuid4()) + "}",
    uuid.uuid4().hex,
    "urn:uuid:" + str(uuid.uuid4()),
    "accept_all",
    "reject_all",
    "custom",
    "gpc",
    "dnt",
    "withdraw",
    "maybe",
    [],
    {},
    ["functional"],
    {"functional": True},
]


@pytest.mark.parametrize(
    "field",
    ["categories", "policy_version", "method", "language", "page_url", "consent_id", "decision_id"],
)
def test_any_odd_value_in_any_field_is_declined_or_read_alike(site, field):
    bundle = get_bundle("demo")
    for base in BANNER_BODIES:
        for value in ODD_VALUES:
            assert agrees(base | {field: value}, bundle), (field, value)
        assert agrees({k: v for k, v in base.items() if k != field}, bundle), field


@pytest.mark.parametrize(
    "categories",
    [
        {"functional": True},
        {"functional": True, "advertising": False, "analytics": True},
        {"functional": True, "advertising": False, "required": False},
        {"functional": True, "advertising": False, "required": 1},
        {"functional": 1, "advertising": 0},
        {"functional": None, "advertising": False},
        {"functional": True, "advertising": False, "required": True},
    ],
)
def test_odd_categories_are_declined_or_read_alike(site, categories):
    bundle = get_bundle("demo")
    for method in ("accept_all", "reject_all", "custom", "gpc"):
        data = {"categories": categories, "policy_version": 1, "method": method}
        assert agrees(data, bundle)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
FIELD_VALUES = {
    "categories": st.dictionaries(
        st.sampled_from(["functional", "advertising", "required", "other"]),
        st.booleans() | JSON,
        max_size=4,
    )
    | JSON,
    "policy_version": st.integers(-1, 3) | JSON,
    "method": st.sampled_from(["accept_all", "reject_all", "custom", "gpc", "withdraw"]) | JSON,
    "language": st.from_regex(r"[a-zA-Z]{1,9}(-[a-zA-Z0-9]{1,9})?", fullmatch=True) | JSON,
    "page_url": st.sampled_from(["https://shop.example/a?b", "http://x.y/", ""]) | JSON,
    "consent_id": st.uuids().map(str) | JSON,
    "decision_id": st.uuids().map(str) | JSON,
}


RANDOM = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@RANDOM
@given(data=st.fixed_dictionaries({}, optional=FIELD_VALUES | {"surprise": JSON}))
def test_random_decisions_are_declined_or_read_alike(site, data):
    assert agrees(data, get_bundle("demo"))


@RANDOM
@given(
    base=st.sampled_from(BANNER_BODIES),
    changes=st.fixed_dictionaries({}, optional=FIELD_VALUES),
)
def test_banner_bodies_with_random_changes_are_declined_or_read_alike(site, base, changes):
    assert agrees(base | changes, get_bundle("demo"))
