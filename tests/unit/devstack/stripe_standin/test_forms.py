"""Stripe's form encoding decoded to nested values, and the schema checks on top of it."""

from __future__ import annotations

import pytest

from billing_devstack.stripe_standin.errors import StripeError
from billing_devstack.stripe_standin.forms import decode
from billing_devstack.stripe_standin.schema import INTEGER, METADATA, STRING, ListOf, check


def test_nested_keys_become_dicts_and_indexed_keys_lists() -> None:
    body = (
        "mode=subscription&metadata[project_id]=1&line_items[0][price]=price_123"
        "&line_items[0][quantity]=2&subscription_data[metadata][user_id]=u%201"
        "&expand[]=customer&expand[]=line_items"
    )
    assert decode(body) == {
        "mode": "subscription",
        "metadata": {"project_id": "1"},
        "line_items": [{"price": "price_123", "quantity": "2"}],
        "subscription_data": {"metadata": {"user_id": "u 1"}},
        "expand": ["customer", "line_items"],
    }


def test_the_sdks_indexed_arrays_keep_their_order_and_metadata_keys_stay_keys() -> None:
    assert decode("expand[1]=b&expand[0]=a&metadata[0]=zero") == {
        "expand": ["a", "b"],
        "metadata": {"0": "zero"},
    }


def test_a_key_used_as_value_and_hash_is_refused() -> None:
    with pytest.raises(StripeError) as refused:
        decode("metadata=x&metadata[a]=b")
    assert refused.value.param == "metadata[a]"


def test_unknown_nested_parameters_are_named_with_their_path() -> None:
    schema = {"subscription_data": {"metadata": METADATA}}
    with pytest.raises(StripeError) as refused:
        check(decode("subscription_data[metdata][a]=1"), schema)
    assert (refused.value.code, refused.value.param) == (
        "parameter_unknown",
        "subscription_data[metdata]",
    )
    assert refused.value.message == "Received unknown parameter: subscription_data[metdata]"


def test_values_are_typed_and_bad_integers_refused() -> None:
    schema = {"items": ListOf({"quantity": INTEGER, "price": STRING})}
    assert check(decode("items[0][quantity]=3&items[0][price]=p"), schema) == {
        "items": [{"quantity": 3, "price": "p"}]
    }
    with pytest.raises(StripeError) as refused:
        check(decode("items[0][quantity]=three"), schema)
    assert (refused.value.code, refused.value.param) == (
        "parameter_invalid_integer",
        "items[0][quantity]",
    )


def test_an_empty_string_cannot_unset_a_required_value() -> None:
    with pytest.raises(StripeError) as refused:
        check(decode("customer="), {"customer": STRING})
    assert refused.value.code == "parameter_invalid_empty"
