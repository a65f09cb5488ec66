"""Grants and revokes racing other writers of the same user's record: retried on fresh data
after a jittered backoff, never a lost update, dated when made again so the trail lists them
in commit order; a 503 (retry) only after MAX_ATTEMPTS."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing import wiring
from billing.domain.allowances import Allowance
from billing.domain.entitlements import EntitlementSource
from billing.domain.grants import AuditEntry, GrantRequest
from billing.errors import DependencyUnavailableError, ValidationError
from billing.ports.grants import GrantStore
from billing.services import grants, tenancy

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
REQUEST = GrantRequest("1", "user_42", "beta", "support@example.com", "pilot")


@dataclass
class Contended:
    """The real store, but another writer changes the record right before each of our first
    ``lost`` writes (it grants ``other_<n>``, dated n seconds after NOW, when it started), so
    they fail their condition."""

    store: GrantStore
    lost: int
    other: int = 0
    writes: list[bool] = field(default_factory=list)

    def read(self, project_id: str, user_id: str) -> tuple[list[EntitlementSource], int]:
        return self.store.read(project_id, user_id)

    def write(self, sources: list[EntitlementSource], version_read: int, entry: AuditEntry) -> bool:
        if self.other < self.lost:
            self.other += 1
            rival = GrantRequest("1", "user_42", f"other_{self.other}", "rival", "racing")
            started = NOW + timedelta(seconds=self.other)
            grants.grant(wiring.project_store(), self.store, rival, app_id="rival", now=started)
        written = self.store.write(sources, version_read, entry)
        self.writes.append(written)
        return written

    def audit(
        self, project_id: str, user_id: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        return self.store.audit(project_id, user_id, limit, cursor)


@pytest.fixture
def project(aws: dict[str, str]) -> None:
    tenancy.create_project(wiring.project_store(), name="space_journal", project_id=1, now=NOW)


def test_a_grant_that_loses_races_backs_off_and_keeps_every_rivals_change(project: None) -> None:
    contended = Contended(wiring.grant_store(), lost=grants.MAX_ATTEMPTS - 1)
    pauses: list[float] = []
    after, changed = grants.grant(
        wiring.project_store(),
        contended,
        REQUEST,
        app_id="app",
        now=NOW,
        pause=pauses.append,
        clock=lambda: NOW + timedelta(minutes=1),
    )
    assert (after.feature_code, changed) == ("beta", True)
    assert contended.writes == [False] * (grants.MAX_ATTEMPTS - 1) + [True]
    # One pause before each new attempt, each within its growing bound.
    assert len(pauses) == grants.MAX_ATTEMPTS - 1
    for attempt, pause in enumerate(pauses, start=1):
        assert 0 <= pause <= grants.BACKOFF_SECONDS * 2**attempt
    sources, _ = wiring.grant_store().read("1", "user_42")
    expected = {"beta"} | {f"other_{n}" for n in range(1, grants.MAX_ATTEMPTS)}
    assert {s.feature_code for s in sources} == expected
    entries, _ = wiring.grant_store().audit("1", "user_42", 100, None)
    # Newest first, in commit order: ours (dated when made again), then the rivals'.
    rivals = [f"other_{n}" for n in range(grants.MAX_ATTEMPTS - 1, 0, -1)]
    assert [e["feature_code"] for e in entries] == ["beta", *rivals]
    assert after.valid_from == NOW + timedelta(minutes=1)


def test_still_contended_after_every_attempt_is_503_and_writes_nothing_of_ours(
    project: None,
) -> None:
    grants.grant(wiring.project_store(), wiring.grant_store(), REQUEST, app_id="app", now=NOW)
    contended = Contended(wiring.grant_store(), lost=grants.MAX_ATTEMPTS)
    pauses: list[float] = []
    with pytest.raises(DependencyUnavailableError, match="changed concurrently"):
        grants.revoke(
            wiring.project_store(), contended, REQUEST, app_id="app", now=NOW, pause=pauses.append
        )
    assert contended.writes == [False] * grants.MAX_ATTEMPTS
    assert len(pauses) == grants.MAX_ATTEMPTS - 1
    entries, _ = wiring.grant_store().audit("1", "user_42", 100, None)
    assert [e["action"] for e in entries if e["feature_code"] == "beta"] == ["grant"]
    sources, _ = wiring.grant_store().read("1", "user_42")
    assert any(s.feature_code == "beta" and s.in_force for s in sources)


def test_a_grant_of_a_quantity_is_an_allowance_that_never_resets(project: None) -> None:
    store = wiring.grant_store()
    credits = GrantRequest(
        "1", "user_42", "api_calls", "support", "sorry", NOW + timedelta(days=30), quantity=1000
    )
    source, created = grants.grant(wiring.project_store(), store, credits, app_id="a", now=NOW)
    again, again_created = grants.grant(wiring.project_store(), store, credits, app_id="a", now=NOW)
    assert source.allowance == Allowance(1000, "never")
    assert (created, again_created, again) == (True, False, source)  # the same grant: one
    more = replace(credits, quantity=1500)
    replaced, changed = grants.grant(wiring.project_store(), store, more, app_id="a", now=NOW)
    assert changed and replaced.allowance == Allowance(1500, "never")
    (only,) = store.read("1", "user_42")[0]  # a new grant replaces, it does not add
    assert only.allowance == Allowance(1500, "never")


@pytest.mark.parametrize("quantity", [0, -1, 10**16])
def test_a_quantity_outside_1_to_the_largest_limit_is_refused_naming_it(
    project: None, quantity: int
) -> None:
    request = replace(REQUEST, quantity=quantity)
    with pytest.raises(ValidationError) as refused:
        grants.grant(wiring.project_store(), wiring.grant_store(), request, app_id="a", now=NOW)
    assert refused.value.field == "quantity"
    assert wiring.grant_store().read("1", "user_42") == ([], 0)
