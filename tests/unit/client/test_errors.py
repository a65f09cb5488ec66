"""Error answers become errors by kind, with the service's message and field problems; the
API key shows up nowhere."""

from __future__ import annotations

import pytest

from billing_client import (
    BillingApiError,
    BillingClient,
    BillingConnectionError,
    ConflictError,
    FieldProblem,
    ForbiddenError,
    HttpRequest,
    HttpResponse,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
    UnauthorizedError,
    UnexpectedResponseError,
)
from tests.unit.client.fakes import API_KEY, BASE_URL, answer, harness


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, InvalidRequestError),
        (401, UnauthorizedError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, BillingApiError),
        (422, InvalidRequestError),
        (429, RateLimitedError),
        (500, ServerError),
        (502, ServerError),
        (503, ServiceUnavailableError),
    ],
)
def test_each_status_maps_to_its_kind(status: int, kind: type[BillingApiError]) -> None:
    h = harness(answer(status, {"message": "said the service"}), max_retries=0)

    with pytest.raises(BillingApiError) as raised:
        h.client.portal_eligibility(user_id="user_1", project_id=1)

    assert type(raised.value) is kind
    assert raised.value.status == status
    assert raised.value.message == "said the service"


MESSAGE_422 = "invalid mode: must be subscription or payment (and 1 more in errors)"


def test_a_422_carries_its_field_problems_message_and_raw_body() -> None:
    body = {
        "message": MESSAGE_422,
        "errors": [
            {"field": "mode", "reason": "Input should be 'subscription' or 'payment'"},
            {"field": "quantity", "reason": "Input should be greater than or equal to 1"},
        ],
    }
    h = harness(answer(422, body))

    with pytest.raises(InvalidRequestError) as raised:
        h.client.create_checkout_session(
            user_id="user_1",
            project_id=1,
            price_id="price_1",
            mode="subscription",
            success_url="https://app.example.com/ok",
            cancel_url="https://app.example.com/cancel",
            quantity=0,
        )

    error = raised.value
    assert error.message == MESSAGE_422
    assert error.errors == (
        FieldProblem("mode", "Input should be 'subscription' or 'payment'"),
        FieldProblem("quantity", "Input should be greater than or equal to 1"),
    )
    assert error.body == answer(422, body).body
    assert str(error) == (
        f"POST /api/v1/checkout/session: 422 {MESSAGE_422} "
        "(mode: Input should be 'subscription' or 'payment'; "
        "quantity: Input should be greater than or equal to 1)"
    )


def test_detail_is_the_message_when_there_is_no_message() -> None:
    h = harness(answer(404, {"detail": "customer not found: complete a checkout first"}))

    with pytest.raises(NotFoundError, match="customer not found"):
        h.client.create_portal_session(user_id="u", project_id=1, return_url="https://a.b/c")


def test_a_body_that_is_not_json_gives_the_status_phrase_and_keeps_the_body() -> None:
    h = harness(answer(502, b"<html>upstream failed</html>"))

    with pytest.raises(ServerError) as raised:
        h.client.post_stripe_webhook(b"x" * 10, signature="t=1,v1=a")

    assert raised.value.message == "Bad Gateway"
    assert raised.value.body == b"<html>upstream failed</html>"
    assert raised.value.errors == ()


def test_the_gateways_request_id_is_kept_for_support() -> None:
    h = harness(answer(403, {"message": "Project ID does not match"}, x_amzn_RequestId="req-9"))

    with pytest.raises(ForbiddenError) as raised:
        h.client.entitlements(user_id="user_1", project_id=2)

    assert raised.value.request_id == "req-9"
    assert str(raised.value) == "GET /api/v1/entitlements: 403 Project ID does not match"


def test_the_message_names_the_path_but_not_the_query() -> None:
    h = harness(answer(401, {"message": "Unauthorized"}))

    with pytest.raises(UnauthorizedError) as raised:
        h.client.entitlements(user_id="user_secretive", project_id=1)

    assert "user_secretive" not in str(raised.value)


def test_a_success_whose_body_lacks_a_documented_field_is_an_unexpected_response() -> None:
    h = harness(answer(200, {"checkout_url": None}))

    with pytest.raises(UnexpectedResponseError, match="'checkout_url' is not a string") as raised:
        h.client.create_checkout_session(
            user_id="u",
            project_id=1,
            price_id="p",
            mode="payment",
            success_url="https://a.b/ok",
            cancel_url="https://a.b/no",
        )

    assert raised.value.status == 200


def test_a_success_that_is_not_a_json_object_is_an_unexpected_response() -> None:
    h = harness(answer(200, b"[1, 2]"))

    with pytest.raises(UnexpectedResponseError, match="not a JSON object"):
        h.client.health()


# ---------------------------------------------------------------------- the key stays hidden
def test_the_key_is_sent_but_not_in_the_clients_repr() -> None:
    h = harness(answer(200, {"status": "ok"}))

    h.client.health()

    assert h.transport.last.headers["X-API-Key"] == API_KEY
    assert API_KEY not in repr(h.client)
    assert API_KEY not in str(h.client)
    assert API_KEY not in repr(h.transport.last)
    assert repr(h.client) == f"BillingClient(base_url='{BASE_URL}', api_key='***')"


@pytest.mark.parametrize(
    "failure",
    [
        answer(401, {"message": "Unauthorized"}),
        answer(500, b"Internal Server Error"),
        TimeoutError("timed out"),
    ],
)
def test_no_error_shows_the_key(failure: HttpResponse | Exception) -> None:
    h = harness(failure, failure, failure)

    with pytest.raises((BillingApiError, BillingConnectionError)) as raised:
        h.client.entitlements(user_id="user_1", project_id=1)

    assert API_KEY not in str(raised.value)
    assert API_KEY not in repr(raised.value)
    assert API_KEY not in repr(raised.value.args)


def test_a_key_that_would_break_the_header_is_refused_without_showing_it() -> None:
    with pytest.raises(ValueError, match="single-line") as raised:
        BillingClient(BASE_URL, "bk_abc\r\nX-Evil: 1")
    assert "bk_abc" not in str(raised.value)


@pytest.mark.parametrize("url", ["billing.example.com", "ftp://billing.example.com"])
def test_the_base_url_must_be_http_or_https(url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        BillingClient(url, API_KEY)


def test_the_request_repr_hides_its_headers() -> None:
    request = HttpRequest("GET", f"{BASE_URL}/health", {"X-API-Key": API_KEY})
    assert API_KEY not in repr(request)
