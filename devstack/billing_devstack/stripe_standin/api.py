"""The ``/v1`` endpoints: create, retrieve and list, with Stripe's checks and messages.

Only what the service calls is served, but faithfully: parameters are checked against a schema
(unknown ones refused), referenced objects must exist, Checkout refuses a ``mode`` that does not
fit its price, and lists page like Stripe's. Anything a customer does (paying, renewing...) is
in :mod:`billing_devstack.stripe_standin.flows`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from billing_devstack.stripe_standin import objects
from billing_devstack.stripe_standin.coupons import Coupons, amount_off
from billing_devstack.stripe_standin.errors import StripeError, inactive_price, invalid, missing
from billing_devstack.stripe_standin.events import EventLog, changed
from billing_devstack.stripe_standin.filters import list_filters, list_schema
from billing_devstack.stripe_standin.flows import Flows
from billing_devstack.stripe_standin.periods import DAY
from billing_devstack.stripe_standin.schema import (
    BOOLEAN,
    EXPAND,
    INTEGER,
    METADATA,
    STRING,
    UNSETTABLE_STRING,
    ListOf,
    Scalar,
    Spec,
    check,
    choice,
)
from billing_devstack.stripe_standin.store import Obj, Store, new_id
from billing_devstack.stripe_standin.subscriptions import SubscriptionUpdates

SESSION_LIFETIME = DAY  # Checkout's default expires_at
MAX_TRIAL_DAYS = 730

# Collection path under /v1 -> the ``object`` value of its members.
RESOURCES = {
    "customers": "customer",
    "products": "product",
    "prices": "price",
    "checkout/sessions": "checkout.session",
    "subscriptions": "subscription",
    "invoices": "invoice",
    "payment_intents": "payment_intent",
    "charges": "charge",
    "refunds": "refund",
    "invoice_payments": "invoice_payment",
    "disputes": "dispute",
    "coupons": "coupon",
    "events": "event",
    "billing/meters": "billing.meter",
}

_CUSTOMER: Mapping[str, Spec] = {
    **EXPAND,
    "email": STRING,
    "name": STRING,
    "description": STRING,
    "phone": STRING,
    "metadata": METADATA,
    "preferred_locales": ListOf(STRING),
}
_PRODUCT: Mapping[str, Spec] = {
    **EXPAND,
    "id": STRING,
    "name": STRING,
    "description": STRING,
    "active": BOOLEAN,
    "metadata": METADATA,
}
_PRODUCT_UPDATE: Mapping[str, Spec] = {
    **EXPAND,
    "name": STRING,
    "description": UNSETTABLE_STRING,
    "active": BOOLEAN,
    "metadata": METADATA,
    "default_price": STRING,
}
_PRICE: Mapping[str, Spec] = {
    **EXPAND,
    "currency": STRING,
    "unit_amount": Scalar("integer", minimum=0),
    "product": STRING,
    "product_data": {"name": STRING, "metadata": METADATA, "active": BOOLEAN},
    "recurring": {
        "interval": choice("day", "week", "month", "year"),
        "interval_count": Scalar("integer", minimum=1),
    },
    "metadata": METADATA,
    "nickname": STRING,
    "lookup_key": STRING,
    "transfer_lookup_key": BOOLEAN,
    "active": BOOLEAN,
}
# What Stripe lets a price change after creation (its amount, currency and interval are fixed:
# anything else is refused as parameter_unknown, like Stripe does).
_PRICE_UPDATE: Mapping[str, Spec] = {
    **EXPAND,
    "active": BOOLEAN,
    "metadata": METADATA,
    "nickname": STRING,
    "lookup_key": STRING,
    "transfer_lookup_key": BOOLEAN,
}
_CHECKOUT: Mapping[str, Spec] = {
    **EXPAND,
    "mode": choice("payment", "setup", "subscription"),
    "line_items": ListOf({"price": STRING, "quantity": Scalar("integer", minimum=1)}),
    "success_url": STRING,
    "cancel_url": STRING,
    "customer": STRING,
    "customer_email": STRING,
    "client_reference_id": STRING,
    "metadata": METADATA,
    "locale": STRING,
    "allow_promotion_codes": BOOLEAN,
    "subscription_data": {
        "metadata": METADATA,
        "description": STRING,
        "trial_period_days": Scalar("integer", minimum=1, maximum=MAX_TRIAL_DAYS),
    },
    "payment_intent_data": {"metadata": METADATA, "description": STRING},
    "discounts": ListOf({"coupon": STRING}),
}
_PORTAL: Mapping[str, Spec] = {
    **EXPAND,
    "customer": STRING,
    "return_url": STRING,
    "configuration": STRING,
    "locale": STRING,
}
_INVOICE_PAY: Mapping[str, Spec] = {
    **EXPAND,
    "off_session": BOOLEAN,
    "payment_method": STRING,
}
_SUBSCRIPTION_CANCEL: Mapping[str, Spec] = {
    **EXPAND,
    "invoice_now": BOOLEAN,
    "prorate": BOOLEAN,
    "cancellation_details": {"comment": STRING, "feedback": STRING},
}
_REFUND: Mapping[str, Spec] = {
    **EXPAND,
    "charge": STRING,
    "payment_intent": STRING,
    "amount": INTEGER,
    "reason": choice("duplicate", "fraudulent", "requested_by_customer"),
    "metadata": METADATA,
}


class Api:
    """Handlers of the ``/v1`` routes; each takes the decoded parameters and returns JSON."""

    def __init__(
        self,
        store: Store,
        events: EventLog,
        flows: Flows,
        coupons: Coupons,
        *,
        clock: Callable[[], int],
        base_url: Callable[[], str],
    ) -> None:
        self._store = store
        self._events = events
        self._flows = flows
        self._coupons = coupons
        self._updates = SubscriptionUpdates(store, events, flows, coupons, clock)
        self._clock = clock
        self._base_url = base_url

    def shown(self, obj: Obj, params: Mapping[str, Any]) -> Obj:
        """A copy of ``obj`` with the requested ``expand[]`` paths expanded."""
        return self._store.expand(copy.deepcopy(obj), params.get("expand", []))

    # ------------------------------------------------------------------ generic reads
    def retrieve(self, collection: str, object_id: str, raw: Mapping[str, Any]) -> Obj:
        """``GET /v1/<collection>/<id>``."""
        params = check(raw, EXPAND)
        obj = self._store.get(RESOURCES[collection], object_id)
        if obj["object"] == "event":
            obj = self._events.current(obj)
        return self.shown(obj, params)

    def list_objects(self, collection: str, raw: Mapping[str, Any]) -> Obj:
        """``GET /v1/<collection>``: newest first, filtered like Stripe's list endpoints."""
        kind = RESOURCES[collection]
        params = check(raw, list_schema(kind))
        page = self._store.page(kind, f"/v1/{collection}", params, list_filters(kind, params))
        if kind == "event":
            page["data"] = [self._events.current(event) for event in page["data"]]
        return self._store.expand(page, params.get("expand", []))

    # ------------------------------------------------------------------ customers
    def create_customer(self, raw: Mapping[str, Any]) -> Obj:
        """``POST /v1/customers`` (emits ``customer.created``, as Stripe does)."""
        params = check(raw, _CUSTOMER)
        customer = self._store.put(objects.customer(self._clock(), params))
        self._events.emit("customer.created", customer)
        return self.shown(customer, params)

    def update_customer(self, customer_id: str, raw: Mapping[str, Any]) -> Obj:
        """``POST /v1/customers/<id>`` (emits ``customer.updated`` when something changed)."""
        params = check(raw, _CUSTOMER)
        customer = self._store.get("customer", customer_id)
        before = copy.deepcopy(customer)
        for key in ("email", "name", "description", "phone", "preferred_locales"):
            if key in params:
                customer[key] = params[key]
        objects.update_metadata(customer, raw, params)
        if customer != before:
            self._events.emit("customer.updated", customer, changed(before, customer))
        return self.shown(customer, params)

    # ------------------------------------------------------------------ products, prices
    def create_product(self, raw: Mapping[str, Any]) -> Obj:
        """``POST /v1/products``; like Stripe, the caller may choose the id."""
        params = check(raw, _PRODUCT)
        if "name" not in params:
            raise missing("name")
        product_id = params.get("id") or new_id("prod")
        if self._store.has(product_id):
            raise StripeError("Product already exists.", code="resource_already_exists", param="id")
        product = objects.product(product_id, self._clock(), params["name"], params)
        self._events.emit("product.created", self._store.put(product))
        return self.shown(product, params)

    def update_product(self, product_id: str, raw: Mapping[str, Any]) -> Obj:
        """``POST /v1/products/<id>``: ``name``, ``description`` (empty: unset), ``active``,
        ``metadata``, ``default_price`` (a price of this product); emits ``product.updated``
        (when something changed) and moves ``updated`` to now."""
        params = check(raw, _PRODUCT_UPDATE)
        product = self._store.get("product", product_id)
        if "default_price" in params:
            price = self._store.get("price", params["default_price"], param="default_price")
            if price["product"] != product_id:
                raise invalid(
                    f"The price `{price['id']}` does not belong to this product (`{product_id}`).",
                    param="default_price",
                )
        before = copy.deepcopy(product)
        for key in ("name", "active", "default_price"):
            if key in params:
                product[key] = params[key]
        if "description" in params:
            product["description"] = params["description"] or None
        objects.update_metadata(product, raw, params)
        if product != before:
            product["updated"] = self._clock()
            self._events.emit("product.updated", product, changed(before, product))
        return self.shown(product, params)

    def update_price(self, price_id: str, raw: Mapping[str, Any]) -> Obj:
        """``POST /v1/prices/<id>``: only what Stripe lets change (``active``, ``metadata``,
        ``nickname``, ``lookup_key`` with ``transfer_lookup_key``); emits ``price.updated``
        (when something changed)."""
        params = check(raw, _PRICE_UPDATE)
        price = self._store.get("price", price_id)
        before = copy.deepcopy(price)
        self._claim_lookup_key(params, replacing=price_id)
        for key in ("active", "nickname", "lookup_key"):
            if key in params:
                price[key] = params[key]
        objects.update_metadata(price, raw, params)
        if price != before:
            self._events.emit("price.updated", price, changed(before, price))
        return self.shown(price, params)

    def create_price(self, raw: Mapping[str, Any]) -> Obj:
        """``POST /v1/prices`` with an existing ``product`` or an inline ``product_data``."""
        params = check(raw, _PRICE)
        for required in ("currency", "unit_amount"):
            if required not in params:
                raise missing(required)
        if ("product" in params) == ("product_data" in params):
            raise invalid(
                "You must specify either `product` or `product_data` when creating a price.",
                param="product",
            )
        if "recurring" in params and "interval" not in params["recurring"]:
            raise missing("recurring[interval]")
        self._claim_lookup_key(params)
        product_id = self._product_for(params)
        price = objects.price(new_id("price"), self._clock(), product_id, params)
        self._events.emit("price.created", self._store.put(price))
        return self.shown(price, params)

    def register_price(self, price_id: str, product_id: str, params: Mapping[str, Any]) -> Obj:
        """A price with a chosen id (seeds and tests); replaces one with the same id, no event."""
        if not self._store.has(product_id, "product"):
            name = str(params.get("product_name") or product_id)
            self._store.put(objects.product(product_id, self._clock(), name, {}))
        self._claim_lookup_key(params, replacing=price_id)
        return self._store.put(objects.price(price_id, self._clock(), product_id, params))

    def _product_for(self, params: Mapping[str, Any]) -> str:
        if "product" in params:
            return str(self._store.get("product", params["product"], param="product")["id"])
        data = params["product_data"]
        if "name" not in data:
            raise missing("product_data[name]")
        product = objects.product(new_id("prod"), self._clock(), data["name"], data)
        self._events.emit("product.created", self._store.put(product))
        return str(product["id"])

    def _claim_lookup_key(self, params: Mapping[str, Any], replacing: str | None = None) -> None:
        """Stripe keeps lookup keys unique: taken -> error, unless ``transfer_lookup_key``."""
        key = params.get("lookup_key")
        if not key:
            return
        for other in self._store.of_kind("price"):
            if other["lookup_key"] != key or other["id"] == replacing:
                continue
            if not params.get("transfer_lookup_key"):
                raise invalid(
                    f"A price (`{other['id']}`) already uses that lookup key.", param="lookup_key"
                )
            self._store.get("price", other["id"])["lookup_key"] = None

    # ------------------------------------------------------------------ checkout, portal
    def create_checkout_session(self, raw: Mapping[str, Any]) -> Obj:
        """``POST /v1/checkout/sessions`` (one line item; ``payment`` or ``subscription``)."""
        params = check(raw, _CHECKOUT)
        line, price = self._checkout_line(params)
        self._check_checkout_mode(params, price)
        customer_id = params.get("customer")
        if customer_id is not None:
            customer = self._store.get("customer", customer_id, param="customer")
            _check_currency(customer, price, params["mode"])
        coupon = self._checkout_coupon(params, price)
        session = self._new_session(params, line, price, coupon)
        return self.shown(session, params)

    def _checkout_coupon(self, params: Mapping[str, Any], price: Obj) -> Obj | None:
        """The coupon of ``discounts`` (one at most), applicable to the price's currency."""
        discounts = params.get("discounts") or []
        if not discounts:
            return None
        if "allow_promotion_codes" in params:
            raise invalid(
                "You may only specify one of these parameters: allow_promotion_codes, discounts.",
                code="parameters_exclusive",
                param="discounts",
            )
        if len(discounts) > 1:
            raise invalid("Currently, only up to one discount may be specified.", "discounts")
        if "coupon" not in discounts[0]:
            raise missing("discounts[0][coupon]")
        return self._coupons.redeemable(
            discounts[0]["coupon"], "discounts[0][coupon]", price["currency"]
        )

    def _checkout_line(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], Obj]:
        if "mode" not in params:
            raise missing("mode")
        if params["mode"] == "setup":
            raise invalid("The Stripe stand-in does not support `setup` mode.", param="mode")
        lines = params.get("line_items") or []
        if not lines:
            raise missing("line_items")
        if len(lines) > 1:
            raise invalid(
                "The Stripe stand-in takes one line item per Checkout Session.",
                param="line_items",
            )
        for field in ("price", "quantity"):
            if field not in lines[0]:
                raise missing(f"line_items[0][{field}]")
        if "success_url" not in params:
            raise missing("success_url")
        price = self._store.get("price", lines[0]["price"], param="line_items[0][price]")
        if not price["active"]:
            raise inactive_price("line_items[0][price]")
        return lines[0], price

    @staticmethod
    def _check_checkout_mode(params: Mapping[str, Any], price: Obj) -> None:
        mode, recurring = params["mode"], price["type"] == "recurring"
        if mode == "payment" and recurring:
            raise invalid(
                "You specified `payment` mode but passed a recurring price. Either switch to "
                "`subscription` mode or use only one-time prices.",
                param="line_items[0][price]",
            )
        if mode == "subscription" and not recurring:
            raise invalid(
                "You must provide at least one recurring price in `subscription` mode when "
                "using prices.",
                param="line_items",
            )
        misplaced = "subscription_data" if mode == "payment" else "payment_intent_data"
        if misplaced in params:
            raise invalid(f"You can not pass `{misplaced}` in `{mode}` mode.", param=misplaced)
        if "customer" in params and "customer_email" in params:
            raise invalid(
                "You may only specify one of these parameters: customer, customer_email.",
                code="parameters_exclusive",
                param="customer_email",
            )

    def _new_session(
        self, params: Mapping[str, Any], line: Mapping[str, Any], price: Obj, coupon: Obj | None
    ) -> Obj:
        now = self._clock()
        session = objects.template("checkout.session")
        session_id = new_id("cs_test")
        trial = params.get("subscription_data", {}).get("trial_period_days")
        product = self._store.get("product", price["product"])
        item = objects.checkout_item(price, line["quantity"], product["name"])
        subtotal = 0 if trial else item["amount_subtotal"]
        off = amount_off(coupon, subtotal) if coupon else 0
        item.update(amount_discount=off, amount_total=item["amount_subtotal"] - off)
        session.update(
            id=session_id,
            created=now,
            expires_at=now + SESSION_LIFETIME,
            url=f"{self._base_url()}/checkout/{session_id}",
            mode=params["mode"],
            currency=price["currency"],
            amount_subtotal=subtotal,
            amount_total=subtotal - off,
            customer_creation="always" if params["mode"] == "payment" else None,
        )
        session["total_details"]["amount_discount"] = off
        if coupon:
            session["discounts"] = [{"coupon": coupon["id"], "promotion_code": None}]
        for key in ("success_url", "cancel_url", "customer", "customer_email", "locale"):
            session[key] = params.get(key)
        for key in ("client_reference_id", "metadata", "allow_promotion_codes"):
            session[key] = params.get(key, session[key])
        self._store.put(session)
        self._store.hide(session_id, "line_items", _lines(session_id, item))
        for key in ("subscription_data", "payment_intent_data"):
            self._store.note(session_id, key, params.get(key, {}))
        return session

    def create_portal_session(self, raw: Mapping[str, Any]) -> Obj:
        """``POST /v1/billing_portal/sessions``; its ``url`` is the stand-in's portal page."""
        params = check(raw, _PORTAL)
        for required in ("customer", "return_url"):
            if required not in params:
                raise missing(required)
        self._store.get("customer", params["customer"], param="customer")
        session = objects.portal_session(self._clock(), self._base_url(), params)
        return self.shown(self._store.put(session), params)

    def checkout_line_items(self, session_id: str, raw: Mapping[str, Any]) -> Obj:
        """``GET /v1/checkout/sessions/<id>/line_items``."""
        params = check(raw, {**EXPAND, "limit": INTEGER, "starting_after": STRING})
        self._store.get("checkout.session", session_id)
        return self._store.expand(
            copy.deepcopy(self._store.hidden(session_id, "line_items")), params.get("expand", [])
        )

    def expire_checkout_session(self, session_id: str, raw: Mapping[str, Any]) -> Obj:
        """``POST /v1/checkout/sessions/<id>/expire``."""
        params = check(raw, EXPAND)
        return self.shown(self._flows.expire_checkout(session_id), params)

    # ------------------------------------------------------------------ subscriptions, refunds
    def update_subscription(self, sub_id: str, raw: Mapping[str, Any]) -> Obj:
        """``POST /v1/subscriptions/<id>`` (see
        :mod:`billing_devstack.stripe_standin.subscriptions`)."""
        sub, params = self._updates.update(sub_id, raw)
        return self.shown(sub, params)

    # ------------------------------------------------------------------ coupons
    def create_coupon(self, raw: Mapping[str, Any]) -> Obj:
        """``POST /v1/coupons``."""
        return self.shown(self._coupons.create(raw), raw)

    def delete_coupon(self, coupon_id: str, raw: Mapping[str, Any]) -> Obj:
        """``DELETE /v1/coupons/<id>``: ``{"id", "object": "coupon", "deleted": true}``."""
        check(raw, {})
        return self._coupons.delete(coupon_id)

    def cancel_subscription(self, sub_id: str, raw: Mapping[str, Any]) -> Obj:
        """``DELETE /v1/subscriptions/<id>``: cancel now (``customer.subscription.deleted``)."""
        params = check(raw, _SUBSCRIPTION_CANCEL)
        self._flows.cancel(sub_id, at_period_end=False)
        return self.shown(self._store.get("subscription", sub_id), params)

    def pay_invoice(self, invoice_id: str, raw: Mapping[str, Any]) -> Obj:
        """``POST /v1/invoices/<id>/pay``: an open invoice is paid now, by card."""
        params = check(raw, _INVOICE_PAY)
        invoice = self._flows.pay_invoice(invoice_id, params.get("payment_method"))
        return self.shown(invoice, params)

    def create_refund(self, raw: Mapping[str, Any]) -> Obj:
        """``POST /v1/refunds`` of a ``charge`` or a ``payment_intent`` (its latest charge)."""
        params = check(raw, _REFUND)
        charge_id = params.get("charge")
        if charge_id is None and "payment_intent" in params:
            intent = self._store.get("payment_intent", params["payment_intent"], "payment_intent")
            charge_id = intent["latest_charge"]
        if charge_id is None:
            raise missing("charge")
        refund = self._flows.refund(
            charge_id, params.get("amount"), params.get("reason"), params.get("metadata")
        )
        return self.shown(refund, params)


def _check_currency(customer: Obj, price: Obj, mode: str) -> None:
    """A Stripe customer bills in one currency once it has a subscription."""
    if mode == "subscription" and customer["currency"] not in (None, price["currency"]):
        raise invalid(
            "You cannot combine currencies on a single customer. This customer has an active "
            "subscription, subscription schedule, discount, quote, or invoice item with "
            f"currency {customer['currency']}.",
            param="line_items[0][price]",
        )


def _lines(session_id: str, item: Obj) -> Obj:
    return {
        "object": "list",
        "data": [item],
        "has_more": False,
        "url": f"/v1/checkout/sessions/{session_id}/line_items",
    }
