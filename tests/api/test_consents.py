import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from consent.api.throttles import SiteClientThrottle
from consent.models import ConsentRecord, PolicyVersion
from consent.records import RESEND_WINDOW

pytestmark = pytest.mark.django_db
URL = "/api/v1/sites/demo/consents"
ORIGIN = "https://shop.example"


def body(**overrides) -> dict:
    return {
        "categories": {"functional": True, "advertising": False},
        "policy_version": 1,
        "method": "custom",
        "language": "en",
        "page_url": "https://shop.example/basket?coupon=alice@example.com#top",
    } | overrides


def post(client, data, origin=ORIGIN, **headers):
    if origin:
        headers["Origin"] = origin
    raw = data if isinstance(data, str | bytes) else json.dumps(data)
    return client.post(
        URL,
        raw,
        content_type="application/json",
        headers=headers,
        REMOTE_ADDR=headers.pop("remote_addr", "203.0.113.77"),
    )


def test_it_records_a_decision_and_answers_with_a_receipt(client, site):
    response = post(client, body())
    assert response.status_code == 201
    receipt = response.json()
    record = ConsentRecord.objects.get()
    assert receipt["record_id"] == record.pk
    assert receipt["consent_id"] == str(record.consent_id)
    assert receipt["categories"] == {"required": True, "functional": True, "advertising": False}
    assert receipt["policy_version"] == 1
    assert (receipt["gpc"], receipt["dnt"]) == (False, False)
    assert record.method == "custom"
    assert record.page_url == "https://shop.example/basket"
    assert record.ip_prefix == "203.0.113.0/24"
    assert record.language == "en"
    assert len(record.texts_hash) == 64
    assert record.expires_at - record.created_at == timedelta(days=365)


def test_it_keeps_the_browsers_consent_id(client, site):
    consent_id = uuid.uuid4()
    post(client, body(consent_id=str(consent_id)))
    post(
        client,
        body(
            consent_id=str(consent_id),
            method="withdraw",
            categories={"functional": False, "advertising": False},
        ),
    )
    assert ConsentRecord.objects.filter(consent_id=consent_id).count() == 2


def test_a_refusal_lives_shorter_than_a_consent(client, site):
    post(client, body(method="reject_all", categories={"functional": False, "advertising": False}))
    record = ConsentRecord.objects.get()
    assert record.expires_at - record.created_at == timedelta(days=182)


def test_ipv6_is_truncated_to_48_bits(client, site):
    post(client, body(), remote_addr="2001:db8:abcd:12:1:2:3:4")
    assert ConsentRecord.objects.get().ip_prefix == "2001:db8:abcd::/48"


@pytest.mark.parametrize("header,field", [("Sec-GPC", "gpc"), ("DNT", "dnt")])
def test_a_signal_forces_every_optional_category_off(client, site, header, field):
    response = post(
        client,
        body(method="accept_all", categories={"functional": True, "advertising": True}),
        **{header: "1"},
    )
    assert response.status_code == 201
    receipt = response.json()
    assert receipt["categories"] == {"required": True, "functional": False, "advertising": False}
    assert receipt[field] is True
    assert receipt["method"] == field
    assert ConsentRecord.objects.get().categories["advertising"] is False


@pytest.mark.parametrize("value", ["0", "true", "yes", "1 1", ""])
def test_only_the_exact_value_1_is_a_signal(client, site, value):
    response = post(client, body(), **{"Sec-GPC": value, "DNT": value})
    assert response.json()["gpc"] is False
    assert response.json()["categories"]["functional"] is True


def test_the_text_hash_follows_the_language_shown(client, site):
    post(client, body(language="de-AT"))
    post(client, body(language="de"))
    post(client, body(language="en"))
    de_at, de, en = ConsentRecord.objects.order_by("id")
    assert de_at.texts_hash == de.texts_hash != en.texts_hash


def test_an_older_policy_version_is_accepted_and_stored_as_such(client, site):
    PolicyVersion.objects.create(site=site, summary="Added a vendor")
    assert post(client, body(policy_version=1)).status_code == 201
    assert post(client, body(policy_version=2)).status_code == 201
    assert list(ConsentRecord.objects.order_by("id").values_list("policy_version", flat=True)) == [
        1,
        2,
    ]


