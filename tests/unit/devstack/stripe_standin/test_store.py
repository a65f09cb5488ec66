"""The store's list pages against a brute-force reading of the whole store, and its journal.

The store keeps each kind's ids in creation order with every id's place, so a page reads only
what it returns and what its filters skip. These tests build a mixed store (several kinds
interleaved, replaced objects, a rolled-back request) and compare every page, forwards and
backwards, under Stripe's filters, with what a scan of every object gives.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from billing_devstack.stripe_standin.errors import StripeError
from billing_devstack.stripe_standin.filters import list_filters
from billing_devstack.stripe_standin.store import Obj, Store, copy_json, new_ids

START = 1_767_225_600
KINDS = ("customer", "subscription", "invoice", "event")
STATUSES = {
    "customer": ("-",),
    "subscription": ("active", "canceled", "past_due", "trialing"),
    "invoice": ("paid", "open", "void"),
    "event": ("-",),
}
PREFIXES = {"customer": "cus", "subscription": "sub", "invoice": "in", "event": "evt"}
# kind -> list parameters to page with (decoded, as the API hands them to list_filters).
QUERIES: dict[str, list[dict[str, Any]]] = {
    "subscription": [
        {},
        {"status": "all"},
        {"status": "active"},
        {"status": "ended"},
        {"status": "all", "created": {"gte": START + 50}},
        {"customer": "cus_hot"},
    ],
    "invoice": [
        {},
        {"status": "paid"},
        {"status": "paid", "created": {"gte": START + 100}},
        {"created": {"lt": START + 20}},
    ],
    "customer": [{}, {"created": {"gt": START + 150, "lte": START + 160}}],
    "event": [{}],
}


def build(seed: int = 7, count: int = 400) -> tuple[Store, list[Obj]]:
    """A store of ``count`` objects of mixed kinds; also every object in creation order."""
    rng = random.Random(seed)  # noqa: S311 - a repeatable mix of objects, no secret
    store, created = Store(), []
    for number in range(count):
        kind = rng.choice(KINDS)
        obj = {
            "id": f"{PREFIXES[kind]}_{number:05d}",
            "object": kind,
            "created": START + rng.randrange(200),
            "status": rng.choice(STATUSES[kind]),
            "customer": rng.choice(("cus_hot", "cus_cold")),
        }
        created.append(store.put(obj))
    return store, created


def expected(
    created: list[Obj], kind: str, params: dict[str, Any], after: str | None, before: str | None
) -> tuple[list[str], bool]:
    """A page by brute force: every object of the kind, newest first, filtered, cut at the
    cursor's place (the cursor object itself need not pass the filters, as at Stripe)."""
    limit = int(params.get("limit", 10))
    newest = [obj for obj in reversed(created) if obj["object"] == kind]
    ids = [obj["id"] for obj in newest]
    filters = list_filters(kind, params)

    def kept(objs: list[Obj]) -> list[str]:
        return [obj["id"] for obj in objs if all(keep(obj) for keep in filters)]

    if after is not None:
        window = kept(newest[ids.index(after) + 1 :])
        return window[:limit], len(window) > limit
    if before is not None:
        window = kept(newest[: ids.index(before)])
        return window[-limit:], len(window) > limit
    window = kept(newest)
    return window[:limit], len(window) > limit


def page(store: Store, kind: str, params: dict[str, Any]) -> tuple[list[str], bool]:
    listed = store.page(kind, "/v1/x", params, list_filters(kind, params))
    return [obj["id"] for obj in listed["data"]], listed["has_more"]


def cases() -> Iterator[tuple[str, dict[str, Any]]]:
    for kind, queries in QUERIES.items():
        for query in queries:
            yield kind, query


@pytest.mark.parametrize(("kind", "query"), list(cases()))
@pytest.mark.parametrize("limit", [1, 3, 10, 100])
def test_paging_through_everything_matches_a_brute_force_scan(
    kind: str, query: dict[str, Any], limit: int
) -> None:
    store, created = build()
    params = {**query, "limit": limit}
    forward: list[str] = []
    cursor: str | None = None
    while True:
        cursor_params = params if cursor is None else {**params, "starting_after": cursor}
        ids, has_more = page(store, kind, cursor_params)
        assert (ids, has_more) == expected(created, kind, params, cursor, None)
        forward += ids
        if not has_more:
            break
        cursor = ids[-1]
    everything, _ = expected(created, kind, {**params, "limit": len(created)}, None, None)
    assert forward == everything
    backward: list[str] = []
    if everything:  # and back again, from the oldest, with ending_before
        backward, cursor = [everything[-1]], everything[-1]
        while True:
            ids, has_more = page(store, kind, {**params, "ending_before": cursor})
            assert (ids, has_more) == expected(created, kind, params, None, cursor)
            backward = ids + backward
            if not has_more:
                break
            cursor = ids[0]
    assert backward == everything


