"""Each method sends its route's request and parses its answer into the typed result.

The answers are the shapes the handlers in functions/*/app.py build, with an extra field
each to show that fields added later are ignored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from billing_client import (
    AuditedSource,
    CurrencyRevenue,
    CustomerCounts,
    Entitlement,
    InvalidRequestError,
    MrrMovements,
    NotFoundError,
    PriceSubscriptions,
    ServerError,
    UnexpectedResponseError,
)
from tests.unit.client.fakes import BASE_URL, answer, harness, json_of, path_of, query_of

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)
FEB_1 = datetime(2026, 2, 1, tzinfo=UTC)


# ---------------------------------------------------------------------- probes
def test_health_and_live_read_the_status_and_send_the_key_anyway() -> None:
    h = harness(answer(200, {"status": "ok"}), answer(200, {"status": "alive", "extra": 1}))

    assert h.client.health().status == "ok"
    assert h.client.live().status == "alive"

    assert [(r.method, r.url) for r in h.transport.requests] == [
        ("GET", f"{BASE_URL}/health"),
        ("GET", f"{BASE_URL}/live"),
    ]
    assert all("X-API-Key" in r.headers for r in h.transport.requests)


def test_ready_is_true_on_200() -> None:
    h = harness(answer(200, {"status": "ready"}))

    readiness = h.client.ready()

    assert (readiness.ready, readiness.status, readiness.reason) == (True, "ready", None)


def test_ready_is_false_with_the_reason_on_503_without_raising_or_retrying() -> None:
    h = harness(answer(503, {"status": "unavailable", "reason": "DynamoDB did not answer"}))

    readiness = h.client.ready()

    assert readiness.ready is False
    assert readiness.reason == "DynamoDB did not answer"
    assert len(h.transport.requests) == 1


def test_ready_still_raises_on_other_failures() -> None:
    h = harness(answer(502), answer(502), answer(502))
    with pytest.raises(ServerError, match="502"):
        h.client.ready()
    assert len(h.transport.requests) == 3


def test_openapi_returns_the_document_as_a_dict() -> None:
    document = {"openapi": "3.1.0", "info": {"title": "billing"}, "paths": {"/health": {}}}
    h = harness(answer(200, document))

    assert h.client.openapi() == document
    assert path_of(h.transport.last).endswith("/api/v1/openapi.json")


# ---------------------------------------------------------------------- checkout and portal
def test_checkout_posts_the_body_and_reads_url_and_session() -> None:
    h = harness(
        answer(200, {"checkout_url": "https://checkout.stripe.com/c/cs_1", "session_id": "cs_1"})
    )

    session = h.client.create_checkout_session(
        user_id="user_1",
        project_id=1,
        price_id="price_123",
        mode="subscription",
        success_url="https://app.example.com/ok",
        cancel_url="https://app.example.com/cancel",
        trial_days=14,
    )

    assert session.checkout_url == "https://checkout.stripe.com/c/cs_1"
    assert session.session_id == "cs_1"
    request = h.transport.last
    assert (request.method, path_of(request)) == ("POST", "/v1/api/v1/checkout/session")
    assert request.headers["Content-Type"] == "application/json"
    assert json_of(request) == {
        "user_id": "user_1",
        "project_id": 1,
        "price_id": "price_123",
        "mode": "subscription",
        "success_url": "https://app.example.com/ok",
        "cancel_url": "https://app.example.com/cancel",
        "trial_days": 14,
    }


def test_portal_session_and_eligibility() -> None:
    h = harness(
        answer(200, {"portal_url": "https://billing.stripe.com/p/1"}),
        answer(200, {"eligible": False, "reason": "no_customer"}),
        answer(200, {"portal_url": "https://billing.stripe.com/p/2"}),
    )

    portal = h.client.create_portal_session(
        user_id="user_1", project_id="1", return_url="https://app.example.com/account"
    )
    eligibility = h.client.portal_eligibility(user_id="user_1", project_id=1)
    assert query_of(h.transport.last) == {"user_id": "user_1", "project_id": "1"}
    h.client.create_portal_session(
        user_id="user_1", project_id="1", return_url="https://a.example.com/", currency="eur"
    )
    assert json_of(h.transport.requests[2])["currency"] == "eur"

    assert portal.portal_url == "https://billing.stripe.com/p/1"
    assert json_of(h.transport.requests[0]) == {
        "user_id": "user_1",
        "project_id": "1",
        "return_url": "https://app.example.com/account",
    }
    assert (eligibility.eligible, eligibility.reason) == (False, "no_customer")


# ---------------------------------------------------------------------- entitlements
def test_entitlements_parse_times_as_utc_and_the_reason_of_inactive_ones() -> None:
    body = {
        "entitlements": [
            {
                "feature_code": "pro",
                "active": True,
                "source": "subscription",
                "source_id": "sub_1",
                "valid_from": "2026-01-01T00:00:00Z",
                "valid_to": None,
                "new_field": "ignored",
            },
            {
                "feature_code": "beta",
                "active": False,
                "source": "manual",
                "source_id": "grant_1",
                "valid_from": "2026-01-01T00:00:00Z",
                "valid_to": "2026-02-01T00:00:00Z",
                "reason": "revoked",
            },
        ]
    }
    h = harness(answer(200, body))

    found = h.client.entitlements(user_id="user@example.com", project_id=1)

    assert found == [
        Entitlement("pro", True, "subscription", "sub_1", JAN_1, None),
        Entitlement("beta", False, "manual", "grant_1", JAN_1, FEB_1, "revoked"),
    ]
    assert found[0].valid_from.tzinfo is UTC
    assert query_of(h.transport.last) == {"user_id": "user@example.com", "project_id": "1"}
    assert "user%40example.com" in h.transport.last.url


def test_check_entitlement_sends_the_feature_and_reads_its_end() -> None:
    h = harness(
        answer(200, {"feature_code": "pro", "active": True, "valid_to": "2026-02-01T00:00:00Z"})
    )

    check = h.client.check_entitlement(user_id="user_1", project_id=1, feature_code="pro")

    assert (check.feature_code, check.active, check.valid_to) == ("pro", True, FEB_1)
    assert query_of(h.transport.last) == {
        "user_id": "user_1",
        "project_id": "1",
        "feature_code": "pro",
    }


# ---------------------------------------------------------------------- admin
GRANT_ANSWER = {
    "project_id": "1",
    "user_id": "user_1",
    "feature_code": "beta",
    "active": True,
    "source": "manual",
    "source_id": "grant_abc",
    "valid_from": "2026-01-01T00:00:00Z",
    "valid_to": "2026-02-01T00:00:00Z",
    "granted_by": "support@example.com",
    "reason": "early access",
    "created": True,
}


def test_grant_sends_valid_to_in_utc_with_a_z_and_reads_the_grant() -> None:
    h = harness(answer(201, GRANT_ANSWER))
    paris = timezone(timedelta(hours=1))

    granted = h.client.grant(
        user_id="user_1",
        project_id=1,
        feature_code="beta",
        granted_by="support@example.com",
        reason="early access",
        valid_to=datetime(2026, 2, 1, 1, 0, tzinfo=paris),
    )

    assert json_of(h.transport.last)["valid_to"] == "2026-02-01T00:00:00Z"
    assert granted.created is True
    assert (granted.source_id, granted.valid_from, granted.valid_to) == ("grant_abc", JAN_1, FEB_1)


def test_grant_without_an_end_sends_no_valid_to() -> None:
    h = harness(answer(200, {**GRANT_ANSWER, "valid_to": None, "created": False}))

    granted = h.client.grant(
        user_id="user_1", project_id=1, feature_code="beta", granted_by="s", reason="r"
    )

    assert "valid_to" not in json_of(h.transport.last)
    assert (granted.valid_to, granted.created) == (None, False)


def test_a_naive_time_is_refused_before_anything_is_sent() -> None:
    h = harness()

    with pytest.raises(ValueError, match="timezone-aware"):
        h.client.grant(
            user_id="u",
            project_id=1,
            feature_code="beta",
            granted_by="s",
            reason="r",
            valid_to=datetime(2026, 2, 1),  # naive: the mistake under test
        )

    assert h.transport.requests == []


def test_revoke_posts_its_twin_body_and_reads_the_revocation() -> None:
    h = harness(
        answer(
            200,
            {
                "project_id": "1",
                "user_id": "user_1",
                "feature_code": "beta",
                "revoked": True,
                "source": "manual",
                "source_id": "grant_abc",
                "revoked_by": "support",
                "reason": "abuse",
                "revoked_at": "2026-01-15T12:30:00Z",
            },
        )
    )

    revocation = h.client.revoke(
        user_id="user_1", project_id=1, feature_code="beta", revoked_by="support", reason="abuse"
    )

    assert json_of(h.transport.last) == {
        "user_id": "user_1",
        "project_id": 1,
        "feature_code": "beta",
        "revoked_by": "support",
        "reason": "abuse",
    }
    assert revocation.revoked is True
    assert revocation.revoked_at == datetime(2026, 1, 15, 12, 30, tzinfo=UTC)


def audit_item(action: str, at: str) -> dict[str, object]:
    source = {
        "feature_code": "beta",
        "source": "manual",
        "source_id": "grant_abc",
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_to": None,
        "in_force": action == "grant",
        "reason": None if action == "grant" else "revoked",
        "expiry_reason": "expired",
    }
    return {
        "action": action,
        "feature_code": "beta",
        "actor": "support",
        "reason": "because",
        "at": at,
        "app_id": "app_1",
        "before": None if action == "grant" else {**source, "in_force": True, "reason": None},
        "after": source,
    }


def test_audit_reads_a_page_with_before_and_after() -> None:
    h = harness(
        answer(
            200,
            {"items": [audit_item("revoke", "2026-01-02T00:00:00Z")], "next_cursor": "abc="},
        )
    )

    page = h.client.audit(user_id="user_1", project_id=1, limit=1)

    (entry,) = page.items
    assert page.next_cursor == "abc="
    assert (entry.action, entry.at) == ("revoke", datetime(2026, 1, 2, tzinfo=UTC))
    assert entry.before == AuditedSource("beta", "manual", "grant_abc", JAN_1, None, True, None)
    assert entry.after is not None and entry.after.reason == "revoked"
    assert query_of(h.transport.last) == {"user_id": "user_1", "project_id": "1", "limit": "1"}


def test_iter_audit_follows_the_cursor_to_the_end() -> None:
    h = harness(
        answer(200, {"items": [audit_item("revoke", "2026-01-02T00:00:00Z")], "next_cursor": "c1"}),
        answer(200, {"items": [audit_item("grant", "2026-01-01T00:00:00Z")], "next_cursor": None}),
    )

    actions = [e.action for e in h.client.iter_audit(user_id="user_1", project_id=1, page_size=1)]

    assert actions == ["revoke", "grant"]
    assert "cursor" not in query_of(h.transport.requests[0])
    assert query_of(h.transport.requests[1])["cursor"] == "c1"


# ---------------------------------------------------------------------- metrics
WINDOW = {"since": "2026-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z"}


def test_subscription_metrics_send_the_window_and_read_the_figures() -> None:
    h = harness(
        answer(
            200,
            {
                "project_id": "7",
                **WINDOW,
                "counts_by_status": {"active": 3, "canceled": 1},
                "total_active": 3,
                "new": 2,
                "churned": 1,
                "by_price": {"price_1": {"active": 3, "feature_codes": ["pro"]}},
                "by_feature": {"pro": 3},
                "currencies": {"usd": USD_FIGURES},
            },
        )
    )

    figures = h.client.subscription_metrics(project_id=7, since=JAN_1, until=FEB_1)

    assert path_of(h.transport.last) == "/v1/api/v1/metrics/project/7/subscriptions"
    assert query_of(h.transport.last) == WINDOW
    assert (figures.since, figures.until) == (JAN_1, FEB_1)
    assert figures.counts_by_status == {"active": 3, "canceled": 1}
    assert (figures.total_active, figures.new, figures.churned) == (3, 2, 1)
    assert figures.by_price == {"price_1": PriceSubscriptions(3, ("pro",))}
    assert figures.by_feature == {"pro": 3}
    assert figures.currencies == {"usd": USD_REVENUE}


USD_FIGURES = {
    "gross": 1800,
    "refunded": 900,
    "disputed": 300,
    "net": 600,
    "mrr": 900,
    "arr": 10800,
    "mrr_start": 1000,
    "mrr_end": 900,
    "movements": {
        "new": 500,
        "reactivation": 0,
        "expansion": 100,
        "contraction": 200,
        "churned": 500,
    },
    "customers": {"at_start": 4, "at_end": 4, "new": 1, "reactivated": 0, "churned": 1},
    "customer_churn_rate": 0.25,
    "revenue_churn_rate": None,
}
USD_REVENUE = CurrencyRevenue(
    1800,
    900,
    300,
    600,
    900,
    10800,
    1000,
    900,
    MrrMovements(500, 0, 100, 200, 500),
    CustomerCounts(4, 4, 1, 0, 1),
    0.25,
    None,
)


def test_revenue_metrics_without_a_window_send_no_query() -> None:
    h = harness(
        answer(
            200,
            {
                "project_id": "7",
                **WINDOW,
                "currencies": {"usd": USD_FIGURES},
            },
        )
    )

    revenue = h.client.revenue_metrics(project_id="7")

    assert h.transport.last.url == f"{BASE_URL}/api/v1/metrics/project/7/revenue"
    assert revenue.currencies == {"usd": USD_REVENUE}


def test_a_metrics_project_id_cannot_escape_its_path_segment() -> None:
    h = harness(answer(404, {"message": "Not found"}))

    with pytest.raises(NotFoundError):
        h.client.revenue_metrics(project_id="1/../../admin")

    assert path_of(h.transport.last) == "/v1/api/v1/metrics/project/1%2F..%2F..%2Fadmin/revenue"


def test_a_count_that_is_not_an_integer_is_an_unexpected_response() -> None:
    h = harness(
        answer(200, {"project_id": "7", **WINDOW, "currencies": {"usd": {"gross": "1800"}}})
    )
    with pytest.raises(UnexpectedResponseError, match="'gross' is not an integer"):
        h.client.revenue_metrics(project_id=7)


# ---------------------------------------------------------------------- webhooks
def test_a_webhook_is_relayed_as_raw_bytes_with_its_signature() -> None:
    payload = b'{"id": "evt_1",  "type": "charge.refunded"}'  # spacing kept: it is signed
    h = harness(answer(200, {"received": True, "id": "evt_1"}))

    receipt = h.client.post_stripe_webhook(payload, signature="t=1,v1=abc")

    request = h.transport.last
    assert request.body == payload
    assert request.headers["Stripe-Signature"] == "t=1,v1=abc"
    assert path_of(request).endswith("/api/v1/webhooks/stripe")
    assert (receipt.received, receipt.id) == (True, "evt_1")


def test_a_webhook_refused_for_its_signature_is_a_400() -> None:
    h = harness(answer(400, {"message": "invalid signature: no valid v1 signature"}))
    with pytest.raises(InvalidRequestError, match="invalid signature") as raised:
        h.client.post_stripe_webhook(b"{}", signature="t=1,v1=bad")
    assert raised.value.status == 400
