"""Signed events whose object is not in Stripe's shape: recorded ``malformed`` once, never a
crash that SQS retries into the dead-letter queue, never a grant.

The property takes, for every event type the engine handles, an object built from Stripe's
fixtures and puts junk of any JSON type (nested too) at any place in it, a field or a list
element, any number of times. Whatever it becomes, applying it returns an outcome; what the
shape check refuses changes no entitlement; what it lets through is read like any payload.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import wiring
from billing.adapters.dynamo.models import EntitlementModel, StripeObjectModel, WebhookEventModel
from billing.domain.stripe_shapes import object_problem
from billing.domain.tenancy import Price
from billing.services import engine, tenancy
from billing.services.engine import Outcome
from tests.support import stripe_events as se
from tests.support.stripe_timeline import FakeStripe

T0 = 1_790_000_000
NOW = datetime.fromtimestamp(T0 + 60, UTC)
PERIOD_END = T0 + 30 * 86_400

# An object of the kind each handled event type carries, in the current API shape.
KINDS: dict[str, Callable[[], dict[str, Any]]] = {
    "customer.subscription": lambda: se.subscription(period_end=PERIOD_END),
    "invoice": lambda: se.invoice(period_end=PERIOD_END),
    "checkout.session": se.checkout_session,
    "payment_intent": se.payment_intent,
    "charge.refunded": lambda: se.charge(amount_refunded=4900),
    "refund": se.refund,
    "charge.dispute": se.dispute,
}


def _object_for(event_type: str) -> dict[str, Any]:
    """A fresh copy: the builders share some values (the owner's metadata) between objects."""
    for prefix, build in KINDS.items():
        if event_type.startswith(prefix):
            return copy.deepcopy(build())
    raise AssertionError(f"no object for {event_type}")


HANDLED = sorted(engine.HANDLERS)

junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


def _places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value: each key of each object, each element of each array."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict | list):
        children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in children:
            found.append((*path, key))
            found.extend(_places(child, (*path, key)))
    return found


def _put(obj: dict[str, Any], place: tuple[Any, ...], value: Any) -> None:
    target: Any = obj
    for key in place[:-1]:
        target = target[key]
    target[place[-1]] = value


@pytest.fixture
def ledger(aws: dict[str, str]) -> Any:
    tenancy.create_project(wiring.project_store(), name="space_journal", project_id=1, now=NOW)
    prices = wiring.price_store()
    prices.put(Price("price_pro", "1", ("pro",), 900, "usd", "month"))
    prices.put(Price("price_life", "1", ("lifetime",), 4900, "usd", "one_time"))
    return wiring.billing_ledger()


def _record_version() -> int | None:
    try:
        return int(EntitlementModel.get("1#user_42").version)
    except EntitlementModel.DoesNotExist:
        return None


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(event_type=st.sampled_from(HANDLED), data=st.data())
def test_junk_anywhere_in_a_signed_object_is_an_outcome_never_a_crash(
    ledger: Any, event_type: str, data: st.DataObject
) -> None:
    obj = _object_for(event_type)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="changes")):
        places = _places(obj)
        place = data.draw(st.sampled_from(places), label="place")
        _put(obj, place, data.draw(junk, label="junk"))
    event_id = f"evt_{uuid.uuid4().hex}"
    before = _record_version()

    outcome = engine.apply_event(se.event(event_type, obj, T0, event_id=event_id), ledger, NOW)

    assert isinstance(outcome, Outcome)
    assert WebhookEventModel.get(event_id).outcome == outcome.value or outcome is Outcome.APPLIED
    if object_problem(event_type, obj) is not None:
        assert outcome is Outcome.MALFORMED
        assert _record_version() == before


@pytest.mark.parametrize(
    ("event_type", "obj", "field"),
    [
        # What an outside probe sent: a crash in the consumer each time, then the DLQ.
        ("customer.subscription.created", {"id": "sub_w2", "items": "x"}, "data.object.items"),
        ("invoice.paid", {"id": "in_q4", "lines": 5}, "data.object.lines"),
        # Found by the property below: a null line crashed the read of the invoice's prices.
        ("invoice.paid", {"id": "in_q5", "lines": {"data": [None]}}, "data.object.lines.data[0]"),
        ("checkout.session.completed", {"id": "cs_1", "metadata": "x"}, "data.object.metadata"),
        # A subscription with no status is no ``incomplete`` one (it was counted as such).
        ("customer.subscription.created", {"id": "sub_x", "metadata": {}}, "data.object.status"),
        ("customer.subscription.updated", {"id": "sub_x", "status": "?"}, "data.object.status"),
        ("charge.refunded", {"id": "ch_1", "amount_refunded": True}, "data.object.amount_refunded"),
        ("refund.updated", {"id": 7}, "data.object.id"),
    ],
)
def test_each_malformed_object_is_recorded_once_naming_its_field(
    ledger: Any, event_type: str, obj: dict[str, Any], field: str
) -> None:
    problem = object_problem(event_type, obj)
    assert problem is not None and problem[0] == field
    raw = se.event(event_type, obj, T0)
    tally = engine.Tally()
    assert engine.apply_event(raw, ledger, NOW, tally=tally) is Outcome.MALFORMED
    assert tally.malformed == problem
    assert engine.apply_event(raw, ledger, NOW) is Outcome.DUPLICATE
    assert _record_version() is None


