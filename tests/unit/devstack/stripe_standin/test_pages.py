"""The Checkout, portal and receipt pages: HTML forms a person (or a test) can submit."""

from __future__ import annotations

from tests.unit.devstack.stripe_standin.conftest import SUCCESS_URL, Harness

CHECKOUT = (
    "mode=subscription&line_items[0][price]=price_123&line_items[0][quantity]=2"
    f"&success_url={SUCCESS_URL}&cancel_url=https://app.example.com/cancel"
)


def open_session(harness: Harness, body: str = CHECKOUT) -> str:
    _, _, session = harness.call("POST", "/v1/checkout/sessions", body)
    return str(session["id"])


def test_the_checkout_page_shows_what_is_bought_and_a_pay_button(harness: Harness) -> None:
    session_id = open_session(harness)
    status, headers, page = harness.call("GET", f"/checkout/{session_id}", key=None)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert "Pro" in page
    assert "18.00 USD" in page
    assert "per month" in page
    assert "subscription" in page
    assert f"<form method='post' action='/checkout/{session_id}/pay'>" in page
    assert "https://app.example.com/cancel" in page


def test_the_pay_button_completes_and_redirects_to_success_url(harness: Harness) -> None:
    session_id = open_session(harness)
    status, headers, _ = harness.call("POST", f"/checkout/{session_id}/pay", key=None)
    assert status == 303
    assert headers["Location"] == SUCCESS_URL.replace("{CHECKOUT_SESSION_ID}", session_id)
    assert "checkout.session.completed" in harness.deliver()
    _, _, page = harness.call("GET", f"/checkout/{session_id}", key=None)
    assert "This Checkout Session is complete" in page
    status, _, page = harness.call("POST", f"/checkout/{session_id}/pay", key=None)
    assert status == 400
    assert "cannot be paid" in page


def test_values_from_callers_are_escaped(harness: Harness) -> None:
    harness.standin.register_price("price_x", 100, "jpy", None, product_name="<b>Pro</b>")
    body = "mode=payment&line_items[0][price]=price_x&line_items[0][quantity]=1&success_url=x"
    _, _, page = harness.call("GET", f"/checkout/{open_session(harness, body)}", key=None)
    assert "<b>Pro</b>" not in page
    assert "&lt;b&gt;Pro&lt;/b&gt;" in page
    assert "100 JPY" in page


def test_an_unknown_page_id_is_a_404_page(harness: Harness) -> None:
    status, headers, page = harness.call("GET", "/checkout/cs_test_nope", key=None)
    assert status == 404
    assert headers["Content-Type"].startswith("text/html")
    assert "No such checkout.session" in page


def test_the_portal_lists_subscriptions_cancels_and_links_back(harness: Harness) -> None:
    paid = harness.standin.pay_checkout(open_session(harness))
    body = f"customer={paid['customer']}&return_url=https://app.example.com/account"
    _, _, portal = harness.call("POST", "/v1/billing_portal/sessions", body)
    path = portal["url"].removeprefix("http://standin.test")
    status, _, page = harness.call("GET", path, key=None)
    assert status == 200
    assert paid["subscription"] in page
    assert "href='https://app.example.com/account'" in page
    cancel = f"{path}/subscriptions/{paid['subscription']}/cancel"
    assert cancel in page
    harness.deliver()

    status, headers, _ = harness.call("POST", cancel, key=None)
    assert (status, headers["Location"]) == (303, path)
    assert harness.deliver() == ["customer.subscription.updated"]
    _, _, page = harness.call("GET", path, key=None)
    assert "cancels at period end" in page


def test_a_portal_cannot_cancel_another_customers_subscription(harness: Harness) -> None:
    paid = harness.standin.pay_checkout(open_session(harness))
    _, _, other = harness.call("POST", "/v1/customers", "email=o@x.io")
    body = f"customer={other['id']}&return_url=https://app.example.com/account"
    _, _, portal = harness.call("POST", "/v1/billing_portal/sessions", body)
    cancel = f"/portal/{portal['id']}/subscriptions/{paid['subscription']}/cancel"
    assert harness.call("POST", cancel, key=None)[0] == 400
    assert harness.call("GET", f"/v1/subscriptions/{paid['subscription']}")[2]["status"] == "active"


def test_a_charges_receipt_url_is_served(harness: Harness) -> None:
    paid = harness.standin.pay_checkout(open_session(harness))
    _, _, charge = harness.call("GET", f"/v1/charges/{paid['charge']}")
    status, _, page = harness.call(
        "GET", charge["receipt_url"].removeprefix("http://standin.test"), key=None
    )
    assert status == 200
    assert "18.00 USD" in page
