"""The entitlement cache: hits within the TTL, ETag revalidation after it, invalidation on
grant and revoke, a bounded size, and no stale answer stored over an invalidation."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from billing_client import EntitlementCache, ForbiddenError, NotFoundError
from billing_client.cache import CacheKey, Fetched
from tests.unit.client.fakes import FakeClock, answer, harness, query_of

PRO = {
    "feature_code": "pro",
    "active": True,
    "source": "subscription",
    "source_id": "sub_1",
    "valid_from": "2026-01-01T00:00:00Z",
    "valid_to": None,
}
TEAM = {**PRO, "feature_code": "team", "source_id": "sub_2"}
GRANTED = {
    "project_id": "1",
    "user_id": "user_1",
    "feature_code": "beta",
    "active": True,
    "source": "manual",
    "source_id": "grant_1",
    "valid_from": "2026-01-01T00:00:00Z",
    "valid_to": None,
    "granted_by": "support",
    "reason": "early access",
    "created": True,
}


def listing(*items: dict[str, Any], etag: str = '"v1"') -> Any:
    return answer(200, {"entitlements": list(items)}, etag=etag)


def checked(active: bool, etag: str = '"c1"') -> Any:
    return answer(200, {"feature_code": "pro", "active": active, "valid_to": None}, etag=etag)


def test_within_the_ttl_a_second_read_costs_no_request() -> None:
    h = harness(listing(PRO), entitlement_cache_ttl=2.0)

    first = h.client.entitlements(user_id="user_1", project_id=1)
    h.clock.advance(1.9)
    second = h.client.entitlements(user_id="user_1", project_id="1")

    assert [e.feature_code for e in second] == ["pro"]
    assert second == first
    assert len(h.transport.requests) == 1
    assert "If-None-Match" not in h.transport.requests[0].headers


def test_after_the_ttl_the_answer_is_revalidated_and_a_304_keeps_it_for_another_ttl() -> None:
    h = harness(listing(PRO, etag='"v1"'), answer(304, etag='"v1"'), entitlement_cache_ttl=2.0)

    h.client.entitlements(user_id="user_1", project_id=1)
    h.clock.advance(2.0)
    revalidated = h.client.entitlements(user_id="user_1", project_id=1)
    h.clock.advance(1.0)
    again = h.client.entitlements(user_id="user_1", project_id=1)

    assert [e.feature_code for e in revalidated] == [e.feature_code for e in again] == ["pro"]
    assert len(h.transport.requests) == 2
    assert h.transport.requests[1].headers["If-None-Match"] == '"v1"'


def test_a_changed_answer_replaces_the_cached_one_with_its_new_etag() -> None:
    h = harness(
        listing(PRO, etag='"v1"'),
        listing(PRO, TEAM, etag='"v2"'),
        answer(304, etag='"v2"'),
        entitlement_cache_ttl=1.0,
    )

    h.client.entitlements(user_id="user_1", project_id=1)
    h.clock.advance(1.5)
    changed = h.client.entitlements(user_id="user_1", project_id=1)
    h.clock.advance(1.5)
    h.client.entitlements(user_id="user_1", project_id=1)

    assert [e.feature_code for e in changed] == ["pro", "team"]
    assert h.transport.requests[2].headers["If-None-Match"] == '"v2"'


def test_checks_are_cached_per_feature_and_apart_from_the_list() -> None:
    h = harness(
        checked(True),
        answer(200, {"feature_code": "team", "active": False, "valid_to": None}),
        listing(PRO),
        entitlement_cache_ttl=5.0,
    )

    pro = h.client.check_entitlement(user_id="user_1", project_id=1, feature_code="pro")
    team = h.client.check_entitlement(user_id="user_1", project_id=1, feature_code="team")
    h.client.entitlements(user_id="user_1", project_id=1)
    pro_again = h.client.check_entitlement(user_id="user_1", project_id=1, feature_code="pro")

    assert (pro.active, team.active, pro_again.active) == (True, False, True)
    assert [query_of(r).get("feature_code") for r in h.transport.requests] == [
        "pro",
        "team",
        None,
    ]


def test_a_grant_through_the_client_forgets_that_users_answers_only() -> None:
    h = harness(
        checked(False),
        listing(),
        listing(PRO),  # another user
        answer(201, GRANTED),
        checked(True, etag='"c2"'),
        listing({**PRO, "feature_code": "beta", "source": "manual"}),
        entitlement_cache_ttl=60.0,
    )
    h.client.check_entitlement(user_id="user_1", project_id=1, feature_code="pro")
    h.client.entitlements(user_id="user_1", project_id=1)
    h.client.entitlements(user_id="user_2", project_id=1)

    h.client.grant(
        user_id="user_1", project_id="1", feature_code="beta", granted_by="s", reason="r"
    )
    after_check = h.client.check_entitlement(user_id="user_1", project_id=1, feature_code="pro")
    after_list = h.client.entitlements(user_id="user_1", project_id=1)
    other = h.client.entitlements(user_id="user_2", project_id=1)

    assert after_check.active is True
    assert [e.feature_code for e in after_list] == ["beta"]
    assert [e.feature_code for e in other] == ["pro"]
    assert len(h.transport.requests) == 6
    assert "If-None-Match" not in h.transport.requests[4].headers  # forgotten, not revalidated


def test_a_revoke_that_fails_still_forgets_the_users_answers() -> None:
    h = harness(
        checked(True),
        answer(404, {"message": "no active grant of pro for this user"}),
        checked(False, etag='"c2"'),
        entitlement_cache_ttl=60.0,
    )
    h.client.check_entitlement(user_id="user_1", project_id=1, feature_code="pro")

    with pytest.raises(NotFoundError):
        h.client.revoke(
            user_id="user_1", project_id=1, feature_code="pro", revoked_by="s", reason="r"
        )

    assert not h.client.check_entitlement(user_id="user_1", project_id=1, feature_code="pro").active


def test_invalidate_forgets_a_user_whatever_form_the_project_id_takes() -> None:
    h = harness(listing(PRO), listing(), entitlement_cache_ttl=60.0)
    h.client.entitlements(user_id="user_1", project_id="01")

    h.client.invalidate(project_id=1, user_id="user_1")

    assert h.client.entitlements(user_id="user_1", project_id=1) == []
    assert len(h.transport.requests) == 2


def test_without_a_ttl_every_read_asks_the_service_without_an_etag() -> None:
    h = harness(listing(PRO), listing(PRO))

    h.client.entitlements(user_id="user_1", project_id=1)
    h.client.entitlements(user_id="user_1", project_id=1)
    h.client.invalidate(project_id=1, user_id="user_1")  # harmless without a cache

    assert len(h.transport.requests) == 2
    assert all("If-None-Match" not in r.headers for r in h.transport.requests)


def test_the_list_handed_out_is_the_callers_to_change() -> None:
    h = harness(listing(PRO), entitlement_cache_ttl=60.0)

    mine = h.client.entitlements(user_id="user_1", project_id=1)
    mine.clear()

    assert len(h.client.entitlements(user_id="user_1", project_id=1)) == 1


def test_a_failed_revalidation_raises_and_keeps_the_stale_answer_for_next_time() -> None:
    h = harness(
        listing(PRO, etag='"v1"'),
        answer(403, {"message": "Project ID does not match"}),
        answer(304, etag='"v1"'),
        entitlement_cache_ttl=1.0,
        max_retries=0,
    )
    h.client.entitlements(user_id="user_1", project_id=1)
    h.clock.advance(2)

    with pytest.raises(ForbiddenError):
        h.client.entitlements(user_id="user_1", project_id=1)
    kept = h.client.entitlements(user_id="user_1", project_id=1)

    assert [e.feature_code for e in kept] == ["pro"]
    assert h.transport.requests[2].headers["If-None-Match"] == '"v1"'


# ---------------------------------------------------------------------- the cache itself
def fresh(value: str, etag: str | None = None) -> Any:
    return lambda _etag: Fetched(value, etag)


def test_the_oldest_entry_is_evicted_beyond_the_bound() -> None:
    cache: EntitlementCache[str] = EntitlementCache(60, max_entries=2, clock=FakeClock())
    for user in ("a", "b", "c"):
        cache.get(CacheKey("1", user), fresh(user))

    assert len(cache) == 2
    assert CacheKey("1", "a") not in cache
    assert CacheKey("1", "c") in cache


def test_an_answer_fetched_across_an_invalidation_is_not_stored() -> None:
    cache: EntitlementCache[str] = EntitlementCache(60, clock=FakeClock())
    key = CacheKey("1", "user_1")

    def fetch_while_a_grant_lands(etag: str | None) -> Fetched[str]:
        cache.invalidate("1", "user_1")  # the grant's invalidation, on another thread
        return Fetched("read before the grant", '"old"')

    assert cache.get(key, fetch_while_a_grant_lands) == "read before the grant"
    assert key not in cache
    assert cache.get(key, fresh("after the grant")) == "after the grant"


def test_a_304_to_a_request_without_an_etag_is_refused() -> None:
    cache: EntitlementCache[str] = EntitlementCache(60, clock=FakeClock())
    with pytest.raises(ValueError, match="304"):
        cache.get(CacheKey("1", "u"), lambda etag: Fetched(None, '"x"'))


@pytest.mark.parametrize(("ttl", "size"), [(-1, 10), (1, 0)])
def test_a_negative_ttl_or_an_empty_bound_is_refused(ttl: float, size: int) -> None:
    with pytest.raises(ValueError, match="entitlement cache"):
        EntitlementCache(ttl, max_entries=size, clock=FakeClock())


def test_threads_reading_and_invalidating_together_keep_the_bound() -> None:
    cache: EntitlementCache[str] = EntitlementCache(0.0, max_entries=16, clock=FakeClock())
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(300):
                user = f"user_{(worker * 7 + i) % 40}"
                assert cache.get(CacheKey("1", user), fresh(user, '"e"')) == user
                if i % 10 == 0:
                    cache.invalidate("1", user)
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(cache) <= 16