@pytest.mark.parametrize(("kind", "query"), list(cases()))
def test_every_object_as_either_cursor_matches_a_brute_force_scan(
    kind: str, query: dict[str, Any]
) -> None:
    store, created = build(seed=11, count=250)
    params = {**query, "limit": 4}
    for obj in created:
        if obj["object"] != kind:
            continue
        for side in ("starting_after", "ending_before"):
            after = obj["id"] if side == "starting_after" else None
            before = obj["id"] if side == "ending_before" else None
            got = page(store, kind, {**params, side: obj["id"]})
            assert got == expected(created, kind, params, after, before), (side, obj)


def test_a_cursor_the_filters_drop_still_marks_the_place() -> None:
    store = Store()
    for number, status in enumerate(["active", "active", "canceled", "active", "active"]):
        store.put({"id": f"sub_{number}", "object": "subscription", "status": status})
    assert page(store, "subscription", {"starting_after": "sub_2"}) == (["sub_1", "sub_0"], False)
    assert page(store, "subscription", {"ending_before": "sub_2"}) == (["sub_4", "sub_3"], False)
    assert page(store, "subscription", {"ending_before": "sub_2", "limit": 1}) == (
        ["sub_3"],
        True,
    )


def test_an_unknown_cursor_or_one_of_another_kind_is_stripes_error() -> None:
    store, _ = build()
    for cursor, param in (("sub_nope", "starting_after"), ("cus_00000", "ending_before")):
        with pytest.raises(StripeError) as refused:
            store.page("subscription", "/v1/x", {param: cursor})
        assert (refused.value.status, refused.value.code, refused.value.param) == (
            400,
            "resource_missing",
            param,
        )
        assert refused.value.message == f"No such subscription: '{cursor}'"


def test_a_replaced_object_keeps_its_place() -> None:
    store, created = build()
    sub = next(obj for obj in created if obj["object"] == "subscription")
    store.put({**sub, "status": "unpaid"})
    ids = [obj["id"] for obj in store.of_kind("subscription")]
    assert ids == [obj["id"] for obj in created if obj["object"] == "subscription"]
    assert store.of_kind("subscription")[0]["status"] == "unpaid"


def test_an_id_keeps_its_kind() -> None:
    store = Store()
    store.put({"id": "prod_pro", "object": "product"})
    with pytest.raises(StripeError) as refused:
        store.put({"id": "prod_pro", "object": "price"})
    assert refused.value.code == "resource_already_exists"
    assert store.of_kind("price") == []


def test_a_rollback_takes_back_what_it_added_and_restores_what_it_changed() -> None:
    store, created = build()
    before, snapshot = page(store, "invoice", {"limit": 100}), copy_json(created)
    sub = next(obj for obj in created if obj["object"] == "subscription")
    status = sub["status"]
    store.begin()
    for number in range(5):
        store.put({"id": f"in_new{number}", "object": "invoice", "status": "paid", "created": 0})
        store.put({"id": f"cus_new{number}", "object": "customer", "created": 0})
    store.get("subscription", sub["id"])["status"] = "past_due"
    store.put({"id": "in_new0", "object": "invoice", "status": "void", "created": 0})  # again
    store.rollback()

    assert not store.has("in_new0")
    assert store.get("subscription", sub["id"])["status"] == status
    for kind in KINDS:
        assert store.of_kind(kind) == [obj for obj in snapshot if obj["object"] == kind]
        assert store.count(kind) == len(store.of_kind(kind))
    assert page(store, "invoice", {"limit": 100}) == before
    with pytest.raises(StripeError):
        store.page("invoice", "/v1/x", {"starting_after": "in_new1"})
    # The places freed are handed out again, in order.
    store.put({"id": "in_after", "object": "invoice", "status": "paid", "created": 0})
    assert page(store, "invoice", {"limit": 1}) == (["in_after"], True)
    newest_before = store.of_kind("invoice")[-2]["id"]
    assert page(store, "invoice", {"ending_before": newest_before}) == (["in_after"], False)
    assert page(store, "invoice", {"starting_after": "in_after", "limit": 1}) == (
        [newest_before],
        True,
    )


def test_a_committed_request_keeps_what_it_added() -> None:
    store = Store()
    store.begin()
    store.put({"id": "cus_1", "object": "customer"})
    store.commit()
    store.begin()
    store.put({"id": "cus_2", "object": "customer"})
    store.rollback()
    assert [obj["id"] for obj in store.of_kind("customer")] == ["cus_1"]


def test_pages_are_copies() -> None:
    store = Store()
    store.put({"id": "cus_1", "object": "customer", "metadata": {"a": "1"}})
    listed = store.page("customer", "/v1/customers", {})
    listed["data"][0]["metadata"]["a"] = "changed"
    assert store.get("customer", "cus_1")["metadata"] == {"a": "1"}


def test_bulk_ids_look_like_stripes_and_differ() -> None:
    ids = new_ids("sub", 5000)
    assert len(set(ids)) == 5000
    assert all(len(one) == len("sub_") + 24 and one[4:].isalnum() for one in ids)
    assert all(one.startswith("sub_") and one[4:].isascii() for one in ids)


def test_copy_json_copies_nested_containers() -> None:
    original: dict[str, Any] = {"a": [{"b": 1}, "c"], "d": None}
    copied = copy_json(original)
    assert copied == original
    assert copied["a"] is not original["a"]
    assert copied["a"][0] is not original["a"][0]