@pytest.mark.parametrize("event_type", HANDLED)
def test_stripes_own_objects_have_the_shape(event_type: str) -> None:
    """The check refuses nothing Stripe sends: its fixtures, in the current and older shapes."""
    assert object_problem(event_type, _object_for(event_type)) is None
    legacy = se.subscription(period_end=PERIOD_END, legacy=True)
    assert object_problem("customer.subscription.updated", legacy) is None
    assert object_problem("invoice.paid", se.invoice(period_end=PERIOD_END, legacy=True)) is None


def test_a_checkout_sessions_discounts_are_not_a_subscriptions(ledger: Any) -> None:
    """A Checkout Session lists its discounts as {coupon, promotion_code}, with no id (a free
    checkout with a coupon was refused as malformed, found over HTTP): a subscription's
    discount rules apply to subscriptions only."""
    session = se.checkout_session(payment_status="no_payment_required", amount=0)
    session.update(payment_intent=None, discounts=[{"coupon": "co_1", "promotion_code": None}])
    assert object_problem("checkout.session.completed", session) is None
    raw = se.event("checkout.session.completed", session, T0)
    assert engine.apply_event(raw, ledger, NOW) is Outcome.APPLIED
    sub = se.subscription(period_end=PERIOD_END, discounts=[{"coupon": "co_1"}])
    assert object_problem("customer.subscription.updated", sub) == (
        "data.object.discounts[0]",
        "must be an id or an object with a string id",
    )


@pytest.mark.parametrize("created", [0, 4_102_444_800], ids=["1970", "2100"])
def test_an_event_dated_where_stripe_cannot_is_read_from_stripe_and_freezes_nothing(
    ledger: Any, created: int
) -> None:
    """An outside probe's signed update dated 2100 became the subscription's version, so the
    real cancellation after it was stale and access stayed; one dated 1970 would date the
    subscription's history back to then. Its date cannot be a version: Stripe is read (the
    read is the version), and the real cancellation after it applies."""
    subscribed = se.event("customer.subscription.created", se.subscription(), T0)
    assert engine.apply_event(subscribed, ledger, NOW) is Outcome.APPLIED
    stripe = FakeStripe(now=T0 + 10)
    stripe.put(se.subscription())  # what Stripe says: still active
    odd = se.event("customer.subscription.updated", se.subscription(status="past_due"), created)
    tally = engine.Tally()
    outcome = engine.apply_event(odd, ledger, NOW, lambda: stripe, tally)
    # Stripe's state (active, as of its read), not the payload's past_due dated 1970 or 2100.
    assert (outcome, tally.stripe_reads, stripe.calls) == (Outcome.APPLIED, 1, ["subscription"])
    assert StripeObjectModel.get("sub_1").version == T0 + 10
    canceled = se.subscription(status="canceled")
    deleted = se.event("customer.subscription.deleted", canceled, T0 + 30)
    assert engine.apply_event(deleted, ledger, NOW) is Outcome.APPLIED
    record = EntitlementModel.get("1#user_42")
    assert [(s.feature_code, s.in_force) for s in record.sources] == [("pro", False)]


def test_an_undated_event_about_an_object_stripe_does_not_have_grants_nothing(
    ledger: Any,
) -> None:
    forged = se.event("customer.subscription.created", se.subscription("sub_x"), 4_102_444_800)
    stripe = FakeStripe(now=T0)
    assert engine.apply_event(forged, ledger, NOW, lambda: stripe) is Outcome.UNKNOWN_OBJECT
    assert _record_version() is None


def test_an_event_a_little_ahead_of_the_consumers_clock_is_applied(ledger: Any) -> None:
    """Clocks differ: up to the signature's tolerance (5 minutes) ahead is still Stripe's."""
    ahead = int(NOW.timestamp()) + 299
    raw = se.event("customer.subscription.created", se.subscription(), ahead)
    assert engine.apply_event(raw, ledger, NOW) is Outcome.APPLIED
