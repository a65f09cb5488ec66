"""The engine's one-round-trip read of the ledger, on moto: every table it spans, and more
keys than one BatchGetItem takes."""

from __future__ import annotations

from datetime import UTC, datetime

from billing import wiring
from billing.adapters.dynamo.ledger import fact_item
from billing.domain.billing_facts import Owner, SubscriptionFact
from billing.domain.entitlement_rules import PriceTerms
from billing.domain.tenancy import Price, StripePriceTerms
from billing.services import tenancy

NOW = datetime(2026, 12, 1, tzinfo=UTC)
OWNER = Owner("1", "user_42")


def subscription(stripe_id: str) -> SubscriptionFact:
    return SubscriptionFact(
        stripe_id, OWNER, "cus_1", "active", ("price_pro",), 1, 2, False, None, None, 1
    )


def test_one_read_answers_the_mark_facts_record_project_and_prices(aws: dict[str, str]) -> None:
    tenancy.create_project(wiring.project_store(), name="p", project_id=1, now=NOW)
    tenancy.update_project(wiring.project_store(), 1, grace_period_days=5, now=NOW)
    wiring.price_store().put(Price("price_pro", "1", ("pro",), 900, "usd", "month"))
    fact_item(subscription("sub_1"), NOW).save()

    state = wiring.billing_ledger().read(
        event_id="evt_new",
        fact_ids=["sub_1", "sub_missing"],
        owner=OWNER,
        price_ids=["price_pro", "price_missing"],
    )

    assert not state.processed
    assert list(state.facts) == ["sub_1"]
    assert state.record == ([], 0)
    assert state.grace_days == 5
    assert state.prices == {
        "price_pro": PriceTerms(("pro",), None, "1", StripePriceTerms(900, "usd", "month"))
    }


def test_more_keys_than_one_batch_takes_are_read_in_several(aws: dict[str, str]) -> None:
    ids = [f"sub_{n:03d}" for n in range(150)]
    for stripe_id in ids:
        fact_item(subscription(stripe_id), NOW).save()
    state = wiring.billing_ledger().read(fact_ids=ids, price_ids=["price_a", "price_b"])
    assert sorted(state.facts) == ids
    assert state.record is None