@pytest.mark.parametrize(
    "data,field",
    [
        (body(categories={"functional": True}), "categories"),
        (
            body(categories={"functional": True, "advertising": False, "analytics": True}),
            "categories",
        ),
        (
            body(categories={"functional": True, "advertising": False, "required": False}),
            "categories",
        ),
        (body(categories={"functional": "yes", "advertising": False}), "categories"),
        (body(categories={"functional": 1, "advertising": 0}), "categories"),
        (body(categories=["functional"]), "categories"),
        (body(policy_version=7), "policy_version"),
        (body(policy_version="1"), "policy_version"),
        (body(policy_version=True), "policy_version"),
        (body(method="maybe"), "method"),
        (body(consent_id="not-a-uuid"), "consent_id"),
        (body(consent_id=12), "consent_id"),
        (body(language="en'; DROP TABLE"), "language"),
        (body(page_url="javascript:alert(1)"), "page_url"),
        (body(method="accept_all"), "method"),
        (body(method="reject_all"), "method"),
        (body(surprise=True), "surprise"),
        ({k: v for k, v in body().items() if k != "method"}, "method"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(client, site, data, field):
    response = post(client, data)
    assert response.status_code == 400
    assert field in response.json()
    assert ConsentRecord.objects.count() == 0


@pytest.mark.parametrize(
    "raw", ['{"categories": ', "[1, 2]", '"text"', "null", "\x00\xff", "[" * 4000, '{"a":' * 800]
)
def test_malformed_json_is_a_400(client, site, raw):
    response = post(client, raw)
    assert response.status_code == 400
    assert ConsentRecord.objects.count() == 0


def test_a_body_over_the_limit_is_a_413(client, site):
    response = post(client, body(page_url="https://shop.example/" + "a" * 5000))
    assert response.status_code == 413
    assert ConsentRecord.objects.count() == 0


def test_an_unknown_site_is_a_404(client, site):
    response = client.post(
        "/api/v1/sites/nope/consents", json.dumps(body()), content_type="application/json"
    )
    assert response.status_code == 404


def test_a_foreign_origin_is_refused(client, site):
    response = post(client, body(), origin="https://evil.example")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert ConsentRecord.objects.count() == 0


def test_a_registered_origin_gets_cors_headers(client, site):
    response = post(client, body())
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in response["Vary"]


def test_the_preflight_is_answered_for_a_registered_origin(client, site):
    response = client.options(
        URL,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert response["Access-Control-Allow-Headers"] == "Content-Type"


def test_the_preflight_is_refused_for_a_foreign_origin(client, site):
    response = client.options(
        URL, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response


def test_only_post_is_allowed(client, site):
    assert client.get(URL).status_code == 405
    assert client.put(URL, "{}", content_type="application/json").status_code == 405


def test_responses_are_never_cached(client, site):
    assert post(client, body())["Cache-Control"] == "no-store"


def test_it_throttles_per_client_with_retry_after(client, site, monkeypatch):
    monkeypatch.setattr(SiteClientThrottle, "THROTTLE_RATES", {"consent": "3/min"})
    codes = [post(client, body()).status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    throttled = post(client, body())
    assert int(throttled["Retry-After"]) > 0
    assert post(client, body(), remote_addr="198.51.100.9").status_code == 201
    assert ConsentRecord.objects.count() == 4


def test_a_resent_decision_is_recorded_once(client, site):
    decision = body(consent_id=str(uuid.uuid4()), decision_id=str(uuid.uuid4()))
    first = post(client, decision)
    again = post(client, {**decision, "resent": True})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert ConsentRecord.objects.count() == 1


def test_a_decision_sent_twice_without_saying_so_is_stored_twice_not_lost(client, site):
    """Only a resend the banner marks is looked for (no unique index spans the monthly
    partitions); the same decision sent twice unmarked is never refused."""
    decision = body(consent_id=str(uuid.uuid4()), decision_id=str(uuid.uuid4()))
    codes = [post(client, decision).status_code for _ in range(2)]
    assert codes == [201, 201]
    assert ConsentRecord.objects.count() == 2


def test_a_resend_of_another_browsers_decision_id_is_a_new_record(client, site):
    decision_id = str(uuid.uuid4())
    post(client, body(consent_id=str(uuid.uuid4()), decision_id=decision_id))
    other = post(client, body(consent_id=str(uuid.uuid4()), decision_id=decision_id, resent=True))
    assert other.status_code == 201
    assert ConsentRecord.objects.count() == 2


def test_a_resend_after_the_window_is_a_new_record(client, site):
    decision = body(consent_id=str(uuid.uuid4()), decision_id=str(uuid.uuid4()))
    post(client, decision)
    # The first send, as if it was made longer ago than the window.
    ConsentRecord.objects.all()._sanctioned_update(
        created_at=timezone.now() - RESEND_WINDOW - timedelta(hours=1)
    )
    assert post(client, {**decision, "resent": True}).status_code == 201
    assert ConsentRecord.objects.count() == 2


def test_resent_must_be_a_boolean(client, site):
    response = post(client, body(resent="yes"))
    assert response.status_code == 400
    assert "resent" in response.json()


def test_another_decision_of_the_same_browser_is_a_new_record(client, site):
    consent_id = str(uuid.uuid4())
    post(client, body(consent_id=consent_id, decision_id=str(uuid.uuid4())))
    second = post(client, body(consent_id=consent_id, decision_id=str(uuid.uuid4())))
    assert second.status_code == 201
    assert ConsentRecord.objects.filter(consent_id=consent_id).count() == 2


def test_a_malformed_decision_id_is_a_400(client, site):
    response = post(client, body(decision_id="twice"))
    assert response.status_code == 400
    assert "decision_id" in response.json()


def test_a_version_published_by_another_process_is_accepted_at_once(client, site):
    post(client, body())  # this process now holds the site as it was
    # Another process publishes version 2: it writes the row (no signal runs here) and
    # deletes the shared entries, exactly as its own invalidation does.
    from django.core.cache import cache

    from consent.bundles import cache_key, stamp_key

    PolicyVersion.objects.bulk_create([PolicyVersion(site=site, version=2, summary="New vendor")])
    cache.delete_many([cache_key("demo"), stamp_key("demo")])
    response = post(client, body(policy_version=2))
    assert response.status_code == 201
    assert response.json()["policy_version"] == 2


def test_every_field_at_fault_is_named_at_once_with_its_messages(client, site):
    response = post(
        client,
        body(
            consent_id=7,
            policy_version=0,
            method="maybe",
            language="en\n",
            page_url="ftp://shop.example/",
            categories={"functional": "yes", "advertising": False},
            surprise=1,
        ),
    )
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {
        "consent_id",
        "policy_version",
        "method",
        "language",
        "page_url",
        "categories",
        "surprise",
    }
    assert errors["categories"] == {"functional": ["Must be true or false."]}
    assert all(isinstance(errors[name], list) for name in set(errors) - {"categories"})
    assert ConsentRecord.objects.count() == 0


def test_the_site_checks_name_each_category_at_fault(client, site):
    response = post(
        client, body(categories={"functional": True, "analytics": True, "required": False})
    )
    assert response.status_code == 400
    assert response.json() == {
        "categories": {
            "required": ["Required cookies cannot be refused."],
            "analytics": ["Unknown category."],
            "advertising": ["Missing: every optional category needs an answer."],
        }
    }


@pytest.mark.parametrize(
    "page_url", ["https://shop.example/a\x00b", "https://shop.example/\ud800", " https://x.example"]
)
def test_a_page_url_no_database_can_store_is_a_400(client, site, page_url):
    response = post(client, json.dumps(body(page_url=page_url)))
    assert response.status_code == 400
    assert "page_url" in response.json()
    assert ConsentRecord.objects.count() == 0


def test_an_error_naming_what_cannot_be_encoded_is_still_json(client, site):
    response = post(client, '{"\\ud800": 1, "\\u2028": 2}')
    assert response.status_code == 400
    assert set(response.json()) >= {"\ud800", "\u2028"}
    assert b"\\u2028" in response.content


def test_the_site_checks_name_every_field_at_fault_at_once(client, site):
    response = post(
        client, body(categories={"functional": True, "analytics": True}, policy_version=99)
    )
    assert response.status_code == 400
    assert set(response.json()) == {"categories", "policy_version"}


def test_a_latin_1_body_is_read_in_its_charset(client, site):
    raw = json.dumps(body(page_url="https://shop.example/café"), ensure_ascii=False)
    response = client.post(
        URL,
        raw,  # the test client encodes it in the charset named
        content_type="application/json; charset=iso-8859-1",
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 201
    assert ConsentRecord.objects.get().page_url == "https://shop.example/café"


def test_a_content_length_that_is_no_ascii_number_is_a_413(client, site):
    response = client.post(
        URL, json.dumps(body()), content_type="application/json", CONTENT_LENGTH="²"
    )
    assert response.status_code == 413


def test_the_preflight_has_no_body_type_and_every_answer_says_what_is_allowed(client, site):
    preflight = client.options(
        URL, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert "Content-Type" not in preflight
    assert preflight["Allow"] == "POST, OPTIONS"
    assert post(client, body())["Allow"] == "POST, OPTIONS"
