"""The /v1 API driven through StripeStandIn.handle(): auth, errors, idempotency, lists."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.devstack.stripe_standin.conftest import SUCCESS_URL, Harness

CHECKOUT = (
    "mode=subscription&line_items[0][price]=price_123&line_items[0][quantity]=1"
    f"&success_url={SUCCESS_URL}"
)


def error_of(answer: Any) -> dict[str, Any]:
    assert set(answer) == {"error"}
    error: dict[str, Any] = answer["error"]
    assert error["type"]
    assert error["request_log_url"].startswith("https://dashboard.stripe.com/test/logs/req_")
    return error


# ------------------------------------------------------------------ auth, request ids
def test_a_request_without_a_key_is_401_in_stripes_shape(harness: Harness) -> None:
    status, headers, answer = harness.call("GET", "/v1/customers", key=None)
    assert status == 401
    assert headers["Request-Id"].startswith("req_")
    assert error_of(answer)["message"].startswith("You did not provide an API key.")


@pytest.mark.parametrize("key", ["nope", "pk_test_123", "sk_live_123456789012"])
def test_anything_but_a_test_secret_key_is_401(harness: Harness, key: str) -> None:
    status, _, answer = harness.call("GET", "/v1/customers", key=key)
    assert status == 401
    assert error_of(answer)["message"].startswith("Invalid API Key provided")


def test_basic_auth_as_curl_sends_it_works(harness: Harness) -> None:
    status, _, _ = harness.call(
        "GET", "/v1/customers", headers={"Authorization": "Basic c2tfdGVzdF94Og=="}, key=None
    )
    assert status == 200


def test_every_answer_has_its_own_request_id(harness: Harness) -> None:
    ids = {harness.call("GET", path)[1]["Request-Id"] for path in ["/v1/customers"] * 3}
    ids.add(harness.call("GET", "/_standin/health", key=None)[1]["Request-Id"])
    assert len(ids) == 4


def test_an_unknown_path_is_stripes_404(harness: Harness) -> None:
    status, _, answer = harness.call("GET", "/v1/teapots")
    assert status == 404
    assert "Unrecognized request URL (GET: /v1/teapots)" in error_of(answer)["message"]


# ------------------------------------------------------------------ parameters
def test_an_unknown_parameter_is_400_naming_it(harness: Harness) -> None:
    status, _, answer = harness.call("POST", "/v1/customers", "emial=a@example.com")
    assert status == 400
    error = error_of(answer)
    assert (error["code"], error["param"]) == ("parameter_unknown", "emial")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ("line_items[0][price]=price_123&line_items[0][quantity]=1&success_url=x", "mode"),
        ("mode=payment&success_url=x", "line_items"),
        (
            "mode=subscription&line_items[0][price]=price_123&success_url=x",
            "line_items[0][quantity]",
        ),
        (
            "mode=subscription&line_items[0][price]=price_123&line_items[0][quantity]=1",
            "success_url",
        ),
    ],
)
def test_a_missing_required_parameter_is_400_parameter_missing(
    harness: Harness, body: str, param: str
) -> None:
    status, _, answer = harness.call("POST", "/v1/checkout/sessions", body)
    assert status == 400
    error = error_of(answer)
    assert (error["code"], error["param"]) == ("parameter_missing", param)
    assert error["message"] == f"Missing required param: {param}."


def test_an_unknown_price_is_resource_missing(harness: Harness) -> None:
    body = CHECKOUT.replace("price_123", "price_x")
    status, _, answer = harness.call("POST", "/v1/checkout/sessions", body)
    assert status == 400
    error = error_of(answer)
    assert error["code"] == "resource_missing"
    assert error["message"] == "No such price: 'price_x'"
    assert error["param"] == "line_items[0][price]"


def test_a_recurring_price_in_payment_mode_is_refused_with_stripes_message(
    harness: Harness,
) -> None:
    body = CHECKOUT.replace("mode=subscription", "mode=payment")
    status, _, answer = harness.call("POST", "/v1/checkout/sessions", body)
    assert status == 400
    assert error_of(answer)["message"].startswith(
        "You specified `payment` mode but passed a recurring price."
    )
    one_time = CHECKOUT.replace("price_123", "price_once")
    status, _, answer = harness.call("POST", "/v1/checkout/sessions", one_time)
    assert status == 400
    assert "at least one recurring price" in error_of(answer)["message"]


def test_subscription_data_is_refused_in_payment_mode(harness: Harness) -> None:
    body = (
        "mode=payment&line_items[0][price]=price_once&line_items[0][quantity]=1&success_url=x"
        "&subscription_data[metadata][a]=b"
    )
    status, _, answer = harness.call("POST", "/v1/checkout/sessions", body)
    assert status == 400
    assert error_of(answer)["param"] == "subscription_data"


def test_an_unknown_customer_is_resource_missing(harness: Harness) -> None:
    status, _, answer = harness.call("POST", "/v1/checkout/sessions", CHECKOUT + "&customer=cus_x")
    assert status == 400
    assert error_of(answer)["message"] == "No such customer: 'cus_x'"


def test_retrieving_an_unknown_id_is_404(harness: Harness) -> None:
    for path, noun in [
        ("/v1/subscriptions/sub_x", "subscription"),
        ("/v1/invoices/in_x", "invoice"),
        ("/v1/checkout/sessions/cs_x", "checkout.session"),
    ]:
        status, _, answer = harness.call("GET", path)
        assert status == 404
        assert error_of(answer)["code"] == "resource_missing"
        assert noun in error_of(answer)["message"]


def test_a_session_answers_in_stripes_shape(harness: Harness, clock: Any) -> None:
    body = CHECKOUT + "&client_reference_id=u1&metadata[project_id]=1&expand[]=line_items"
    status, _, session = harness.call("POST", "/v1/checkout/sessions", body)
    assert status == 200
    assert session["id"].startswith("cs_test_")
    assert session["object"] == "checkout.session"
    assert session["url"] == f"http://standin.test/checkout/{session['id']}"
    assert (session["status"], session["payment_status"]) == ("open", "unpaid")
    assert (session["amount_total"], session["currency"], session["mode"]) == (
        900,
        "usd",
        "subscription",
    )
    assert session["expires_at"] == session["created"] + 86_400 == int(clock.now) + 86_400
    assert (session["client_reference_id"], session["metadata"]) == ("u1", {"project_id": "1"})
    assert session["customer"] is None
    assert session["line_items"]["data"][0]["price"]["id"] == "price_123"
    _, _, again = harness.call("GET", f"/v1/checkout/sessions/{session['id']}")
    assert "line_items" not in again  # only on expand, as at Stripe


def test_one_customer_holds_one_currency_for_subscriptions(harness: Harness) -> None:
    harness.standin.register_price("price_eur", 800, "eur", {"interval": "month"})
    _, _, customer = harness.call("POST", "/v1/customers", "email=a@example.com")
    _, _, session = harness.call(
        "POST", "/v1/checkout/sessions", f"{CHECKOUT}&customer={customer['id']}"
    )
    harness.standin.pay_checkout(session["id"])
    euro = CHECKOUT.replace("price_123", "price_eur") + f"&customer={customer['id']}"
    status, _, answer = harness.call("POST", "/v1/checkout/sessions", euro)
    assert status == 400
    assert "You cannot combine currencies on a single customer" in error_of(answer)["message"]


def test_a_portal_session_needs_an_existing_customer_and_a_return_url(harness: Harness) -> None:
    status, _, answer = harness.call(
        "POST", "/v1/billing_portal/sessions", "customer=cus_x&return_url=r"
    )
    assert (status, error_of(answer)["code"]) == (400, "resource_missing")
    _, _, customer = harness.call("POST", "/v1/customers", "")
    status, _, answer = harness.call(
        "POST", "/v1/billing_portal/sessions", f"customer={customer['id']}"
    )
    assert (status, error_of(answer)["param"]) == (400, "return_url")
    body = f"customer={customer['id']}&return_url=https://app.example.com/account"
    status, _, portal = harness.call("POST", "/v1/billing_portal/sessions", body)
    assert status == 200
    assert portal["id"].startswith("bps_")
    assert portal["object"] == "billing_portal.session"
    assert portal["url"] == f"http://standin.test/portal/{portal['id']}"
    assert (portal["customer"], portal["return_url"], portal["livemode"]) == (
        customer["id"],
        "https://app.example.com/account",
        False,
    )


def test_expanding_a_field_that_is_not_an_object_is_refused(harness: Harness) -> None:
    status, _, answer = harness.call("POST", "/v1/customers", "email=a@x.io&expand[]=email")
    assert status == 400
    assert error_of(answer)["message"] == "This property cannot be expanded (email)."


# ------------------------------------------------------------------ idempotency
def test_the_same_key_and_body_replays_the_first_answer(harness: Harness) -> None:
    headers = {"Idempotency-Key": "k1"}
    status, first_headers, first = harness.call("POST", "/v1/customers", "email=a@x.io", headers)
    _, replay_headers, replay = harness.call("POST", "/v1/customers", "email=a@x.io", headers)
    assert status == 200
    assert replay == first
    assert replay_headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first_headers
    assert replay_headers["Idempotency-Key"] == "k1"
    _, _, customers = harness.call("GET", "/v1/customers")
    assert [c["id"] for c in customers["data"]] == [first["id"]]


def test_the_same_key_with_other_parameters_is_an_idempotency_error(harness: Harness) -> None:
    headers = {"Idempotency-Key": "k2"}
    harness.call("POST", "/v1/customers", "email=a@x.io", headers)
    status, _, answer = harness.call("POST", "/v1/customers", "email=b@x.io", headers)
    assert status == 400
    assert error_of(answer)["type"] == "idempotency_error"


def test_a_refused_request_stores_nothing_under_its_key(harness: Harness) -> None:
    headers = {"Idempotency-Key": "k3"}
    assert harness.call("POST", "/v1/customers", "emial=a", headers)[0] == 400
    assert harness.call("POST", "/v1/customers", "email=a@x.io", headers)[0] == 200


# ------------------------------------------------------------------ lists
def test_lists_page_newest_first_with_cursors(harness: Harness, clock: Any) -> None:
    ids = []
    for number in range(5):
        clock.now += 1
        ids.append(harness.call("POST", "/v1/customers", f"email=c{number}@x.io")[2]["id"])
    newest_first = ids[::-1]
    _, _, page = harness.call("GET", "/v1/customers?limit=2")
    assert (page["object"], page["url"], page["has_more"]) == ("list", "/v1/customers", True)
    assert [c["id"] for c in page["data"]] == newest_first[:2]
    _, _, page = harness.call("GET", f"/v1/customers?limit=2&starting_after={newest_first[1]}")
    assert [c["id"] for c in page["data"]] == newest_first[2:4]
    _, _, page = harness.call("GET", f"/v1/customers?limit=2&starting_after={newest_first[3]}")
    assert ([c["id"] for c in page["data"]], page["has_more"]) == (newest_first[4:], False)
    _, _, page = harness.call("GET", f"/v1/customers?limit=2&ending_before={newest_first[4]}")
    assert [c["id"] for c in page["data"]] == newest_first[2:4]
    _, _, page = harness.call("GET", f"/v1/customers?created[gte]={int(clock.now) - 1}")
    assert [c["id"] for c in page["data"]] == newest_first[:2]


def test_a_limit_over_100_or_an_unknown_cursor_is_refused(harness: Harness) -> None:
    assert harness.call("GET", "/v1/customers?limit=101")[0] == 400
    status, _, answer = harness.call("GET", "/v1/customers?starting_after=cus_nope")
    assert (status, error_of(answer)["param"]) == (400, "starting_after")


def test_subscriptions_list_hides_canceled_unless_status_all(harness: Harness) -> None:
    subs = []
    for _ in range(2):
        _, _, session = harness.call("POST", "/v1/checkout/sessions", CHECKOUT)
        subs.append(harness.standin.pay_checkout(session["id"])["subscription"])
    harness.call("POST", f"/_standin/subscriptions/{subs[0]}/cancel", key=None)
    _, _, default = harness.call("GET", "/v1/subscriptions")
    _, _, every = harness.call("GET", "/v1/subscriptions?status=all")
    _, _, canceled = harness.call("GET", "/v1/subscriptions?status=canceled")
    assert [s["id"] for s in default["data"]] == [subs[1]]
    assert [s["id"] for s in every["data"]] == subs[::-1]
    assert [s["id"] for s in canceled["data"]] == [subs[0]]
    customer = every["data"][0]["customer"]
    _, _, mine = harness.call("GET", f"/v1/subscriptions?status=all&customer={customer}")
    assert [s["id"] for s in mine["data"]] == [subs[1]]


# ------------------------------------------------------------------ prices, controls
def test_prices_created_through_the_api(harness: Harness) -> None:
    body = (
        "currency=usd&unit_amount=1500&product_data[name]=Gold&recurring[interval]=year"
        "&lookup_key=gold_yearly"
    )
    status, _, price = harness.call("POST", "/v1/prices", body)
    assert status == 200
    assert (
        price["type"],
        price["recurring"]["interval"],
        price["recurring"]["interval_count"],
    ) == (
        "recurring",
        "year",
        1,
    )
    _, _, product = harness.call("GET", f"/v1/products/{price['product']}")
    assert product["name"] == "Gold"
    status, _, answer = harness.call("POST", "/v1/prices", body)
    assert (status, error_of(answer)["param"]) == (400, "lookup_key")
    _, _, found = harness.call("GET", "/v1/prices?lookup_keys[]=gold_yearly")
    assert [p["id"] for p in found["data"]] == [price["id"]]


def test_the_price_control_registers_a_chosen_id(harness: Harness) -> None:
    body = '{"id": "price_456", "unit_amount": 300, "currency": "eur", "recurring": null}'
    status, _, price = harness.call("POST", "/_standin/prices", body, key=None)
    assert status == 200
    assert (price["id"], price["type"], price["unit_amount"], price["currency"]) == (
        "price_456",
        "one_time",
        300,
        "eur",
    )
    assert harness.call("GET", "/v1/prices/price_456")[2]["product"] == "prod_456"


@pytest.mark.parametrize(
    "body",
    [
        "{",
        '{"unit_amount": 1, "currency": "usd"}',
        '{"id": "p", "unit_amount": "9", "currency": "usd"}',
        '{"id": "p", "unit_amount": 9, "currency": "usd", "color": "red"}',
        '{"id": "p", "unit_amount": 9, "currency": "usd", "recurring": {"interval": "fortnight"}}',
    ],
)
def test_the_price_control_refuses_bad_bodies(harness: Harness, body: str) -> None:
    status, _, answer = harness.call("POST", "/_standin/prices", body, key=None)
    assert status == 400
    assert error_of(answer)["type"] == "invalid_request_error"


def test_the_price_control_refuses_an_id_another_kind_of_object_holds(harness: Harness) -> None:
    assert harness.call("POST", "/v1/products", "id=prod_pro&name=Pro")[0] == 200
    body = '{"id": "prod_pro", "unit_amount": 100, "currency": "usd"}'
    status, _, answer = harness.call("POST", "/_standin/prices", body, key=None)
    assert (status, error_of(answer)["code"]) == (400, "resource_already_exists")
    assert harness.call("GET", "/v1/products/prod_pro")[2]["name"] == "Pro"
    assert harness.call("GET", "/v1/products/prod_prod_pro")[0] == 404  # rolled back


def test_a_request_that_fails_halfway_changes_nothing_and_sends_nothing(harness: Harness) -> None:
    status, _, _ = harness.call("POST", "/v1/customers", "email=a@x.io&expand[]=email")
    assert status == 400
    assert harness.call("GET", "/v1/customers")[2]["data"] == []
    assert harness.call("GET", "/v1/events")[2]["data"] == []
    assert harness.deliver() == []


def test_a_failed_update_restores_the_object_it_changed(harness: Harness) -> None:
    _, _, session = harness.call("POST", "/v1/checkout/sessions", CHECKOUT)
    sub_id = harness.standin.pay_checkout(session["id"])["subscription"]
    harness.deliver()
    body = "cancel_at_period_end=true&expand[]=currency"
    status, _, _ = harness.call("POST", f"/v1/subscriptions/{sub_id}", body)
    assert status == 400
    sub = harness.call("GET", f"/v1/subscriptions/{sub_id}")[2]
    assert (sub["cancel_at_period_end"], sub["cancel_at"]) == (False, None)
    assert harness.deliver() == []


def test_products_take_a_chosen_id_once(harness: Harness) -> None:
    status, _, product = harness.call("POST", "/v1/products", "id=prod_pro&name=Pro&metadata[a]=b")
    assert (status, product["id"], product["metadata"]) == (200, "prod_pro", {"a": "b"})
    status, _, answer = harness.call("POST", "/v1/products", "id=prod_pro&name=Again")
    assert (status, error_of(answer)["code"]) == (400, "resource_already_exists")
    status, _, answer = harness.call("POST", "/v1/products", "description=x")
    assert (status, error_of(answer)["param"]) == (400, "name")
    _, _, listed = harness.call("GET", "/v1/products?active=true")
    assert "prod_pro" in [p["id"] for p in listed["data"]]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ("unit_amount=100&product=prod_123", "currency"),
        ("currency=usd&product=prod_123", "unit_amount"),
        ("currency=usd&unit_amount=100", "product"),
        ("currency=usd&unit_amount=100&product=prod_123&product_data[name]=x", "product"),
        ("currency=usd&unit_amount=100&product=prod_nope", "product"),
        ("currency=usd&unit_amount=100&product_data[metadata][a]=b", "product_data[name]"),
        (
            "currency=usd&unit_amount=100&product=prod_123&recurring[interval_count]=2",
            "recurring[interval]",
        ),
        ("currency=usd&unit_amount=-1&product=prod_123", "unit_amount"),
        (
            "currency=usd&unit_amount=1&product=prod_123&recurring[interval]=decade",
            "recurring[interval]",
        ),
    ],
)
def test_price_creation_is_checked_like_stripe(harness: Harness, body: str, param: str) -> None:
    status, _, answer = harness.call("POST", "/v1/prices", body)
    assert status == 400
    assert error_of(answer)["param"] == param


def test_a_lookup_key_can_be_transferred(harness: Harness) -> None:
    first = harness.call(
        "POST", "/v1/prices", "currency=usd&unit_amount=1&product=prod_123&lookup_key=k"
    )[2]
    body = "currency=usd&unit_amount=2&product=prod_123&lookup_key=k&transfer_lookup_key=true"
    second = harness.call("POST", "/v1/prices", body)[2]
    assert harness.call("GET", f"/v1/prices/{first['id']}")[2]["lookup_key"] is None
    assert second["lookup_key"] == "k"
    assert harness.deliver() == ["price.created", "price.created"]


def test_list_filters(harness: Harness) -> None:
    _, _, session = harness.call("POST", "/v1/checkout/sessions", CHECKOUT)
    paid = harness.standin.pay_checkout(session["id"])
    harness.call("POST", f"/_standin/subscriptions/{paid['subscription']}/advance", key=None)
    invoices = harness.call("GET", f"/v1/invoices?subscription={paid['subscription']}")[2]["data"]
    assert [i["billing_reason"] for i in invoices] == ["subscription_cycle", "subscription_create"]
    assert harness.call("GET", "/v1/invoices?subscription=sub_other")[2]["data"] == []
    by_price = harness.call("GET", "/v1/subscriptions?price=price_123")[2]["data"]
    assert [s["id"] for s in by_price] == [paid["subscription"]]
    sessions = harness.call("GET", f"/v1/checkout/sessions?customer={paid['customer']}")[2]["data"]
    assert [s["id"] for s in sessions] == [session["id"]]
    recurring = harness.call("GET", "/v1/prices?type=recurring&currency=usd")[2]["data"]
    assert [p["id"] for p in recurring] == ["price_123"]
    types = "types[]=invoice.paid&types[]=customer.created"
    assert len(harness.call("GET", f"/v1/events?{types}")[2]["data"]) == 3
    charges = harness.call("GET", f"/v1/charges?payment_intent={paid['payment_intent']}")[2]
    assert [c["id"] for c in charges["data"]] == [paid["charge"]]
    expanded = harness.call("GET", "/v1/subscriptions?expand[]=data.customer")[2]["data"]
    assert expanded[0]["customer"]["id"] == paid["customer"]


def test_a_customer_update_merges_metadata_and_emits_an_update(harness: Harness) -> None:
    _, _, customer = harness.call("POST", "/v1/customers", "metadata[a]=1&metadata[b]=2")
    harness.deliver()
    status, _, updated = harness.call(
        "POST", f"/v1/customers/{customer['id']}", "metadata[a]=&metadata[c]=3&name=N"
    )
    assert status == 200
    assert (updated["metadata"], updated["name"]) == ({"b": "2", "c": "3"}, "N")
    assert harness.deliver() == ["customer.updated"]
    previous = harness.outbox.events()[-1]["data"]["previous_attributes"]
    assert previous == {"metadata": {"a": "1", "b": "2"}, "name": None}


def test_a_bug_answers_stripes_500_and_changes_nothing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(harness.standin.events, "emit", broken)  # after the customer is stored
    status, _, answer = harness.call("POST", "/v1/customers", "email=a@x.io")
    assert status == 500
    assert error_of(answer)["type"] == "api_error"
    assert harness.call("GET", "/v1/customers")[2]["data"] == []
